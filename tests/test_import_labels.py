"""annotator import-labels: a CSV of labels made elsewhere becomes a session, or nothing at all."""

from __future__ import annotations

from click.testing import CliRunner

from annotator.cli import cli
from annotator.agreement.merge import merge_sessions
from annotator.agreement.report import agreement_report
from annotator.coding.session import SessionStore
from fixtures.coders import code_session, make_items, make_study


def setup(tmp_path):
    """A study whose items live in ana's session (no corpus.db), rounds included."""
    study = make_study(tmp_path / "study")
    items = make_items(4)
    rounds = {i["id"]: ("calibration-1" if i["number"] <= 2 else "main") for i in items}
    labels = {items[0]["id"]: {"relevance": "yes", "challenge": ["usage.loading"]},
              items[1]["id"]: {"relevance": "no"}, items[2]["id"]: {"relevance": "no"},
              items[3]["id"]: {"relevance": "yes", "challenge": ["perf.wrong"]}}
    code_session(study, "ana", items, labels, rounds=rounds)
    return study


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def files_in(folder):
    """The files in a folder, less SQLite's and the store's companions of a session file
    (-wal, -shm from reading it, .lock from writing it)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith((".db.lock", ".db-wal", ".db-shm")))


GOOD = """\ufeffitem,dimension,codes,memo
octo/models#1,relevance,yes,
octo/models#1,challenge,usage.loading; Wrong output,"A memo
over two lines, with a comma"
octo/models#2,relevance,no,
octo/models#3,relevance,yes,
octo/models#3,challenge,usage.api,
octo/models#4,relevance,yes,
octo/models#4,challenge,perf.wrong,
"""


def test_a_good_file_becomes_a_session_that_merges(tmp_path):
    study = setup(tmp_path)
    path = tmp_path / "ben.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = invoke("import-labels", path, "--coder", "ben", "--study", study.root)
    assert result.exit_code == 0, result.output
    assert "4 items, 8 codes, 1 memos for ben" in result.output
    with SessionStore(study.session_path("ben"), readonly=True) as ben:
        assert ben.coder == "ben"
        assert ben.labels_for("octo/models#1") == {"relevance": {"yes"}, "challenge": {"usage.loading", "perf.wrong"}}
        assert ben.memo("octo/models#1") == "A memo\nover two lines, with a comma"
        assert ben.item("octo/models#1")["round"] == "calibration-1"  # taken from the study's sessions
        assert ben.item("octo/models#3")["title"].startswith("Issue 3")
        assert ben.coded_ids() == {f"octo/models#{n}" for n in range(1, 5)}
    merged = merge_sessions(study.session_paths(), study.merged_path)
    report = agreement_report(merged)
    merged.close()
    assert [c["coder"] for c in report["coders"]] == ["ana", "ben"]
    assert report["dimensions"][0]["rounds"]["calibration-1"]["n_items_multi_coded"] == 2
    assert files_in(study.sessions_dir) == ["README.md", "ana.db", "ben.db"]


def test_every_problem_is_reported_with_its_line_and_nothing_is_written(tmp_path):
    study = setup(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text(
        "item,dimension,codes,memo\n"
        "octo/models#1,relevance,yes,\n"
        "octo/models#1,challenge,usage.lodaing,\n"      # 3: a typo
        "octo/models#99,relevance,no,\n"                # 4: unknown item
        "octo/models#2,relevance,yes;no,\n"             # 5: two codes in a single-choice dimension
        "octo/models#3,topic,x,\n"                      # 6: unknown dimension
        "octo/models#4,relevance,no,\n"
        "octo/models#4,challenge,perf.wrong,\n"         # 8: challenge while not relevant
        ",relevance,no,\n",                             # 9: no item
        encoding="utf-8")
    before = files_in(study.sessions_dir)
    result = invoke("import-labels", path, "--coder", "ben", "--study", study.root)
    assert result.exit_code == 2
    out = result.output
    assert "nothing was written" in out and "Traceback" not in out
    assert f"{path}:3: dimension 'challenge' has no code 'usage.lodaing' (did you mean 'usage.loading'?)" in out
    assert f"{path}:4: unknown item 'octo/models#99'" in out
    assert f"{path}:5: item octo/models#2: 'relevance' takes one code, got 2" in out
    assert f"{path}:6: unknown dimension 'topic'" in out
    assert f"{path}:8: item octo/models#4: 'challenge' is only coded when relevance is yes" in out
    assert f"{path}:9: no item id" in out
    lines = [int(line.split(":")[1]) for line in out.splitlines() if line.startswith(str(path) + ":")]
    assert lines == sorted(lines)
    assert files_in(study.sessions_dir) == before  # no session, no temporary file


def test_bad_files_and_refusals(tmp_path):
    study = setup(tmp_path)
    missing_column = tmp_path / "a.csv"
    missing_column.write_text("item,dimension,code\nocto/models#1,relevance,yes\n", encoding="utf-8")
    result = invoke("import-labels", missing_column, "--coder", "ben", "--study", study.root)
    assert result.exit_code == 2 and f"{missing_column}:1: missing column(s) codes" in result.output
    empty = tmp_path / "b.csv"
    empty.write_text("", encoding="utf-8")
    result = invoke("import-labels", empty, "--coder", "ben", "--study", study.root)
    assert result.exit_code == 2 and "empty" in result.output
    latin = tmp_path / "c.csv"
    latin.write_bytes("item,dimension,codes\nocto/models#1,relevance,yes\n\xe9\n".encode("latin-1"))
    result = invoke("import-labels", latin, "--coder", "ben", "--study", study.root)
    assert result.exit_code == 2 and "UTF-8" in result.output
    good = tmp_path / "d.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = invoke("import-labels", good, "--coder", "ana", "--study", study.root)
    assert result.exit_code == 2 and "already exists" in result.output
    result = invoke("import-labels", good, "--coder", "../evil", "--study", study.root)
    assert result.exit_code == 2
    result = invoke("import-labels", tmp_path / "nope.csv", "--coder", "ben", "--study", study.root)
    assert result.exit_code == 2 and "no such file" in result.output
    assert files_in(study.sessions_dir) == ["README.md", "ana.db"]


def test_unfinished_items_are_reported_and_round_column_wins(tmp_path):
    study = setup(tmp_path)
    path = tmp_path / "chen.csv"
    path.write_text("item,dimension,codes,round\n"
                    "octo/models#1,relevance,yes,pilot\n"
                    "octo/models#2,relevance,no,\n", encoding="utf-8")
    out = tmp_path / "elsewhere" / "chen.db"
    out.parent.mkdir()
    result = invoke("import-labels", path, "--coder", "chen", "--study", study.root, "--out", out)
    assert result.exit_code == 0, result.output
    assert "1 items lack a code" in result.output
    with SessionStore(out, readonly=True) as chen:
        assert chen.item("octo/models#1")["round"] == "pilot"
        assert chen.item("octo/models#2")["round"] == "calibration-1"
        assert not chen.is_coded("octo/models#1")  # relevant, but no challenge
