"""A study in stages (study.yaml): screening of every sampled issue, then thematic coding of the
relevant ones, each stage with its own samples, rounds, sessions and merged file.

Real SQLite files throughout; commands through click's CliRunner.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.cli import cli
from annotator.codebook.model import load_codebook
from annotator.coding.session import SessionStore
from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.coding.stages import asked_codebook, default_study_text, load_stages, parse_stages
from annotator.study import Study

from tests.fixtures.coders import code_session, make_items, make_study

REPOS = ("octo/models", "acme/nlp", "deep/vision")


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def staged_study(tmp_path: Path, per_repo: int = 20) -> Study:
    """`annotator init` (the default codebook and two stages) and a corpus of three repositories."""
    root = tmp_path / "study"
    run("init", str(root))
    study = Study(root)
    with CorpusStore(study.corpus_path) as corpus:
        for repo in REPOS:
            corpus.upsert_items(make_items(per_repo, repo=repo), source="test")
    return study


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["item", "dimension", "codes", "memo", "round"])
        writer.writeheader()
        for row in rows:
            writer.writerow({"memo": "", "round": "", **row})
    return path


def session_items(path: Path) -> dict[str, str]:
    with SessionStore(path, readonly=True) as store:
        return dict(store.db.execute("select id, round from items").fetchall())


def screen(study: Study, coder: str, values: dict[str, str], tmp_path: Path) -> None:
    """The coder's screening codes, imported into their assigned session."""
    rows = [{"item": item, "dimension": "relevance", "codes": code} for item, code in values.items()]
    run("import-labels", str(write_csv(tmp_path / f"{coder}-screening.csv", rows)), "--coder", coder,
        "--study", str(study.root), "--stage", "screening")


# --- study.yaml ---------------------------------------------------------------------------------

def test_init_writes_two_stages_that_read_back(tmp_path):
    study = staged_study(tmp_path, per_repo=1)
    stages = load_stages(study)
    assert stages.declared and stages.ids == ["screening", "thematic"]
    screening, thematic = stages.stages
    assert screening.asks == ("relevance",) and not screening.of
    assert thematic.asks == ("challenge",) and thematic.of == ("final:relevance=ptm",)
    assert thematic.after == "screening" and stages.asking("relevance") is screening
    assert screening.session_path(study, "ana") == study.root / "sessions" / "screening" / "ana.db"
    assert thematic.merged_path(study) == study.root / "merged" / "thematic.db"


def test_a_study_without_study_yaml_is_one_stage_with_the_old_layout(tmp_path):
    study = make_study(tmp_path / "old")
    stages = load_stages(study)
    assert not stages.declared and len(stages) == 1
    only = stages.get(None)
    assert only.implicit and only.asks == ("relevance", "challenge")
    assert only.session_path(study, "ana") == study.root / "sessions" / "ana.db"
    assert only.merged_path(study) == study.root / "merged.db"
    with pytest.raises(UserError, match="declares no stages"):
        stages.get("screening")


def test_study_yaml_problems_are_reported_with_their_lines(tmp_path):
    codebook = load_codebook(Path("annotator/data/taxonomy.yaml"))
    text = ("stages:\n"
            "  - id: Screening\n"               # 2: not a folder name
            "    asks: [relevance, topic]\n"    # 3: unknown dimension
            "  - id: thematic\n"
            "    asks: [challenge]\n"           # 5: requires relevance, not selected by of
            "    after: nowhere\n"              # 6: not an earlier stage
            "    colour: blue\n")               # 7: unknown field
    with pytest.raises(UserError) as caught:
        parse_stages(text, "study.yaml", codebook)
    problems = caught.value.problems
    assert any(p.startswith("study.yaml:2:") and "id must be" in p for p in problems)
    assert any(p.startswith("study.yaml:3:") and "'topic'" in p for p in problems)
    assert any(p.startswith("study.yaml:6:") and "'nowhere'" in p for p in problems)
    assert any(p.startswith("study.yaml:7:") and "'colour'" in p for p in problems)
    assert any(p.startswith("study.yaml:5:") and "requires 'relevance'" in p for p in problems)


