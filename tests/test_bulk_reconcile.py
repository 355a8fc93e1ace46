"""Reconciliation at the study's scale: the open queue as CSV, decisions read back from it,
rules from the command line, and what the queue holds (annotator/agreement/queue.py,
annotator/agreement/reconcile.py), through the real CLI and real SQLite files.

The small codebook: relevance yes/no (single-choice) and challenge (multi-label, asked when
relevance is yes): usage > usage.loading, usage.api; perf > perf.wrong.
"""

from __future__ import annotations

import csv
import io
import sqlite3

from click.testing import CliRunner
from fixtures.coders import code_session, make_items, make_study

from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.agreement.queue import open_queue
from annotator.agreement.report import agreement_report
from annotator.cli import cli


def iid(n: int) -> str:
    return f"octo/models#{n}"


def build(tmp_path, ana: dict, ben: dict, n: int):
    study = make_study(tmp_path / "study")
    items = make_items(n)
    code_session(study, "ana", items, {iid(k): v for k, v in ana.items()})
    code_session(study, "ben", items, {iid(k): v for k, v in ben.items()})
    merge_sessions(study.session_paths(), study.merged_path).close()
    return study


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def events(study) -> int:
    with sqlite3.connect(study.merged_path) as db:
        return db.execute("select count(*) from decision_events").fetchone()[0]


