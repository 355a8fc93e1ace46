"""annotator assign: rounds, overlap, blind sessions, and adding coders later."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from annotator.sampling.assign import parse_overlap, parse_rounds, plan_assignment, round_names
from annotator.cli import cli
from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.coding.session import SessionStore
from annotator.study import Study
from drivers.core_support import build_items


def test_rounds_and_overlap_parsing():
    assert parse_rounds("100,100,rest", 840) == [100, 100, 640]
    assert parse_rounds("100,100,rest", 150) == [100, 50]
    assert parse_overlap("all,all,0.2", 3) == [1.0, 1.0, 0.2]
    assert parse_overlap("0.5", 2) == [0.5, 0.5]
    assert round_names([1.0, 1.0, 0.2]) == ["calibration-1", "calibration-2", "main"]
    for bad in ("rest,100", "x", "0", ""):
        with pytest.raises(UserError):
            parse_rounds(bad, 10)
    with pytest.raises(UserError):
        parse_overlap("1.5", 1)


def test_plan_double_codes_the_asked_share_and_balances_load():
    items = [f"o/r#{i}" for i in range(100)]
    plans = plan_assignment(items, ["ana", "ben", "chen"], [10, 90], [1.0, 0.2], seed=1)
    calibration, main = plans
    assert all(len(c) == 3 for c in calibration.coders_of.values())
    doubled = [c for c in main.coders_of.values() if len(c) == 2]
    assert len(doubled) == 18  # 20 % of 90
    assert all(len(set(c)) == len(c) for c in main.coders_of.values())
    load = {coder: sum(coder in c for c in main.coders_of.values()) for coder in ("ana", "ben", "chen")}
    assert max(load.values()) - min(load.values()) <= 2
    again = plan_assignment(items, ["ana", "ben", "chen"], [10, 90], [1.0, 0.2], seed=1)
    assert again == plans
    assert plan_assignment(items, ["ana", "ben", "chen"], [10, 90], [1.0, 0.2], seed=2) != plans


@pytest.fixture
def study(tmp_path):
    study = Study.init(tmp_path / "study")
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items(build_items(30), source="test")
    return study


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_assign_makes_blind_sessions_and_adding_a_coder_keeps_labels(study):
    assert run("sample", "--study", str(study.root), "--name", "s", "--all", "--seed", "1").exit_code == 0
    result = run("assign", "s", "--study", str(study.root), "--coders", "ana,ben", "--rounds", "10,rest",
                 "--overlap", "all,0.5", "--seed", "4")
    assert result.exit_code == 0, result.output
    with SessionStore(study.session_path("ana")) as ana, SessionStore(study.session_path("ben")) as ben:
        ana_items, ben_items = set(ana.item_ids()), set(ben.item_ids())
        first = ana.item_ids()[0]
        assert ana.item(first)["round"] == "calibration-1"
        ana.record_label(first, "relevance", "ptm")
    assert len(ana_items & ben_items) == 10 + 10  # the calibration round and half of the rest
    assert len(ana_items | ben_items) == 30
    # Blind: a coder's file holds no one else's labels (ana's label is not in ben's file).
    with sqlite3.connect(study.session_path("ben")) as conn:
        assert conn.execute("select count(*) from labels").fetchone()[0] == 0

    result = run("assign", "s", "--study", str(study.root), "--coders", "ana,ben,chen", "--seed", "4")
    assert result.exit_code == 0, result.output
    with SessionStore(study.session_path("ana")) as ana:
        assert set(ana.item_ids()) == ana_items
        assert ana.labels_for(first) == {"relevance": {"ptm"}}
    with SessionStore(study.session_path("chen")) as chen:
        # The newcomer codes the calibration round everyone else coded.
        assert {chen.item(i)["round"] for i in chen.item_ids()} == {"calibration-1"}
        assert len(chen.item_ids()) == 10


def test_assign_unknown_sample_is_a_clear_error(study):
    result = CliRunner().invoke(cli, ["assign", "nope", "--study", str(study.root), "--coders", "ana"])
    assert result.exit_code == 2
    assert "no sample named 'nope'" in result.output
    assert "Traceback" not in result.output