def test_of_must_name_an_earlier_stages_dimension_and_code(tmp_path):
    codebook = load_codebook(Path("annotator/data/taxonomy.yaml"))
    text = ("stages:\n  - id: screening\n    asks: [relevance]\n"
            "  - id: thematic\n    asks: [challenge]\n    of: \"final:relevance=maybe\"\n")
    with pytest.raises(UserError) as caught:
        parse_stages(text, "study.yaml", codebook)
    assert caught.value.problems == ["study.yaml:6: stage 'thematic': 'of': 'relevance' has no code 'maybe'"]
    one_stage = "stages:\n  - id: thematic\n    asks: [challenge]\n    of: \"final:relevance=ptm\"\n"
    with pytest.raises(UserError, match="first stage cannot select"):
        parse_stages(one_stage, "study.yaml", codebook)


def test_a_bad_study_yaml_stops_commands_with_exit_2_and_its_line(tmp_path):
    study = staged_study(tmp_path, per_repo=1)
    study.study_file.write_text("stages:\n  - id: screening\n    asks: [relevence]\n", encoding="utf-8")
    result = run("status", "--study", str(study.root), ok=False)
    assert result.exit_code == 2
    assert f"{study.study_file}:3: stage 'screening' asks 'relevence'" in result.output
    assert "Traceback" not in result.output


def test_default_study_text_follows_the_codebook(small_codebook):
    text = default_study_text(small_codebook)
    assert "asks: [relevance]" in text and 'of: "final:relevance=yes"' in text
    assert parse_stages(text, "study.yaml", small_codebook).ids == ["screening", "thematic"]


def test_asked_codebook_keeps_the_stages_dimensions_and_drops_requires_it_cannot_see(default_codebook):
    thematic = asked_codebook(default_codebook, ["challenge"])
    assert [d.id for d in thematic.dimensions] == ["challenge"]
    assert thematic.dimensions[0].requires == {} and thematic.dimensions[0].applies({})
    assert default_codebook.dimension("challenge").requires == {"relevance": ["ptm"]}  # unchanged
    assert asked_codebook(default_codebook, None) is default_codebook


# --- coded means coded for the stage ------------------------------------------------------------

def test_screening_counts_an_item_coded_once_it_has_a_relevance_code(tmp_path):
    """The issue's first finding: with the default codebook a PTM-related item counted as
    unfinished until it had challenge codes, so screening kappa was computed on the not-PTM
    items only (0.00 at 97 % agreement)."""
    study = staged_study(tmp_path)
    run("sample", "--study", str(study.root), "--stage", "screening", "--size", "20", "--seed", "3",
        "--name", "screen")
    run("assign", "screen", "--study", str(study.root), "--stage", "screening", "--coders", "ana,ben",
        "--rounds", "20")
    items = list(session_items(study.root / "sessions" / "screening" / "ana.db"))
    ana = {item: ("ptm" if i % 2 else "not-ptm") for i, item in enumerate(items)}
    ben = dict(ana)
    ben[items[0]] = "ptm"  # one disagreement
    screen(study, "ana", ana, tmp_path)
    screen(study, "ben", ben, tmp_path)
    with SessionStore(study.root / "sessions" / "screening" / "ana.db", readonly=True) as session:
        assert session.stage == "screening" and session.asks == ["relevance"]
        assert session.progress().coded == 20  # PTM-related items too, without challenge codes
    out = run("merge", "--study", str(study.root), "--stage", "screening", "--format", "json").output
    report = json.loads(out[out.index("{"):])
    relevance = next(d for d in report["dimensions"] if d["id"] == "relevance")
    entry = relevance["rounds"]["all"]
    assert entry["n_items_multi_coded"] == 20  # every screened item
    assert entry["codes"]["cohen"]["value"] == pytest.approx(0.9)  # 19/20 agree, marginals 10/10 vs 11/9
    assert [d["id"] for d in report["dimensions"]] == ["relevance"]
    assert (study.root / "merged" / "screening.db").is_file() and not (study.root / "merged.db").exists()


