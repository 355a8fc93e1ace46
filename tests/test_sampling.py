"""annotator sample: Cochran sizes, stratification, filters, reproducibility, top-up."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotator.cli import cli
from annotator.collect.corpus import CorpusStore
from annotator.errors import UserError
from annotator.sampling.draw import SizeRule, allocate, draw_sample, seeded_order, top_up
from annotator.study import Study

# 31 repositories, 8,373 issues, one repository with a single issue (the model study's shape)
SIZES = [1] + [40 + 16 * i for i in range(1, 30)]
SIZES.append(8373 - sum(SIZES))


def make_item(repo: str, number: int, **changes) -> dict:
    item = {
        "id": f"{repo}#{number}", "repo": repo, "number": number, "title": f"Issue {number}",
        "body": "", "state": "closed" if number % 3 == 0 else "open", "state_reason": None,
        "author": "a", "labels": ["bug"] if number % 4 == 0 else [],
        "created_at": f"2024-{number % 12 + 1:02d}-{number % 28 + 1:02d}T12:00:00Z",
        "updated_at": "2024-12-31T00:00:00Z", "closed_at": None,
        "url": f"https://github.com/{repo}/issues/{number}", "comments": [], "comment_count": 0,
    }
    item.update(changes)
    return item


def model_study_items() -> list[dict]:
    return [make_item(f"org/repo{r:02d}", n) for r, size in enumerate(SIZES) for n in range(1, size + 1)]


@pytest.fixture
def study(tmp_path) -> Study:
    return Study(tmp_path / "study")


@pytest.fixture
def store(study):
    with CorpusStore(study.corpus_path) as corpus:
        yield corpus


@pytest.fixture
def big_store(store):
    store.upsert_items(model_study_items(), source="test")
    return store


def members(store: CorpusStore, name: str) -> list[str]:
    return [m["item_id"] for m in store.sample_members(name)]


# --- sizes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("population, expected", [(8373, 368), (11175, 372), (840, 264), (1000, 278),
                                                  (100_000, 383), (1, 1)])
def test_cochran_sizes_match_the_published_values(population, expected):
    assert SizeRule("cochran", confidence=0.95, margin=0.05).size_for(population) == expected


def test_sample_of_the_model_study_has_cochrans_size(big_store, study):
    assert sum(SIZES) == 8373 and len(SIZES) == 31
    drawn = draw_sample(big_store, study, name="screening", rule=SizeRule("cochran"), seed=1)
    assert len(drawn.members) == 368 and drawn.frame_size == 8373
    assert len(set(members(big_store, "screening"))) == 368


def test_fixed_size_and_all(big_store, study):
    assert len(draw_sample(big_store, study, name="a", rule=SizeRule("size", size=100), seed=1).members) == 100
    assert len(draw_sample(big_store, study, name="b", rule=SizeRule("all"), seed=1).members) == 8373
    with pytest.raises(UserError, match="only 8,373 items match"):
        draw_sample(big_store, study, name="c", rule=SizeRule("size", size=9000), seed=1)


# --- stratification -----------------------------------------------------------------------------

def test_largest_remainder_matches_the_textbook_example():
    # Hamilton / Hare: 10 seats for 47,000 / 16,000 / 15,800 / 12,000 / 6,100 / 3,100 votes
    votes = {"A": 47000, "B": 16000, "C": 15800, "D": 12000, "E": 6100, "F": 3100}
    assert allocate(votes, 10, at_least_one=False) == {"A": 5, "B": 2, "C": 1, "D": 1, "E": 1, "F": 0}
    # every stratum that can have one gets one: F's item comes from the most over-allocated (B)
    assert allocate(votes, 10) == {"A": 5, "B": 1, "C": 1, "D": 1, "E": 1, "F": 1}


def test_allocation_ties_are_deterministic():
    assert allocate({"b": 1, "a": 1, "c": 1}, 2, at_least_one=False) == {"a": 1, "b": 1, "c": 0}
    assert allocate({"small": 1, "big": 3}, 2, at_least_one=False) == {"small": 0, "big": 2}
    with pytest.raises(UserError, match="at least 3"):
        allocate({"a": 5, "b": 5, "c": 5}, 2)


def test_stratified_sample_sums_and_proportions(big_store, study):
    drawn = draw_sample(big_store, study, name="s", rule=SizeRule("cochran"), stratify="repo", seed=7)
    allocation = {row["stratum"]: row for row in drawn.allocation}
    assert len(allocation) == 31
    assert sum(row["sample"] for row in drawn.allocation) == 368 == len(drawn.members)
    assert sum(row["frame"] for row in drawn.allocation) == 8373
    for row in drawn.allocation:
        quota = Fraction(368 * row["frame"], 8373)
        assert row["sample"] >= 1
        assert abs(row["sample"] - quota) < 1 or row["frame"] == 1
    assert allocation["org/repo00"]["sample"] == 1  # the one-issue repository is in
    drawn_per_repo: dict[str, int] = {}
    for member in drawn.members:
        assert member["item_id"].startswith(member["stratum"] + "#")
        drawn_per_repo[member["stratum"]] = drawn_per_repo.get(member["stratum"], 0) + 1
    assert drawn_per_repo == {s: row["sample"] for s, row in allocation.items()}


def test_the_sample_and_its_parameters_are_stored(big_store, study):
    draw_sample(big_store, study, name="s", rule=SizeRule("cochran", 0.95, 0.05), stratify="repo",
                where=["state=open"], seed=11)
    sample = big_store.sample("s")
    assert sample["seed"] == 11 and sample["rule"] == "cochran" and sample["size"] == sample["params"]["size"]
    params = sample["params"]
    assert params["size_rule"] == {"rule": "cochran", "confidence": 0.95, "margin": 0.05, "p": 0.5}
    assert params["stratify"] == "repo" and params["where"] == ["state=open"]
    assert params["frame_size"] == sample["frame_size"] == big_store.db.execute(
        "SELECT count(*) FROM items WHERE state = 'open'").fetchone()[0]
    assert sum(v[1] for v in params["allocation"].values()) == sample["size"]
    positions = [m["position"] for m in big_store.sample_members("s")]
    assert positions == list(range(1, sample["size"] + 1))


# --- reproducibility ------------------------------------------------------------------------------

def test_seeded_order_is_pinned():
    # random.Random(42).random() is guaranteed stable across Python versions and platforms
    assert seeded_order(list(range(10)), 42) == [1, 9, 7, 3, 2, 8, 0, 5, 4, 6]


def test_same_seed_same_sample_whatever_the_insertion_order(tmp_path, big_store, study):
    draw_sample(big_store, study, name="a", rule=SizeRule("size", size=50), stratify="repo", seed=3)
    other = Study(tmp_path / "other")
    with CorpusStore(other.corpus_path) as reversed_store:
        reversed_store.upsert_items(list(reversed(model_study_items())), source="test")
        draw_sample(reversed_store, other, name="a", rule=SizeRule("size", size=50), stratify="repo", seed=3)
        assert members(reversed_store, "a") == members(big_store, "a")
    draw_sample(big_store, study, name="b", rule=SizeRule("size", size=50), stratify="repo", seed=4)
    assert members(big_store, "b") != members(big_store, "a")


def test_same_sample_in_other_processes_with_other_hash_seeds(tmp_path, big_store, study):
    draw_sample(big_store, study, name="here", rule=SizeRule("cochran"), stratify="repo",
                where=["state=open", "label!=bug"], seed=2024)
    expected = members(big_store, "here")
    for hash_seed in ("1", "4242"):
        copy = tmp_path / f"copy{hash_seed}"
        copy.mkdir()
        with sqlite3.connect(copy / "corpus.db") as target:  # a copy that includes the WAL
            big_store.db.conn.backup(target)
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        result = subprocess.run(
            [sys.executable, "-m", "annotator", "sample", "--study", str(copy), "--name", "there",
             "--stratify", "repo", "--where", "state=open", "--where", "label!=bug", "--seed", "2024"],
            env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        with CorpusStore(copy / "corpus.db") as theirs:
            assert members(theirs, "there") == expected


# --- --where ------------------------------------------------------------------------------------

@pytest.fixture
def small_store(store):
    store.upsert_items([
        make_item("a/x", 1, state="open", labels=["bug", "GPU"], title="Tokenizer crash",
                  created_at="2024-01-01T00:00:00Z"),
        make_item("a/x", 2, state="closed", labels=["docs"], body="the TOKENIZER is slow",
                  created_at="2024-01-31T23:59:59Z"),
        make_item("a/x", 3, state="closed", labels=[], title="100% CPU",
                  created_at="2024-02-01T00:00:00Z"),
        make_item("b/y", 1, state="open", labels=["bug"], title="under_score",
                  created_at="2023-12-31T23:59:59Z"),
    ], source="test")
    return store


@pytest.mark.parametrize("where, expected", [
    (["state=closed"], ["a/x#2", "a/x#3"]),
    (["repo=b/y"], ["b/y#1"]),
    (["repo=a/x,b/y", "state!=closed"], ["a/x#1", "b/y#1"]),
    (["created_at>=2024-01-01"], ["a/x#1", "a/x#2", "a/x#3"]),
    (["created_at<=2024-01-31"], ["a/x#1", "a/x#2", "b/y#1"]),  # the whole last day
    (["created_at<2024-01-01"], ["b/y#1"]),
    (["created_at>2024-01-31"], ["a/x#3"]),
    (["created_at=2024-01-31"], ["a/x#2"]),
    (["created_at>=2024-01-31T23:59:59Z"], ["a/x#2", "a/x#3"]),
    (["label=bug"], ["a/x#1", "b/y#1"]),
    (["label=gpu"], ["a/x#1"]),  # label names ignore case
    (["label!=bug"], ["a/x#2", "a/x#3"]),
    (["label~oc"], ["a/x#2"]),
    (["text~tokenizer"], ["a/x#1", "a/x#2"]),
    (["text~%"], ["a/x#3"]),  # LIKE wildcards are literal
    (["text~_"], ["b/y#1"]),
    (["title~CRASH"], ["a/x#1"]),
    (["number>1"], ["a/x#2", "a/x#3"]),
    (["number=1,3"], ["a/x#1", "a/x#3", "b/y#1"]),
])
def test_where_filters(small_store, study, where, expected):
    drawn = draw_sample(small_store, study, name="w", rule=SizeRule("all"), where=where, seed=1)
    assert sorted(m["item_id"] for m in drawn.members) == expected


@pytest.mark.parametrize("where, message", [
    ("status=open", "unknown field 'status'"),
    ("state>open", "works on dates and numbers"),
    ("created_at>=yesterday", "is not a date"),
    ("number>many", "takes a whole number"),
    ("state=", "no value"),
    ("nonsense", "expected FIELD OP VALUE"),
    ("repo=x'; DROP TABLE items; --", "no corpus item matches"),
])
def test_bad_where_is_a_clear_error(small_store, study, where, message):
    with pytest.raises(UserError, match=message):
        draw_sample(small_store, study, name="w", rule=SizeRule("all"), where=[where], seed=1)
    assert small_store.count_items() == 4


def test_final_labels_need_a_merged_study(small_store, study):
    with pytest.raises(UserError, match="no merged study yet: run annotator merge"):
        draw_sample(small_store, study, name="w", rule=SizeRule("all"), where=["final:relevance=ptm"], seed=1)
    with pytest.raises(UserError, match="take = or !="):
        draw_sample(small_store, study, name="w", rule=SizeRule("all"), where=["final:relevance~p"], seed=1)


# --- top-up ----------------------------------------------------------------------------------------

def test_top_up_replaces_irrelevant_items_from_the_same_stratum(tmp_path, big_store, study):
    draw_sample(big_store, study, name="s", rule=SizeRule("size", size=60), stratify="repo", seed=5)
    before = big_store.sample_members("s")
    irrelevant = {before[0]["item_id"], before[10]["item_id"], before[20]["item_id"], "org/repo05#99999"}
    result = top_up(big_store, study, "s", irrelevant)

    assert len(result.replacements) == 3 and result.not_members == ["org/repo05#99999"]
    after = big_store.sample_members("s")
    assert len(after) == 60
    strata = {m["item_id"]: m["stratum"] for m in before}
    every = big_store.sample_members("s", include_replaced=True)
    for old, new, stratum in result.replacements:
        assert stratum == strata[old] and new.startswith(stratum + "#")
        assert new not in strata  # never drawn before
        assert {m["item_id"]: m for m in every}[old]["replaced_by"] == new
        assert {m["item_id"]: m for m in every}[new]["replacement_of"] == old
    assert set(strata) - set(m["item_id"] for m in after) == {old for old, _, _ in result.replacements}

    # the same top-up on a copy gives the same replacements
    copy = Study(tmp_path / "copy")
    with CorpusStore(copy.corpus_path) as other:
        other.upsert_items(model_study_items(), source="test")
        draw_sample(other, copy, name="s", rule=SizeRule("size", size=60), stratify="repo", seed=5)
        assert top_up(other, copy, "s", irrelevant).replacements == result.replacements


def test_top_up_reports_an_exhausted_stratum(small_store, study):
    draw_sample(small_store, study, name="s", rule=SizeRule("all"), stratify="repo", seed=1)
    result = top_up(small_store, study, "s", {"b/y#1"})
    assert result.replacements == [] and result.not_replaced == ["b/y#1"]


# --- the command ---------------------------------------------------------------------------------

def test_sample_command_prints_the_allocation_and_the_seed(big_store, study):
    big_store.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["sample", "--study", str(study.root), "--stratify", "repo", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert "Sample sample-1" in result.stdout and "8,373" in result.stdout and "368" in result.stdout
    assert "Seed 9" in result.stdout
    again = runner.invoke(cli, ["sample", "--study", str(study.root), "--name", "sample-1", "--size", "5"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    both = runner.invoke(cli, ["sample", "--study", str(study.root), "--size", "5", "--all"])
    assert both.exit_code == 2 and "choose one size rule" in both.stderr


def test_sample_command_top_up_from_a_file(big_store, study, tmp_path):
    draw_sample(big_store, study, name="s", rule=SizeRule("size", size=10), seed=1)
    first = members(big_store, "s")[0]
    big_store.close()
    ids = tmp_path / "irrelevant.txt"
    ids.write_text(f"# coded irrelevant\n{first}\n")
    result = CliRunner().invoke(cli, ["sample", "--study", str(study.root), "--top-up", "s",
                                      "--irrelevant", str(ids)])
    assert result.exit_code == 0, result.output
    assert f"replaced {first} by " in result.stdout and "s: 1 items replaced." in result.stdout


def test_sample_without_a_corpus(tmp_path):
    result = CliRunner().invoke(cli, ["sample", "--study", str(tmp_path)])
    assert result.exit_code == 2 and "no corpus yet" in result.stderr


def test_params_are_json(big_store, study):
    draw_sample(big_store, study, name="s", rule=SizeRule("all"), seed=1)
    raw = big_store.db.execute("SELECT params FROM samples WHERE name = 's'").fetchone()[0]
    assert json.loads(raw)["seed"] == 1
    assert Path(study.corpus_path).is_file()
