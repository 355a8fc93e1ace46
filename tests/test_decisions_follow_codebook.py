"""Final decisions follow the codebook (annotator/agreement/follow_codebook.py): every change
`annotator taxonomy` makes reaches merged.db's decisions through the same changelog; a decision
a split cannot place goes stale and counts as undecided everywhere; the report refuses final
codes that are retired or unknown; a proposed code pulled and then renamed migrates in the
proposer's session."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from fixtures.coders import code_session, make_items, make_study

from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.agreement.queue import open_queue
from annotator.agreement.report import agreement_report
from annotator.analysis.report import read_final_codes, refuse_stale_codes
from annotator.cli import cli
from annotator.codebook.changes import Change
from annotator.codebook.model import load_codebook
from annotator.coding.session import SessionStore
from annotator.errors import UserError
from annotator.agreement.follow_codebook import apply_with_decisions as apply_changes


def iid(n: int) -> str:
    return f"octo/models#{n}"


ANA = {1: {"relevance": "yes", "challenge": ["usage.api"]},
       2: {"relevance": "yes", "challenge": ["usage.loading"]},
       3: {"relevance": "yes", "challenge": ["usage.loading"]},
       4: {"relevance": "yes", "challenge": ["perf.wrong"]}}
BEN = {1: {"relevance": "yes", "challenge": ["perf.wrong"]},
       2: {"relevance": "yes", "challenge": ["usage.api"]},
       3: {"relevance": "yes", "challenge": ["perf.wrong"]},
       4: {"relevance": "yes", "challenge": ["perf.wrong"]}}


@pytest.fixture
def study(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(4)
    code_session(study, "ana", items, {iid(k): v for k, v in ANA.items()})
    code_session(study, "ben", items, {iid(k): v for k, v in BEN.items()})
    with merge_sessions(study.session_paths(), study.merged_path) as merged:
        merged.decide(iid(1), "challenge", ["usage.api"], decided_by="carla", method="coder:ana",
                      rationale="the API was called wrong", basis=_basis(merged, 1))
        merged.decide(iid(2), "challenge", ["usage.loading"], decided_by="carla", method="coder:ana",
                      basis=_basis(merged, 2))
        merged.decide(iid(3), "challenge", ["usage.loading", "perf.wrong"], decided_by="carla", method="union",
                      basis=_basis(merged, 3))
    return study


def _basis(merged, n):
    return next(u for u in merged.units() if u.item_id == iid(n) and u.dimension == "challenge").basis()


def decision(study, n):
    with MergedStore(study.merged_path, readonly=True) as merged:
        return merged.decision(iid(n), "challenge")


def test_rename_reaches_the_decisions_and_survives_the_next_merge(study):
    applied = apply_changes(study.root, [Change("rename", "usage.api", "clearer", new_id="usage.calls")], by="lead")
    assert applied.decisions.remapped == 1 and not applied.decisions.stale
    first = decision(study, 1)
    assert first["codes"] == {"usage.calls"}
    assert first["decided_by"] == "carla" and first["rationale"] == "the API was called wrong", "who and why stay"
    assert first["basis"] == {"ana": ["usage.calls"], "ben": ["perf.wrong"]}
    with sqlite3.connect(study.merged_path) as db:
        logged = db.execute("select action, decided_by, rationale from decision_events where item_id = ?"
                            " order by id desc limit 1", [iid(1)]).fetchone()
    assert logged[0] == "codebook" and logged[1] == "lead" and "usage.api" in logged[2]
    # The sessions were migrated too: a new merge keeps the decision, and it is not stale.
    with merge_sessions(study.session_paths(), study.merged_path) as merged:
        units = {(u.item_id, u.dimension): u for u in merged.units()}
        kept = merged.decision(iid(1), "challenge")
        assert kept["codes"] == {"usage.calls"}
        assert not merged.is_stale(units[(iid(1), "challenge")], kept)
        assert all(n.reason != "stale" for n in open_queue(merged))


def test_merge_maps_decisions_and_no_decision_is_left_on_a_code_that_no_longer_exists(study):
    apply_changes(study.root, [Change("merge", "usage.api", "cannot tell them apart", sources=["usage.api"],
                                      into="usage.loading")], by="lead")
    codebook = load_codebook(study.taxonomy_path)
    known = set(codebook.dimension("challenge").by_id)
    with MergedStore(study.merged_path, readonly=True) as merged:
        for (_, dimension), found in merged.decisions().items():
            if dimension == "challenge":
                assert found["codes"] <= known, found
        assert merged.codebook.hash == codebook.hash, "merged.db checks decisions against the new codebook"
    assert decision(study, 1)["codes"] == {"usage.loading"}


def test_an_unplaceable_split_makes_the_decision_stale_and_undecided_everywhere(study):
    with MergedStore(study.merged_path, readonly=True) as merged:
        before = agreement_report(merged)["reconciliation"]
    applied = apply_changes(study.root, [Change(
        "split", "usage.loading", "tokenizers are their own problem",
        targets=[{"id": "usage.weights", "name": "Weights"}, {"id": "usage.tokenizer", "name": "Tokenizer"}],
        items={iid(2): ["usage.tokenizer"]})], by="lead")
    assert [(i, d) for i, d, _ in applied.decisions.stale] == [(iid(3), "challenge")]
    assert decision(study, 2)["codes"] == {"usage.tokenizer"}
    assert decision(study, 3) is None, "not a decision any more"
    with MergedStore(study.merged_path, readonly=True) as merged:
        stale = [(n.unit.item_id, n.reason) for n in open_queue(merged)]
        assert (iid(3), "stale") in stale
        after = agreement_report(merged)["reconciliation"]
        row = merged.db.execute("select codes, reason from stale_decisions").fetchone()
    assert row[0] == '["perf.wrong", "usage.loading"]' and "split" in row[1]
    assert after["undecided"] == before["undecided"] + 1
    assert after["decided"] == before["decided"] - 1


def test_report_refuses_retired_and_unknown_final_codes_naming_them_and_the_fix(study):
    apply_changes(study.root, [Change("retire", "usage.api", "nobody uses it")], by="lead")
    with MergedStore(study.merged_path, readonly=True) as merged:
        assert (iid(1), "retired") in [(n.unit.item_id, n.reason) for n in open_queue(merged)]
    with pytest.raises(UserError) as raised:
        refuse_stale_codes(study, read_final_codes(study))
    text = str(raised.value)
    assert "challenge/usage.api (retired): 1 item (octo/models#1)" in text
    assert "annotator taxonomy sync" in text and "annotator reconcile" in text
    # A merged.db the changes never reached (copied from elsewhere): unknown codes are refused too.
    text = study.taxonomy_path.read_text(encoding="utf-8").replace("usage.loading", "usage.load")
    study.taxonomy_path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=r"challenge/usage.loading \(not in the codebook\)"):
        refuse_stale_codes(study, read_final_codes(study))


def test_taxonomy_sync_brings_decisions_along(study, tmp_path):
    # A change made with the merged file elsewhere: sync carries it in afterwards.
    moved = tmp_path / "away.db"
    study.merged_path.rename(moved)
    apply_changes(study.root, [Change("rename", "perf.wrong", "plainer", new_id="perf.incorrect")], by="lead")
    moved.rename(study.merged_path)
    result = CliRunner().invoke(cli, ["taxonomy", "sync", "--study", str(study.root)])
    assert result.exit_code == 0, result.output
    assert "merged.db: 2 decisions carried to the new codes" in result.output
    assert decision(study, 3)["codes"] == {"usage.loading", "perf.incorrect"}
    assert decision(study, 4)["codes"] == {"perf.incorrect"}, "automatic decisions follow too"


def test_a_proposed_code_pulled_then_renamed_migrates_in_the_proposers_session(study):
    from annotator.revision.proposals import NewCode, propose_code, pull_proposed

    ana = study.session_path("ana")
    with SessionStore(ana) as store:
        code = propose_code(store, NewCode("challenge", "Tokenizer trouble", parent="usage"))
        store.record_label(iid(4), "challenge", code.id)
    pull_proposed(study.root, by="lead")
    apply_changes(study.root, [Change("rename", code.id, "shorter", new_id="usage.tok")], by="lead")
    latest = load_codebook(study.taxonomy_path)
    with SessionStore(ana, readonly=True) as store:
        assert store.codebook.hash == latest.hash, "no stale copy of the proposal left in the snapshot"
        assert "usage.tok" in store.all_labels()[iid(4)]["challenge"]
    result = CliRunner().invoke(cli, ["taxonomy", "sync", "--study", str(study.root)])
    assert "ana.db: already on the newest codebook" in result.output
    merge_sessions(study.session_paths(), study.merged_path).close()  # belongs together: no refusal