# --- each stage its own samples, rounds and sessions ---------------------------------------------

def _screen_and_reconcile(study: Study, tmp_path: Path, *, reconcile: bool = True) -> dict[str, str]:
    run("sample", "--study", str(study.root), "--stage", "screening", "--stratify", "repo", "--size", "30",
        "--seed", "7", "--name", "screen")
    run("assign", "screen", "--study", str(study.root), "--stage", "screening", "--coders", "ana,ben",
        "--rounds", "10,rest", "--overlap", "all,0.5")
    truth = {}
    for coder in ("ana", "ben"):
        items = session_items(study.root / "sessions" / "screening" / f"{coder}.db")
        values = {item: ("ptm" if int(item.split("#")[1]) % 3 == 0 else "not-ptm") for item in items}
        if coder == "ben":
            flip = sorted(values)[0]
            values[flip] = "ptm" if values[flip] == "not-ptm" else "not-ptm"
        truth.update(values if coder == "ana" else {})
        screen(study, coder, values, tmp_path)
    run("merge", "--study", str(study.root), "--stage", "screening")
    if reconcile:
        with MergedStore(study.root / "merged" / "screening.db") as merged:
            for unit in merged.queue():
                if merged.decision(unit.item_id, unit.dimension) is None:
                    merged.decide(unit.item_id, unit.dimension, [truth.get(unit.item_id, "ptm")],
                                  decided_by="lead", method="edited", rationale="test")
    return truth


def test_thematic_sample_waits_for_screening_then_draws_from_its_final_codes(tmp_path):
    study = staged_study(tmp_path)
    _screen_and_reconcile(study, tmp_path, reconcile=False)
    from annotator.analysis.status import stage_to_reconcile

    assert stage_to_reconcile(study).id == "screening"  # `reconcile` without --stage goes there
    refused = run("sample", "--study", str(study.root), "--stage", "thematic", "--all", ok=False)
    assert refused.exit_code == 2
    assert "disagreements on 'relevance' not reconciled" in refused.output and "--allow-undecided" in refused.output
    early = run("sample", "--study", str(study.root), "--stage", "thematic", "--all", "--allow-undecided",
                "--name", "early", "--seed", "1")
    assert "Stage thematic" in early.output
    with MergedStore(study.root / "merged" / "screening.db") as merged:
        for unit in merged.queue():
            merged.decide(unit.item_id, unit.dimension, ["ptm"], decided_by="lead", method="edited", rationale="t")
        relevant = {i for i, dims in merged.final_labels().items() if dims["relevance"] == {"ptm"}}
    import os
    import time

    ana = study.root / "sessions" / "screening" / "ana.db"
    later = time.time() + 5
    os.utime(ana, (later, later))  # ana went on coding after the merge
    stale = run("sample", "--study", str(study.root), "--stage", "thematic", "--all", ok=False)
    assert stale.exit_code == 2 and "changed after" in stale.output and "merge` for that stage again" in stale.output
    run("merge", "--study", str(study.root), "--stage", "screening")
    os.utime(study.root / "merged" / "screening.db", (later + 1, later + 1))
    run("sample", "--study", str(study.root), "--stage", "thematic", "--all", "--name", "themes", "--seed", "1")
    with CorpusStore(study.corpus_path) as corpus:
        members = {m["item_id"] for m in corpus.sample_members("themes")}
        assert corpus.sample_stages() == {"screen": "screening", "early": "thematic", "themes": "thematic"}
        assert corpus.sample("themes")["params"]["where"] == ["final:relevance=ptm"]
    assert members == relevant and len(relevant) > len({m for m in members} - relevant)


