"""Codebook changes follow every merged file of a study in stages (annotator/agreement/follow_codebook.py).

On the two-stage demo study (real files: sessions/<stage>/<coder>.db merged into
merged/<stage>.db and reconciled), a rename or split of a thematic code reaches
merged/thematic.db's decisions, leaves merged/screening.db's as they were (its stage does not
ask the challenge dimension), and a decision the split cannot place goes to the queue of
`reconcile --stage thematic`. The CLI says so, one line per merged file.
"""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from annotator.agreement.follow_codebook import apply_with_decisions
from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.agreement.queue import open_queue
from annotator.cli import cli
from annotator.codebook.changes import Change
from annotator.coding.stages import load_stages
from annotator.study import Study

RENAMED = "model-usage.input-processing"
SPLIT = "model-acquisition.download"
SPLIT_INTO = [{"id": "model-acquisition.mirror", "name": "Mirrors"},
              {"id": "model-acquisition.hub", "name": "Hub downloads"}]
SCREENING_LINE = "merged/screening.db: nothing changed (stage 'screening' asks relevance; the change is to challenge)"


@pytest.fixture
def study(staged_demo) -> Study:
    return staged_demo


def thematic(study):
    return study.root / "merged" / "thematic.db"


def screening(study):
    return study.root / "merged" / "screening.db"


def decided(path, dimension: str) -> dict[str, set[str]]:
    with MergedStore(path, readonly=True) as merged:
        return {item: set(d["codes"]) for (item, dim), d in merged.decisions().items() if dim == dimension}


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_rename_reaches_the_stage_merged_file_and_survives_its_next_merge(study):
    screening_before = decided(screening(study), "relevance")
    before = decided(thematic(study), "challenge")
    carried = {item for item, codes in before.items() if RENAMED in codes}
    assert len(carried) >= 2, "the demo's thematic decisions use the code"

    applied = apply_with_decisions(study.root, [Change("rename", RENAMED, "clearer", new_id="model-usage.preprocessing")],
                                   by="lead")

    outcomes = applied.decisions
    assert [o.name for o in outcomes] == ["merged/screening.db", "merged/thematic.db"]
    assert outcomes.by_name("merged/thematic.db").remapped == len(carried)
    assert not outcomes.stale
    assert outcomes.by_name("merged/screening.db").lines() == [SCREENING_LINE]
    after = decided(thematic(study), "challenge")
    assert {item for item, codes in after.items() if "model-usage.preprocessing" in codes} == carried
    assert not any(RENAMED in codes for codes in after.values()), "no decision on a code that is gone"
    assert {item: codes - {RENAMED} for item, codes in before.items()} == \
           {item: codes - {"model-usage.preprocessing"} for item, codes in after.items()}, "the other codes stay"
    assert decided(screening(study), "relevance") == screening_before
    with MergedStore(thematic(study), readonly=True) as merged:
        challenge = merged.codebook.dimension("challenge")
        assert "model-usage.preprocessing" in challenge.by_id and RENAMED not in challenge.by_id
        assert [u.dimension for u in merged.units()][:1] == ["challenge"], "still the thematic stage's view"
        coded = {code for by_item in merged.codings().values() for dims in by_item.values()
                 for code in dims.get("challenge", ())}
        assert RENAMED not in coded and "model-usage.preprocessing" in coded

    # The stage's sessions were migrated too: merging the stage again keeps every decision.
    stage = load_stages(study).get("thematic")
    with merge_sessions(stage.session_paths(study), thematic(study)) as merged:
        assert decided(thematic(study), "challenge") == after
        assert not [n for n in open_queue(merged) if n.reason == "stale"]


def test_an_unplaceable_split_sends_the_stage_decisions_to_its_reconcile_queue(study):
    before = decided(thematic(study), "challenge")
    holding = sorted(item for item, codes in before.items() if SPLIT in codes)
    assert len(holding) >= 2
    placed, unplaced = holding[0], holding[1:]

    applied = apply_with_decisions(study.root, [Change("split", SPLIT, "mirrors are their own problem",
                                                       targets=SPLIT_INTO,
                                                       items={placed: ["model-acquisition.mirror"]})], by="lead")

    outcome = applied.decisions.by_name("merged/thematic.db")
    assert sorted(item for item, dimension, _ in outcome.stale) == unplaced
    assert all(dimension == "challenge" and SPLIT in reason for _, dimension, reason in outcome.stale)
    assert outcome.stage == "thematic"
    assert applied.decisions.by_name("merged/screening.db").lines() == [SCREENING_LINE]
    after = decided(thematic(study), "challenge")
    assert after[placed] == (before[placed] - {SPLIT}) | {"model-acquisition.mirror"}
    assert not set(unplaced) & set(after), "no longer decided"
    with MergedStore(thematic(study), readonly=True) as merged:
        queue = {(n.unit.item_id, n.reason) for n in open_queue(merged)}
    assert {(item, "stale") for item in unplaced} <= queue


