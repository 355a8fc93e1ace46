"""Benchmark of merge (issue 4's target): 3 coders x 10,000 items x 40 codes, from session files.

Run: python benchmarks/run.py merge (or python benchmarks/bench_merge.py).

Setup makes three real session files through SessionStore (the items through create/add_items);
only the coders' labels are bulk-inserted into the labels and events tables, because recording
120,000 labels one committed keypress at a time would take minutes and measures nothing about
the merge. Then it measures:

- merge: the sessions -> merged.db (checks, every coder's codes and memos, automatic decisions),
  in-process, the figure the target is about;
- report: the agreement report on the merged file (every coefficient, per code, per round,
  at code and theme level);
- end to end: `annotator merge --format json` as a user runs it (a fresh process: imports,
  merge, report, printing).

These are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_ITEMS = 10_000
CODERS = ("ana", "ben", "chen")
THEMES = 8
SUBTHEMES = 4  # 8 themes + 32 sub-themes = 40 codes in the multi-label dimension
TARGET_SECONDS = 3.0


def codebook_yaml() -> str:
    keys = "abcdefghij"
    lines = ["name: Benchmark codebook", "dimensions:",
             "  - id: relevance", "    name: PTM-related?", "    kind: single", "    codes:",
             "      - {id: ptm, name: PTM-related, key: y}", "      - {id: not-ptm, name: Not PTM-related, key: n}",
             "  - id: challenge", "    name: Challenge", "    kind: multi", "    requires: {relevance: [ptm]}",
             "    codes:"]
    for t in range(1, THEMES + 1):
        lines += [f"      - id: theme{t}", f"        name: Theme {t}", f"        key: \"{t}\"", "        codes:"]
        for s in range(SUBTHEMES):
            lines.append(f"          - {{id: theme{t}.sub{s + 1}, name: Sub-theme {t}.{s + 1}, key: {keys[s]}}}")
    return "\n".join(lines) + "\n"


def make_items(n: int) -> list[dict]:
    body = ("Loading the checkpoint with from_pretrained fails after upgrading transformers; "
            "the tokenizer warns about a vocabulary mismatch. ") * 8
    return [{"id": f"bench/repo{i % 31}#{i}", "repo": f"bench/repo{i % 31}", "number": i,
             "title": f"Issue {i}: the model fails to load", "body": body, "state": "closed",
             "state_reason": "completed", "author": f"user{i % 97}", "labels": ["bug"],
             "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-02-01T00:00:00Z",
             "closed_at": "2024-02-01T00:00:00Z", "url": f"https://github.com/bench/repo/issues/{i}",
             "comments": [{"author": "maintainer", "created_at": "2024-01-02T00:00:00Z", "body": "Which version?"}],
             "comment_count": 1} for i in range(1, n + 1)]


def coder_labels(items: list[dict], coder: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """(item, dimension, code) with realistic disagreement: the same intended codes per item,
    each coder erring on about 15% of the items."""
    truth_rng = random.Random(seed)
    rng = random.Random(seed * 100 + coder)
    leaves = [f"theme{t}.sub{s}" for t in range(1, THEMES + 1) for s in range(1, SUBTHEMES + 1)]
    out = []
    for item in items:
        relevant = truth_rng.random() < 0.7
        intended = set(truth_rng.sample(leaves, truth_rng.choice((1, 1, 1, 2, 2, 3))))
        if rng.random() < 0.08:
            relevant = not relevant
        out.append((item["id"], "relevance", "ptm" if relevant else "not-ptm"))
        if not relevant:
            continue
        codes = set(intended)
        if rng.random() < 0.15:
            codes.add(rng.choice(leaves))
        if rng.random() < 0.05 and len(codes) > 1:
            codes.discard(min(codes))
        out += [(item["id"], "challenge", code) for code in sorted(codes)]
    return out


def make_study(folder: Path, n_items: int = N_ITEMS) -> Path:
    from annotator.coding.session import SessionStore, now
    from annotator.study import Study
    from annotator.codebook.model import parse_codebook

    study = Study.init(folder)
    study.taxonomy_path.write_text(codebook_yaml(), encoding="utf-8")
    codebook = parse_codebook(codebook_yaml())
    items = make_items(n_items)
    rounds = {item["id"]: ("calibration-1" if i < 100 else "calibration-2" if i < 200 else "main")
              for i, item in enumerate(items)}
    for index, coder in enumerate(CODERS):
        store = SessionStore.create(study.session_path(coder), coder=coder, codebook=codebook, items=items,
                                    rounds=rounds)
        try:
            at = now()
            labels = coder_labels(items, index)
            with store.db.atomic():  # setup only: what 120,000 keypresses would have written
                store.db.conn.executemany(
                    "insert into labels (item_id, dimension, code, coder, at, codebook_version) values (?, ?, ?, ?, ?, 1)",
                    [(i, d, c, coder, at) for i, d, c in labels])
                store.db.conn.executemany(
                    "insert into events (action, at, coder, item_id, kind, dimension, code, value, previous)"
                    " values (null, ?, ?, ?, 'code.add', ?, ?, '1', '0')",
                    [(at, coder, i, d, c) for i, d, c in labels])
                store.db.execute("update events set action = id where action is null")
        finally:
            store.close()
    return study.root


def _median_run(function, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"


def run(runs: int = 3, n_items: int = N_ITEMS) -> list[dict]:
    from annotator.agreement.merge import merge_sessions
    from annotator.agreement.report import agreement_report
    from annotator.study import Study

    folder = Path(tempfile.mkdtemp(prefix="annotator-bench-merge-"))
    try:
        root = make_study(folder / "study", n_items)
        study = Study(root)
        sessions = study.session_paths()
        label = f"{len(CODERS)} coders x {n_items:,} items x {THEMES * (SUBTHEMES + 1)} codes"

        def merge() -> None:
            merge_sessions(sessions, study.merged_path).close()

        merge()  # first run creates merged.db; the measured runs refresh it (keeping decisions)
        merge_median, merge_times = _median_run(merge, runs)

        from annotator.agreement.merge import MergedStore

        merged = MergedStore(study.merged_path, readonly=True)
        try:
            agreement_report(merged)  # warm: scikit-learn's import is counted in the end-to-end figure
            report_median, report_times = _median_run(lambda: agreement_report(merged), max(1, runs - 1))
        finally:
            merged.close()

        annotator = Path(sys.executable).parent / "annotator"
        command = [str(annotator) if annotator.exists() else "annotator", "merge", "--study", str(root),
                   "--format", "json"]

        def end_to_end() -> None:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        e2e_median, e2e_times = _median_run(end_to_end, max(1, runs - 1))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    target = f"<= {TARGET_SECONDS:g} s"
    return [
        {"name": f"merge sessions -> merged.db ({label})", "value": merge_median, "unit": "s",
         "spread": _spread(merge_times), "target": target, "ok": merge_median <= TARGET_SECONDS},
        {"name": f"agreement report ({label})", "value": report_median, "unit": "s",
         "spread": _spread(report_times), "target": target, "ok": report_median <= TARGET_SECONDS},
        {"name": f"annotator merge --format json, end to end ({label})", "value": e2e_median, "unit": "s",
         "spread": _spread(e2e_times), "target": target, "ok": e2e_median <= TARGET_SECONDS},
    ]


if __name__ == "__main__":
    items = int(sys.argv[1]) if len(sys.argv) > 1 else N_ITEMS
    for row in run(n_items=items):
        print(f"{row['name']}: {row['value']:.2f} {row['unit']} (spread {row['spread']}, target {row['target']}, "
              f"{'met' if row['ok'] else 'NOT met'})")