def test_assigning_a_later_stage_never_touches_the_earlier_ones_sessions_or_rounds(tmp_path):
    study = staged_study(tmp_path)
    _screen_and_reconcile(study, tmp_path)
    screening = study.root / "sessions" / "screening"
    before = {p.name: p.read_bytes() for p in screening.glob("*.db")}
    run("sample", "--study", str(study.root), "--stage", "thematic", "--all", "--name", "themes", "--seed", "1")
    refused = run("assign", "themes", "--study", str(study.root), "--stage", "screening", "--coders", "ana",
                  ok=False)
    assert refused.exit_code == 2 and "belongs to stage 'thematic'" in refused.output
    run("assign", "themes", "--study", str(study.root), "--stage", "thematic", "--coders", "ana,ben",
        "--rounds", "5,rest", "--overlap", "all,0.5")
    assert {p.name: p.read_bytes() for p in screening.glob("*.db")} == before
    thematic = session_items(study.root / "sessions" / "thematic" / "ana.db")
    assert set(thematic.values()) <= {"calibration-1", "main"}  # the stage's own round names
    with SessionStore(study.root / "sessions" / "thematic" / "ana.db", readonly=True) as session:
        assert session.stage == "thematic" and [d.id for d in session.asked_codebook.dimensions] == ["challenge"]
        some = next(iter(thematic))
        session_ids = set(thematic)
    # A second thematic sample in the same sessions gets round names of its own.
    with CorpusStore(study.corpus_path) as corpus:
        extra = [i for i in (f"{r}#{n}" for r in REPOS for n in range(1, 21)) if i not in session_ids][:4]
        corpus.create_sample("more", seed=1, rule="size", frame_size=4, params={}, stage="thematic",
                             members=[{"item_id": i, "stratum": "all"} for i in extra])
    run("assign", "more", "--study", str(study.root), "--stage", "thematic", "--coders", "ana,ben",
        "--rounds", "rest")
    rounds = session_items(study.root / "sessions" / "thematic" / "ana.db")
    assert {rounds[i] for i in extra} == {"calibration-1-2"} and rounds[some] in ("calibration-1", "main")
    assert {p.name: p.read_bytes() for p in screening.glob("*.db")} == before


def test_merge_refuses_sessions_of_different_stages(tmp_path):
    study = staged_study(tmp_path)
    _screen_and_reconcile(study, tmp_path)
    run("sample", "--study", str(study.root), "--stage", "thematic", "--all", "--name", "themes", "--seed", "1")
    run("assign", "themes", "--study", str(study.root), "--stage", "thematic", "--coders", "ana")
    with pytest.raises(UserError, match="different stages"):
        merge_sessions([study.root / "sessions" / "screening" / "ben.db",
                        study.root / "sessions" / "thematic" / "ana.db"], tmp_path / "mixed.db")
    result = run("merge", "--study", str(study.root), "--format", "json", ok=False)
    assert result.exit_code == 2 and "say which with --stage" in result.output
    both = run("merge", "--study", str(study.root))  # every stage with sessions, one after the other
    assert "Stage screening" in both.output and "Stage thematic" in both.output
    assert "PTM-related?" in both.output and "Challenge" in both.output
    assert (study.root / "merged" / "thematic.db").is_file()


def test_code_opens_the_stages_session_and_refuses_a_coder_without_items_there(tmp_path):
    from annotator.coding.open import open_coder_session

    study = staged_study(tmp_path)
    run("sample", "--study", str(study.root), "--stage", "screening", "--size", "6", "--name", "s", "--seed", "2")
    run("assign", "s", "--study", str(study.root), "--stage", "screening", "--coders", "ana")
    (study.root / "sessions" / "screening" / "ana.db").unlink()  # made again from the assignment
    with open_coder_session(study.root, "ana", None, "screening") as store:
        assert store.count_items() == 6 and store.stage == "screening"
    with pytest.raises(UserError, match="no items assigned in stage 'thematic'"):
        open_coder_session(study.root, "ana", None, "thematic")
    with open_coder_session(study.root, "ana", None, None) as store:  # the one stage with items left
        assert store.stage == "screening"
    with pytest.raises(UserError, match="zoe has nothing left to code in any stage: say which with --stage"):
        open_coder_session(study.root, "zoe", None, None)