def test_the_cli_reports_each_merged_file_and_reconcile_finds_the_stale_ones(study, tmp_path):
    root = str(study.root)
    before = decided(thematic(study), "challenge")
    renamed = sum(1 for codes in before.values() if RENAMED in codes)

    out = run("taxonomy", "rename", RENAMED, "--id", "model-usage.preprocessing", "--why", "clearer",
              "--study", root, "--coder", "lead")
    lines = out.splitlines()
    assert f"  {SCREENING_LINE}" in lines
    assert f"  merged/thematic.db: {renamed} decisions carried to the new codes" in lines
    # Each stage's sessions on their own lines too (a coder has one session per stage).
    for coder in ("ana", "ben", "chen"):
        assert f"  screening/{coder}.db: 0 labels remapped (codebook version 2)" in lines
        assert any(line.startswith(f"  thematic/{coder}.db: ") and "labels remapped" in line
                   and not line.startswith(f"  thematic/{coder}.db: 0 ") for line in lines), out

    holding = sorted(item for item, codes in before.items() if SPLIT in codes)
    mapping = tmp_path / "mirrors.csv"
    mapping.write_text(f"item,code\n{holding[0]},model-acquisition.mirror\n", encoding="utf-8")
    out = run("taxonomy", "split", SPLIT, "--into", "model-acquisition.mirror=Mirrors",
              "--into", "model-acquisition.hub=Hub downloads", "--items", str(mapping),
              "--why", "mirrors are their own problem", "--study", root, "--coder", "lead")
    lines = out.splitlines()
    assert f"  {SCREENING_LINE}" in lines
    stale = len(holding) - 1
    assert (f"  merged/thematic.db: 1 decisions carried to the new codes, {stale} stale "
            "(decide them again with `annotator reconcile --stage thematic`)") in lines
    for item in holding[1:]:
        assert any(line.startswith(f"    {item} challenge: ") and SPLIT in line for line in lines), (item, out)

    queue = tmp_path / "queue.csv"
    run("reconcile", "--study", root, "--stage", "thematic", "--export", str(queue))
    with open(queue, newline="", encoding="utf-8") as handle:
        rows = {(row["item"], row["reason"]) for row in csv.DictReader(handle)}
    assert {(item, "stale") for item in holding[1:]} <= rows

    # `taxonomy sync` with nothing left to carry: every merged file says so, on its own line.
    lines = run("taxonomy", "sync", "--study", root).splitlines()
    assert "merged/screening.db: decisions already on the newest codebook" in lines
    assert "merged/thematic.db: decisions already on the newest codebook" in lines
    # The thematic export shows only codes the codebook has.
    exported = tmp_path / "thematic.csv"
    run("export", "--study", root, "--stage", "thematic", "--format", "csv", "--codings", "final",
        "--out", str(exported))
    text = exported.read_text(encoding="utf-8")
    assert "model-usage.preprocessing" in text and RENAMED not in text and f"{SPLIT}," not in text


def test_a_study_without_stages_reports_merged_db_as_before(tmp_path):
    """One stage (no study.yaml): the one merged file, named as before."""
    from annotator.demo import prepare_demo_study

    study = prepare_demo_study(tmp_path / "one", stages=False)
    applied = apply_with_decisions(study.root, [Change("rename", RENAMED, "clearer", new_id="model-usage.preprocessing")],
                                   by="lead")
    [outcome] = applied.decisions
    assert outcome.name == "merged.db" and outcome.stage is None
    assert outcome.remapped >= 2 and not outcome.untouched
    assert outcome.lines()[0] == f"merged.db: {outcome.remapped} decisions carried to the new codes"


def test_a_stage_merged_after_the_change_on_sessions_not_yet_synced_follows_on_sync(study):
    """Coders had their sessions open (`--skip-locked`), the stage was merged afterwards from
    sessions still on the older codebook: `taxonomy sync` brings the sessions and the stage's
    merged file up to date. The merged file is placed in the changelog by the codebook it holds
    (its whole codebook's hash), not by the date of the merge, which is after the change."""
    from annotator.revision.apply import apply_changes

    before = decided(thematic(study), "challenge")
    carried = {item for item, codes in before.items() if RENAMED in codes}
    apply_changes(study.root, [Change("rename", RENAMED, "clearer", new_id="model-usage.preprocessing")],
                  by="lead", session_paths=[])  # as if every session were open for coding
    stage = load_stages(study).get("thematic")
    merge_sessions(stage.session_paths(study), thematic(study)).close()
    assert decided(thematic(study), "challenge") == before

    lines = run("taxonomy", "sync", "--study", str(study.root)).splitlines()
    assert f"merged/thematic.db: {len(carried)} decisions carried to the new codes" in lines
    after = decided(thematic(study), "challenge")
    assert {item for item, codes in after.items() if "model-usage.preprocessing" in codes} == carried