def read_csv(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def write_csv(path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_two_hundred_disagreements_settled_from_one_csv_in_one_command(tmp_path):
    n = 200
    study = build(tmp_path, {k: {"relevance": "yes", "challenge": ["usage.loading"]} for k in range(1, n + 1)},
                  {k: {"relevance": "yes", "challenge": ["usage.api"]} for k in range(1, n + 1)}, n)
    out = tmp_path / "queue.csv"
    result = run("reconcile", "--study", study.root, "--export", out)
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert len(rows) == n
    assert list(rows[0]) == ["item", "dimension", "reason", "codes:ana", "codes:ben", "title", "url",
                             "decision", "rationale"]
    assert rows[0]["codes:ana"] == "usage.loading" and rows[0]["codes:ben"] == "usage.api"
    assert rows[0]["url"] == "https://github.com/octo/models/issues/1" and rows[0]["reason"] == "disagreement"
    for number, row in enumerate(rows, start=1):
        # ids or exact names, ';' between codes
        row["decision"] = "usage.loading;API misuse" if number % 2 else "usage.api"
        row["rationale"] = f"read issue {number} again"
    write_csv(out, rows)

    result = run("reconcile", "--study", study.root, "--import", out, "--as", "carla")
    assert result.exit_code == 0, result.output
    assert f"{n} decisions recorded by carla" in result.output and "0 still need a decision" in result.output
    with MergedStore(study.merged_path, readonly=True) as merged:
        assert open_queue(merged) == []
        decision = merged.decision(iid(1), "challenge")
        assert decision["codes"] == {"usage.loading", "usage.api"}
        assert decision["decided_by"] == "carla" and decision["method"] == "csv:queue.csv"
        assert decision["rationale"] == "read issue 1 again" and decision["at"]
        assert merged.decision(iid(2), "challenge")["codes"] == {"usage.api"}
        report = agreement_report(merged)
    assert report["reconciliation"]["undecided"] == 0 and report["reconciliation"]["decided"] == n

    before = events(study)
    again = run("reconcile", "--study", study.root, "--import", out, "--as", "carla")
    assert again.exit_code == 0
    assert f"0 decisions recorded by carla, {n} already recorded" in again.output
    assert events(study) == before, "importing the same file twice changes nothing"


def test_a_bad_file_names_every_problem_with_its_line_and_writes_nothing(tmp_path):
    study = build(tmp_path, {1: {"relevance": "yes", "challenge": ["usage.loading"]}, 2: {"relevance": "yes", "challenge": ["perf.wrong"]}},
                  {1: {"relevance": "no"}, 2: {"relevance": "yes", "challenge": ["usage.api"]}}, 2)
    before = events(study)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "item,dimension,decision,rationale\n"
        f"{iid(1)},relevance,yes,fine\n"           # 2: good
        f"{iid(2)},challenge,usage.lodaing,typo\n"  # 3: unknown code, with a hint
        f"{iid(1)},relevance,yes;no,both\n"        # 4: duplicate of line 2
        f"octo/models#99,relevance,no,\n"           # 5: unknown item
        f"{iid(2)},relevance,yes;no,\n"             # 6: two codes in a single-choice dimension
        f"{iid(2)},scope,x,\n"                      # 7: unknown dimension
        f"{iid(1)},challenge,,a reason alone\n",    # 8: rationale without a decision
        encoding="utf-8")
    result = CliRunner().invoke(cli, ["reconcile", "--study", str(study.root), "--import", str(bad), "--as", "carla"])
    assert result.exit_code == 2
    text = result.output
    assert "6 problem(s); nothing was written" in text
    for line, words in [(3, "has no code 'usage.lodaing' (did you mean 'usage.loading'?)"),
                        (4, "already decided on line 2"), (5, "unknown item 'octo/models#99'"),
                        (6, "takes exactly one code, got 2"), (7, "unknown dimension 'scope'"),
                        (8, "a rationale without a decision")]:
        assert f"bad.csv:{line}: " in text and words in text, (line, words, text)
    assert "Traceback" not in text
    assert events(study) == before
    with MergedStore(study.merged_path, readonly=True) as merged:
        assert merged.decision(iid(1), "relevance") is None

    missing = tmp_path / "nocol.csv"
    missing.write_text("item,dimension\nx,y\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["reconcile", "--study", str(study.root), "--import", str(missing), "--as", "c"])
    assert result.exit_code == 2 and "nocol.csv:1: missing column(s) decision" in result.output


def test_rules_with_where_are_recorded_as_the_decisions_method(tmp_path):
    ana = {1: {"relevance": "yes", "challenge": ["usage.loading"]},
           2: {"relevance": "yes", "challenge": ["usage.loading"]},
           3: {"relevance": "yes", "challenge": ["usage.loading"]},
           4: {"relevance": "yes", "challenge": ["perf.wrong"]}}
    ben = {1: {"relevance": "yes", "challenge": ["usage.api"]},        # same theme
           2: {"relevance": "yes", "challenge": ["perf.wrong"]},       # another theme
           3: {"relevance": "no"},
           4: {"relevance": "yes", "challenge": ["perf.wrong"]}}
    study = build(tmp_path, ana, ben, 4)
    no_why = CliRunner().invoke(cli, ["reconcile", "--study", str(study.root), "--rule", "union", "--as", "c"])
    assert no_why.exit_code == 2 and "--why" in no_why.output

    dry = run("reconcile", "--study", study.root, "--rule", "union", "--where", "themes-agree", "--dry-run", "--as", "c")
    assert f"{iid(1)} challenge: usage.api;usage.loading" in dry.output and "1 would be decided" in dry.output
    assert iid(2) not in dry.output
    with MergedStore(study.merged_path, readonly=True) as merged:
        assert merged.decision(iid(1), "challenge") is None, "a dry run writes nothing"

    result = run("reconcile", "--study", study.root, "--rule", "union", "--where", "themes-agree",
                 "--where", "dimension=challenge", "--as", "carla", "--why", "same theme: keep both")
    assert result.exit_code == 0 and "1 decided by carla" in result.output
    result = run("reconcile", "--study", study.root, "--rule", "coder:ana", "--where", "dimension=relevance",
                 "--as", "carla", "--why", "ana read the whole thread")
    assert result.exit_code == 0, result.output
    with MergedStore(study.merged_path, readonly=True) as merged:
        first = merged.decision(iid(1), "challenge")
        assert first["codes"] == {"usage.loading", "usage.api"}
        assert first["method"] == "rule:union where themes-agree, dimension=challenge"
        assert first["decided_by"] == "carla" and first["rationale"] == "same theme: keep both"
        third = merged.decision(iid(3), "relevance")
        assert third["codes"] == {"yes"} and third["method"] == "rule:coder:ana where dimension=relevance"
        assert merged.decision(iid(2), "challenge") is None

    bad = CliRunner().invoke(cli, ["reconcile", "--study", str(study.root), "--rule", "coder:zoe", "--as", "c", "--why", "x"])
    assert bad.exit_code == 2 and "no coder 'zoe'" in bad.output
    bad = CliRunner().invoke(cli, ["reconcile", "--study", str(study.root), "--rule", "union", "--where", "colour=red",
                                   "--as", "c", "--why", "x"])
    assert bad.exit_code == 2 and "unknown filter 'colour'" in bad.output


def test_the_queue_holds_relevant_items_nobody_gave_a_challenge_and_single_coded_unclear(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(3)
    code_session(study, "ana", items[:2], {iid(1): {"relevance": "no"}, iid(2): {"relevance": "no"}})
    code_session(study, "ben", items, {iid(1): {"relevance": "no"}, iid(2): {"relevance": "no"},
                                       iid(3): {"relevance": "no"}})
    with merge_sessions(study.session_paths(), study.merged_path) as merged:
        assert open_queue(merged) == [], "everything agreed, and 'no' is not a code that always needs a look"
        reasons = [(n.unit.item_id, n.reason) for n in open_queue(merged, always_decide=("no",))]
        assert reasons == [(iid(3), "unclear")], "only ben coded item 3"
        # The reconciler reads item 1 again: it is relevant after all; nobody was asked its challenge.
        merged.decide(iid(1), "relevance", ["yes"], decided_by="carla", method="edited", rationale="PTM after all")
        queue = open_queue(merged)
        assert [(n.unit.item_id, n.unit.dimension, n.reason) for n in queue] == [(iid(1), "challenge", "no-codes")]
    out = tmp_path / "q.csv"
    assert run("reconcile", "--study", study.root, "--export", out).exit_code == 0
    rows = read_csv(out)
    assert [(r["item"], r["dimension"], r["reason"], r["codes:ana"]) for r in rows] == [(iid(1), "challenge", "no-codes", "")]
    rows[0]["decision"] = "perf.wrong"
    write_csv(out, rows)
    assert run("reconcile", "--study", study.root, "--import", out, "--as", "carla").exit_code == 0
    with MergedStore(study.merged_path, readonly=True) as merged:
        assert merged.final_labels()[iid(1)] == {"relevance": {"yes"}, "challenge": {"perf.wrong"}}
        assert open_queue(merged) == []