# --- import-labels into an assigned session ------------------------------------------------------

def test_import_labels_adds_to_the_assigned_session_with_provenance_and_is_idempotent(tmp_path):
    study = staged_study(tmp_path)
    run("sample", "--study", str(study.root), "--stage", "screening", "--size", "8", "--name", "s", "--seed", "5")
    run("assign", "s", "--study", str(study.root), "--stage", "screening", "--coders", "ana,ben",
        "--rounds", "4,rest")
    path = study.root / "sessions" / "screening" / "ana.db"
    items = list(session_items(path))
    # Part coded in the terminal: a label, a flag, time spent.
    with SessionStore(path) as store:
        store.record_label(items[0], "relevance", "ptm")
        store.toggle_flag(items[1], "unsure")
        store.record_view(items[0], 30.0)
        typed = len(store.events())
    rows = [{"item": item, "dimension": "relevance", "codes": "not-ptm"} for item in items[1:]]
    rows[0]["memo"] = "from the spreadsheet"
    csv_path = write_csv(tmp_path / "rest.csv", rows)
    out = run("import-labels", str(csv_path), "--coder", "ana", "--study", str(study.root), "--stage",
              "screening").output
    assert "7 changed" in out
    with SessionStore(path, readonly=True) as store:
        assert store.progress().coded == 8
        assert store.labels_for(items[0]) == {"relevance": {"ptm"}}  # typed label kept
        assert store.flags_for(items[1]) == {"unsure"} and store.memo(items[1]) == "from the spreadsheet"
        events = store.events()
        sources = store.event_sources()
        assert len(events) == typed + 8  # 7 codes and a memo
        assert [sources.get(e["id"]) for e in events[:typed]] == [None] * typed
        assert {sources[e["id"]] for e in events[typed:]} == {f"import {csv_path}"}
        assert store.db.execute("select seconds from time_spent where item_id = ?", [items[0]]).fetchone()[0] == 30.0
        rounds = dict(store.db.execute("select id, round from items").fetchall())
    again = run("import-labels", str(csv_path), "--coder", "ana", "--study", str(study.root), "--stage",
                "screening").output
    assert "0 changed (0 events" in again
    with SessionStore(path, readonly=True) as store:
        assert len(store.events()) == typed + 8
        assert dict(store.db.execute("select id, round from items").fetchall()) == rounds


def test_import_labels_refuses_unassigned_items_other_stages_and_other_rounds_by_line(tmp_path):
    study = staged_study(tmp_path)
    run("sample", "--study", str(study.root), "--stage", "screening", "--size", "8", "--name", "s", "--seed", "5")
    run("assign", "s", "--study", str(study.root), "--stage", "screening", "--coders", "ana",
        "--rounds", "4,rest")
    path = study.root / "sessions" / "screening" / "ana.db"
    rounds = session_items(path)
    mine = sorted(rounds)
    stranger = next(f"{r}#{n}" for r in REPOS for n in range(1, 21) if f"{r}#{n}" not in rounds)
    wrong_round = "main" if rounds[mine[1]] != "main" else "calibration-1"
    csv_path = write_csv(tmp_path / "bad.csv", [
        {"item": mine[0], "dimension": "relevance", "codes": "ptm"},
        {"item": stranger, "dimension": "relevance", "codes": "ptm"},                 # line 3
        {"item": mine[1], "dimension": "challenge", "codes": "model-usage.loading"},  # line 4
        {"item": mine[1], "dimension": "relevance", "codes": "ptm", "round": wrong_round},  # line 5
    ])
    before = path.read_bytes()
    result = run("import-labels", str(csv_path), "--coder", "ana", "--study", str(study.root), "--stage",
                 "screening", ok=False)
    assert result.exit_code == 2 and "nothing was written" in result.output
    assert f"{csv_path}:3: item {stranger} is not assigned to ana in stage 'screening'" in result.output
    assert f"{csv_path}:4: unknown dimension 'challenge' (the codebook has: relevance)" in result.output
    assert f"{csv_path}:5: item {mine[1]} is in round '{rounds[mine[1]]}' of the assignment" in result.output
    assert path.read_bytes() == before
    nobody = run("import-labels", str(csv_path), "--coder", "zoe", "--study", str(study.root), "--stage",
                 "screening", ok=False)
    assert nobody.exit_code == 2 and "zoe has no items assigned in stage 'screening'" in nobody.output


