"""Two coders coding at once in one study folder while a merge runs: no lock error, no lost write."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.coding.session import SessionStore
from annotator.codebook.model import load_codebook
from drivers.core_support import DEFAULT_TAXONOMY, build_items

CODER = textwrap.dedent("""
    import sys
    from annotator.coding.session import SessionStore
    store = SessionStore(sys.argv[1])
    ids = store.item_ids()
    for n, item_id in enumerate(ids):
        store.record_label(item_id, "relevance", "ptm" if n % 3 else "not-ptm")
        store.record_view(item_id, 1.0)
    store.close()
    print("done", len(ids))
""")


def test_two_coders_and_a_merge_at_the_same_time(tmp_path):
    codebook = load_codebook(DEFAULT_TAXONOMY)
    items = build_items(300)
    paths = []
    for coder in ("ana", "ben"):
        path = tmp_path / "sessions" / f"{coder}.db"
        SessionStore.create(path, coder=coder, codebook=codebook, items=items).close()
        paths.append(path)
    coders = [subprocess.Popen([sys.executable, "-c", CODER, str(p)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for p in paths]
    expected = {item["id"]: ("ptm" if n % 3 else "not-ptm") for n, item in enumerate(items)}
    merges, seen = 0, {"ana": 0, "ben": 0}
    # Merge over and over while both coders write: every merge sees committed codes only (each
    # one the code the coder gave), and never fewer than the merge before.
    while any(c.poll() is None for c in coders) or merges == 0:
        merged = merge_sessions(paths, tmp_path / "merged.db")
        units = [u for u in merged.units() if u.dimension == "relevance"]
        merged.close()
        merges += 1
        for coder in ("ana", "ben"):
            coded = {u.item_id: u.codes[coder] for u in units if u.codes.get(coder)}
            assert all(codes == {expected[item_id]} for item_id, codes in coded.items())
            assert len(coded) >= seen[coder]
            seen[coder] = len(coded)
    for process in coders:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "locked" not in err and out.strip() == "done 300"
    assert merges >= 2
    merge_sessions(paths, tmp_path / "merged.db").close()
    with MergedStore(tmp_path / "merged.db", readonly=True) as merged:
        units = [u for u in merged.units() if u.dimension == "relevance"]
        # Items coded PTM-related still await their challenge codes: only the others are complete.
        assert len(units) == 100
        assert all(u.agreed for u in units if all(c is not None for c in u.codes.values()))
    for path in paths:
        with SessionStore(path, readonly=True) as session:
            assert len(session.all_labels()) == 300 and session.progress().coded == 100
            assert session.integrity_ok()