# --- status, report and methods per stage ------------------------------------------------------

def test_status_names_the_next_command_as_the_study_moves_on(tmp_path):
    study = staged_study(tmp_path)

    def next_command() -> str:
        out = run("status", "--study", str(study.root)).output
        return out[out.index("Next:"):].replace("\n", " ")

    assert "annotator sample --stage screening" in next_command()
    run("sample", "--study", str(study.root), "--stage", "screening", "--size", "6", "--name", "s", "--seed", "5")
    assert "annotator assign s --stage screening" in next_command()
    run("assign", "s", "--study", str(study.root), "--stage", "screening", "--coders", "ana,ben")
    assert "annotator code --stage screening --coder ana" in next_command()
    items = list(session_items(study.root / "sessions" / "screening" / "ana.db"))
    screen(study, "ana", {i: "ptm" for i in items}, tmp_path)
    screen(study, "ben", {i: ("ptm" if n else "not-ptm") for n, i in enumerate(items)}, tmp_path)
    assert "annotator merge --stage screening" in next_command()
    run("merge", "--study", str(study.root), "--stage", "screening")
    assert "annotator reconcile --stage screening   (1 disagreements open)" in next_command()
    with MergedStore(study.root / "merged" / "screening.db") as merged:
        merged.decide(items[0], "relevance", ["ptm"], decided_by="lead", method="edited", rationale="t")
    assert "annotator sample --stage thematic --all" in next_command()
    data = json.loads(run("status", "--study", str(study.root), "--format", "json").output)
    screening = data["stages"][0]
    assert screening["coders"][0]["coded"] == 6 and screening["undecided"] == 0
    assert screening["rounds"][0]["agreement"][0]["items"] == 6


def test_report_reads_relevance_from_screening_and_themes_from_thematic(tmp_path):
    study = staged_study(tmp_path)
    _screen_and_reconcile(study, tmp_path)
    run("sample", "--study", str(study.root), "--stage", "thematic", "--all", "--name", "themes", "--seed", "1")
    run("assign", "themes", "--study", str(study.root), "--stage", "thematic", "--coders", "ana")
    items = list(session_items(study.root / "sessions" / "thematic" / "ana.db"))
    rows = [{"item": i, "dimension": "challenge", "codes": "model-usage.loading"} for i in items]
    run("import-labels", str(write_csv(tmp_path / "themes.csv", rows)), "--coder", "ana", "--study",
        str(study.root), "--stage", "thematic")
    run("merge", "--study", str(study.root), "--stage", "thematic")
    run("report", "--study", str(study.root), "--no-figures")
    report = json.loads((study.root / "reports" / "report.json").read_text(encoding="utf-8"))
    with MergedStore(study.root / "merged" / "screening.db", readonly=True) as merged:
        finals = merged.final_labels()
    assert report["population"]["screened"] == len(finals) == 30
    assert report["population"]["relevant"] == len(items) == sum(1 for d in finals.values() if d["relevance"] == {"ptm"})
    assert report["frequencies"]["coded_items"] == len(items)
    methods = run("methods", "--study", str(study.root)).output
    assert "Stage 1, 'screening', asked 'PTM-related?' of 30 issues" in methods
    assert f"Stage 2, 'thematic', asked 'Challenge' of {len(items)} issues" in methods
    assert f"{len(items)} of the 30 screened issues were judged PTM-related" in methods


def test_an_older_corpus_gets_the_stage_column_and_keeps_its_samples(tmp_path):
    from annotator.collect.corpus import migrations

    path = tmp_path / "corpus.db"
    db = sqlite3.connect(path)
    from annotator.db import Database

    older = Database(db)
    migrations.apply(older, stop_before="m004_sample_stage")
    db.execute("insert into samples (name, seed, rule, size, frame_size, params) values ('old', 1, 'all', 0, 0, '{}')")
    db.commit()
    db.close()
    with CorpusStore(path) as corpus:
        assert corpus.sample_stages() == {"old": None}
        assert corpus.sample("old")["seed"] == 1


def test_init_leaves_a_begun_study_without_stages_in_its_layout(tmp_path):
    study = make_study(tmp_path / "old")
    code_session(study, "ana", make_items(2), {})
    run("init", str(study.root))
    assert not study.study_file.exists() and not load_stages(study).declared


def test_status_of_a_study_without_stages(tmp_path):
    study = make_study(tmp_path / "old")
    items = make_items(4)
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items(items, source="test")
    labels = {item["id"]: {"relevance": "no"} for item in items}
    code_session(study, "ana", items, labels)
    code_session(study, "ben", items, labels)
    out = run("status", "--study", str(study.root)).output.replace("\n", " ")
    assert "the study (one stage)" in out and "Next: annotator merge" in out
    run("merge", "--study", str(study.root))
    assert (study.root / "merged.db").is_file() and study.merged_paths() == [study.root / "merged.db"]
    assert "Next: annotator report" in run("status", "--study", str(study.root)).output.replace("\n", " ")


def test_top_up_stays_in_the_samples_stage(tmp_path):
    study = staged_study(tmp_path)
    run("sample", "--study", str(study.root), "--stage", "screening", "--size", "6", "--stratify", "repo",
        "--name", "s", "--seed", "4")
    with CorpusStore(study.corpus_path) as corpus:
        first = corpus.sample_members("s")[0]["item_id"]
    (tmp_path / "irrelevant.txt").write_text(first + "\n", encoding="utf-8")
    run("sample", "--study", str(study.root), "--top-up", "s", "--irrelevant", str(tmp_path / "irrelevant.txt"))
    run("assign", "s", "--study", str(study.root), "--coders", "ana")  # the sample's stage, without --stage
    assert first not in session_items(study.root / "sessions" / "screening" / "ana.db")
    with CorpusStore(study.corpus_path) as corpus:
        assert corpus.sample_stages()["s"] == "screening" and len(corpus.sample_members("s")) == 6


def test_import_qdpx_writes_the_stages_sessions(tmp_path):
    root = tmp_path / "demo"
    run("demo", "--dir", str(root), "--no-open")
    project = tmp_path / "thematic.qdpx"
    run("export", "--study", str(root), "--stage", "thematic", "--format", "qdpx", "--out", str(project))
    refused = run("import-qdpx", str(project), "--study", str(root), "--user", "ana=dana", ok=False)
    assert refused.exit_code == 2 and "say which with --stage" in refused.output
    run("import-qdpx", str(project), "--study", str(root), "--user", "ana=dana", "--stage", "thematic")
    path = root / "sessions" / "thematic" / "dana.db"
    with SessionStore(path, readonly=True) as store, \
            SessionStore(root / "sessions" / "thematic" / "ana.db", readonly=True) as ana:
        assert store.stage == "thematic" and store.asks == ["challenge"]
        assert store.all_labels() == ana.all_labels()
        assert store.progress().coded == ana.progress().coded
    assert not (root / "sessions" / "dana.db").exists()
