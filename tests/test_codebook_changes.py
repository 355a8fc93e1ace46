"""Codebook changes applied to a study: taxonomy.yaml rewritten (comments kept), the changelog,
every session's labels migrated through SessionStore; mapping across codebook versions; the
codebook as Markdown and as a diff; a code added in the coding TUI and pulled into taxonomy.yaml.

Every test builds a real study folder in tmp_path: taxonomy.yaml (the small test codebook with
comments added), sessions/<coder>.db made and coded through SessionStore.
"""

from __future__ import annotations

import difflib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from annotator.cli import cli
from annotator.codebook.changes import Change, parse_changes
from annotator.codebook.diff import diff_codebooks
from annotator.codebook.history import changelog_path, load_history, map_labels_to_latest
from annotator.codebook.keys import suggest_key
from annotator.render.codebook_doc import render_doc
from annotator.revision.apply import apply_changes
from annotator.revision.proposals import NewCode, propose_code, pull_proposed
from annotator.revision.sessions import map_session_to_latest, sync_sessions
from annotator.errors import UserError
from annotator.coding.session import SessionStore, migrations
from annotator.codebook.model import load_codebook, parse_codebook

TESTS = Path(__file__).parent
SMALL_TAXONOMY = TESTS / "fixtures" / "small_taxonomy.yaml"
DEFAULT_TAXONOMY = TESTS.parent / "annotator" / "data" / "taxonomy.yaml"

# The small codebook with the kinds of comments a team writes: they must survive every rewrite.
COMMENTED = SMALL_TAXONOMY.read_text(encoding="utf-8").replace(
    "dimensions:\n", "dimensions:\n  # Screening first: only relevant items get challenges.\n", 1,
).replace(
    "      - id: perf\n", "      # Agreed in calibration round 2 (see memo 2024-03-01).\n      - id: perf\n", 1,
).replace(
    "definition: Loading fails.", "definition: Loading fails.  # includes tokenizers", 1,
)


def iid(n: int) -> str:
    return f"octo/models#{n}"


@pytest.fixture
def study(tmp_path, make_items) -> Path:
    """A study with two coders: ada and bob, six items each, coded like this (challenge codes):

        item 1: usage.loading, usage.api      (both coders)
        item 2: usage.loading                 (ada)   usage.api (bob)
        item 3: usage.loading                 (ada)
        item 4: perf.wrong                    (ada, bob)
        item 5: relevance no                  (ada, bob)
    """
    root = tmp_path / "study"
    (root / "sessions").mkdir(parents=True)
    (root / "taxonomy.yaml").write_text(COMMENTED, encoding="utf-8")
    codebook = load_codebook(root / "taxonomy.yaml")
    coding = {
        "ada": {1: {"usage.loading", "usage.api"}, 2: {"usage.loading"}, 3: {"usage.loading"}, 4: {"perf.wrong"}},
        "bob": {1: {"usage.loading", "usage.api"}, 2: {"usage.api"}, 4: {"perf.wrong"}},
    }
    for coder, items in coding.items():
        with SessionStore.create(root / "sessions" / f"{coder}.db", coder=coder, codebook=codebook,
                                 items=make_items(6)) as store:
            for number, codes in items.items():
                store.record_label(iid(number), "relevance", "yes")
                store.set_codes(iid(number), "challenge", codes)
            store.record_label(iid(5), "relevance", "no")
    return root


def labels_of(path: Path) -> dict:
    with SessionStore(path, readonly=True) as store:
        return store.all_labels()


def challenge(path: Path, number: int) -> set[str]:
    return labels_of(path).get(iid(number), {}).get("challenge", set())


def flags_of(path: Path) -> dict[str, set[str]]:
    with SessionStore(path, readonly=True) as store:
        return {i: store.flags_for(i) for i in store.item_ids() if store.flags_for(i)}


def replay_matches(path: Path) -> bool:
    """The current tables equal the state replayed from the event log (nothing changed off-log)."""
    with SessionStore(path, readonly=True) as store:
        labels, memos, flags = store.state_from_log()
        return (labels, memos, flags) == store.current_state()


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


def session(study: Path, coder: str) -> Path:
    return study / "sessions" / f"{coder}.db"


# --- rename -----------------------------------------------------------------------------------


def test_rename_id_carries_every_label_over_in_one_logged_action(study):
    ada, bob = session(study, "ada"), session(study, "bob")
    assert challenge(ada, 1) == {"usage.loading", "usage.api"} and challenge(bob, 2) == {"usage.api"}

    applied = apply_changes(study, [Change("rename", "usage.api", "coders read 'misuse' as blame",
                                           new_id="usage.calls", name="Calling the model's API")], by="lead")

    assert challenge(ada, 1) == {"usage.loading", "usage.calls"}
    assert challenge(bob, 1) == {"usage.loading", "usage.calls"}
    assert challenge(bob, 2) == {"usage.calls"}
    assert challenge(ada, 2) == {"usage.loading"}, "labels of other codes are untouched"
    with SessionStore(ada, readonly=True) as store:
        assert store.codebook_version == 2
        code = store.codebook.dimension("challenge").by_id["usage.calls"]
        assert code.name == "Calling the model's API" and "usage.api" not in store.codebook.dimension("challenge").by_id
        events = [e for e in store.events() if e["kind"] in ("codebook", "code.remove", "code.add")][-3:]
        assert [(e["kind"], e["code"]) for e in events] == [
            ("codebook", None), ("code.remove", "usage.api"), ("code.add", "usage.calls")]
        assert len({e["action"] for e in events}) == 1, "one action: the change and its relabelling"
        assert store.db.execute("select codebook_version from labels where item_id = ? and code = 'usage.calls'",
                                [iid(1)]).fetchone()[0] == 2
    assert replay_matches(ada) and replay_matches(bob)
    assert {o.session: o.remapped for o in applied.outcomes} == {"ada.db": 1, "bob.db": 2}

    history = load_history(study / "taxonomy.yaml")
    assert len(history) == 1
    entry = history[0]
    assert (entry["change"], entry["code"], entry["now"]["id"], entry["by"]) == ("rename", "usage.api", "usage.calls", "lead")
    assert entry["why"] == "coders read 'misuse' as blame"
    assert entry["before"] == parse_codebook(COMMENTED).hash
    assert entry["after"] == load_codebook(study / "taxonomy.yaml").hash
    assert entry["sessions"]["bob.db"]["remapped"] == 2


def test_undo_on_the_coding_screen_does_not_reverse_a_codebook_change(study):
    ada = session(study, "ada")
    apply_changes(study, [Change("rename", "usage.api", "clearer", new_id="usage.calls")])
    with SessionStore(ada) as store:
        assert store.undo() is None, "the codebook change is a barrier"
        assert store.labels_for(iid(1))["challenge"] == {"usage.loading", "usage.calls"}
        store.record_label(iid(6), "relevance", "yes")  # later coding is undone as usual
        assert store.undo()["item_id"] == iid(6)
        assert store.labels_for(iid(6)) == {}


def test_rename_of_a_code_other_dimensions_require_updates_the_requirement(study):
    before = (study / "taxonomy.yaml").read_text()
    apply_changes(study, [Change("rename", "relevance/yes", "plainer", new_id="relevant")])
    after = (study / "taxonomy.yaml").read_text()
    assert "requires: {relevance: [relevant]}" in after
    assert load_codebook(study / "taxonomy.yaml").dimension("challenge").requires == {"relevance": ["relevant"]}
    assert labels_of(session(study, "ada"))[iid(1)]["relevance"] == {"relevant"}
    assert len(changed_lines(before, after)) == 4  # the id line and the requires line, each - and +


def test_rename_of_name_and_key_keeps_labels_and_quoting(study):
    before = (study / "taxonomy.yaml").read_text()
    ada_before = labels_of(session(study, "ada"))
    apply_changes(study, [Change("rename", "usage.loading", "shorter", name="Load", key="l")])
    after = (study / "taxonomy.yaml").read_text()
    assert sorted(changed_lines(before, after)) == [
        "+             key: \"l\"", "+             name: Load",
        "-             key: \"a\"", "-             name: Loading"]
    assert labels_of(session(study, "ada")) == ada_before
    with SessionStore(session(study, "ada"), readonly=True) as store:
        assert store.codebook_version == 2
        assert store.codebook.dimension("challenge").by_id["usage.loading"].key == "l"


# --- merge ------------------------------------------------------------------------------------


def test_merge_moves_labels_to_the_target_and_keeps_the_merged_code_in_the_changelog(study):
    ada, bob = session(study, "ada"), session(study, "bob")
    apply_changes(study, [Change("merge", "usage.api", "coders could not tell them apart",
                                 sources=["usage.api"], into="usage.loading")])
    assert challenge(ada, 1) == {"usage.loading"}, "both codes on one item become one"
    assert challenge(bob, 2) == {"usage.loading"}
    assert challenge(ada, 4) == {"perf.wrong"}
    codebook = load_codebook(study / "taxonomy.yaml")
    assert "usage.api" not in codebook.dimension("challenge").by_id
    entry = load_history(study / "taxonomy.yaml")[-1]
    assert entry["removed"] == [{"id": "usage.api", "name": "API misuse", "key": "b", "definition": "Calling it wrong."}]
    with SessionStore(ada, readonly=True) as store:
        removed = [e for e in store.events() if e["kind"] == "code.remove" and e["code"] == "usage.api"]
        assert [e["item_id"] for e in removed] == [iid(1)], "the old label is in the log, not silently gone"
    assert replay_matches(ada) and replay_matches(bob)


def test_merge_refuses_a_theme_with_sub_codes_and_changes_nothing(study):
    before = (study / "taxonomy.yaml").read_text()
    ada_before = labels_of(session(study, "ada"))
    with pytest.raises(UserError, match="has sub-codes"):
        apply_changes(study, [Change("merge", "perf", "x", sources=["perf"], into="usage")])
    assert (study / "taxonomy.yaml").read_text() == before
    assert not changelog_path(study / "taxonomy.yaml").exists()
    assert labels_of(session(study, "ada")) == ada_before


# --- split ------------------------------------------------------------------------------------


def test_split_with_a_mapping_file_moves_mapped_items_and_flags_the_rest(study, tmp_path):
    mapping = tmp_path / "loading.csv"
    mapping.write_text("item,code\nocto/models#1,usage.download\nocto/models#2,usage.local;usage.download\n")
    ada, bob = session(study, "ada"), session(study, "bob")
    result = CliRunner().invoke(cli, ["taxonomy", "split", "usage.loading", "--into", "usage.download=Download fails",
                                      "--into", "usage.local=Local files=f", "--items", str(mapping),
                                      "--why", "two different problems", "--study", str(study), "--coder", "lead"])
    assert result.exit_code == 0, result.output
    assert challenge(ada, 1) == {"usage.download", "usage.api"}
    assert challenge(ada, 2) == {"usage.local", "usage.download"}
    assert challenge(ada, 3) == set(), "not in the mapping: the old code comes off..."
    assert flags_of(ada) == {iid(3): {"recode"}}, "...and the item is flagged for recoding"
    assert challenge(bob, 1) == {"usage.download", "usage.api"} and flags_of(bob) == {}
    assert "1 items flagged for recoding (octo/models#3)" in result.output
    codebook = load_codebook(study / "taxonomy.yaml")
    usage = codebook.dimension("challenge").by_id["usage"]
    assert [(c.id, c.key) for c in usage.children] == [("usage.download", "d"), ("usage.local", "f"), ("usage.api", "b")]
    entry = load_history(study / "taxonomy.yaml")[-1]
    assert entry["removed"]["id"] == "usage.loading" and entry["kept"] is False
    assert entry["sessions"]["ada.db"]["flagged"] == [iid(3)]
    with SessionStore(ada, readonly=True) as store:
        kinds = [(e["kind"], e["item_id"], e["code"]) for e in store.events() if e["item_id"] == iid(3)][-2:]
        assert kinds == [("code.remove", iid(3), "usage.loading"), ("flag.add", iid(3), "recode")]
    assert replay_matches(ada)


def test_split_keeping_the_code_flags_unmapped_items_and_keeps_their_label(study):
    ada = session(study, "ada")
    apply_changes(study, [Change("split", "usage.loading", "tokenizers are their own problem",
                                 targets=[{"id": "usage.loading"}, {"id": "usage.tokenizer", "name": "Tokenizer"}],
                                 items={iid(2): ["usage.tokenizer"]})])
    assert challenge(ada, 2) == {"usage.tokenizer"}
    assert challenge(ada, 1) == {"usage.loading", "usage.api"}
    assert challenge(ada, 3) == {"usage.loading"}
    assert flags_of(ada) == {iid(1): {"recode"}, iid(3): {"recode"}}
    assert "usage.loading" in load_codebook(study / "taxonomy.yaml").dimension("challenge").by_id


def test_split_mapping_to_a_code_it_does_not_split_into_is_refused(study):
    with pytest.raises(UserError, match="not one of the codes it splits into"):
        apply_changes(study, [Change("split", "usage.loading", "x",
                                     targets=[{"id": "usage.a", "name": "A"}, {"id": "usage.b", "name": "B"}],
                                     items={iid(1): ["perf.wrong"]})])
    assert not changelog_path(study / "taxonomy.yaml").exists()


# --- move, retire, add ------------------------------------------------------------------------


def test_move_under_another_theme_keeps_labels_and_finds_a_free_key(study):
    ada_before = labels_of(session(study, "ada"))
    applied = apply_changes(study, [Change("move", "perf.wrong", "wrong output is a usage problem here",
                                           parent="usage")])
    codebook = load_codebook(study / "taxonomy.yaml")
    moved = codebook.dimension("challenge").by_id["perf.wrong"]
    assert moved.parent == "usage"
    assert moved.key == "w", "'a' is taken by usage.loading: a free key from the name"
    assert applied.entries[0]["key"] == {"from": "a", "to": "w"}
    assert "perf" not in [c.parent for c in codebook.dimension("challenge").walk()]
    assert labels_of(session(study, "ada")) == ada_before
    with SessionStore(session(study, "ada"), readonly=True) as store:
        assert store.codebook.dimension("challenge").by_id["perf.wrong"].parent == "usage"


def test_move_to_the_top_level(study):
    runner = CliRunner()
    result = runner.invoke(cli, ["taxonomy", "move", "usage.api", "--to", "top", "--key", "3", "--why", "a theme now",
                                 "--study", str(study)])
    assert result.exit_code == 0, result.output
    code = load_codebook(study / "taxonomy.yaml").dimension("challenge").by_id["usage.api"]
    assert (code.parent, code.depth, code.key) == (None, 1, "3")
    assert challenge(session(study, "bob"), 2) == {"usage.api"}
    taken = runner.invoke(cli, ["taxonomy", "move", "usage.loading", "--to", "top", "--key", "y", "--why", "x",
                                "--study", str(study)])
    assert taken.exit_code == 2 and "already used by 'Relevant'" in taken.output


def test_retired_code_keeps_its_labels_and_history(study):
    ada = session(study, "ada")
    with SessionStore(ada, readonly=True) as store:
        events_before = store.events()
    apply_changes(study, [Change("retire", "usage.api", "nobody uses it the same way")])
    taxonomy = (study / "taxonomy.yaml").read_text()
    assert "retired: true" in taxonomy
    codebook = load_codebook(study / "taxonomy.yaml")
    assert codebook.dimension("challenge").by_id["usage.api"].retired
    assert challenge(ada, 1) == {"usage.loading", "usage.api"}, "labels kept"
    with SessionStore(ada, readonly=True) as store:
        events = store.events()
        assert events[:len(events_before)] == events_before, "history untouched"
        assert [e["kind"] for e in events[len(events_before):]] == ["codebook"]
        assert store.codebook.dimension("challenge").by_id["usage.api"].retired
    doc = render_doc(study)
    assert "API misuse (`usage.api`, key `1b`)" in doc and "**Retired on " in doc
    assert "nobody uses it the same way" in doc


def test_add_puts_the_code_in_taxonomy_and_every_session(study):
    result = CliRunner().invoke(cli, ["taxonomy", "add", "perf.slow", "--name", "Slow inference", "--parent", "perf",
                                      "--definition", "Inference takes too long.", "--why", "seen 4 times",
                                      "--study", str(study)])
    assert result.exit_code == 0, result.output
    code = load_codebook(study / "taxonomy.yaml").dimension("challenge").by_id["perf.slow"]
    assert (code.parent, code.key, code.definition) == ("perf", "s", "Inference takes too long.")
    for coder in ("ada", "bob"):
        with SessionStore(session(study, coder), readonly=True) as store:
            assert "perf.slow" in store.codebook.dimension("challenge").by_id


# --- CHANGES files, refusals ------------------------------------------------------------------


def test_apply_file_makes_one_version_per_change(study, tmp_path):
    (tmp_path / "split.yaml").write_text("octo/models#1: usage.remote\n")
    changes = tmp_path / "CHANGES.yaml"
    changes.write_text(
        "# calibration round 2\n"
        "- rename: challenge/usage.api\n  id: usage.calls\n  why: clearer\n"
        "- split: usage.loading\n  into: [{id: usage.remote, name: Remote}, {id: usage.local, name: Local}]\n"
        "  items: split.yaml\n  why: two problems\n"
        "- merge: [usage.calls]\n  into: usage.remote\n  why: same thing after all\n"
    )
    result = CliRunner().invoke(cli, ["taxonomy", "apply", str(changes), "--study", str(study)])
    assert result.exit_code == 0, result.output
    history = load_history(study / "taxonomy.yaml")
    assert [(e["version"], e["change"]) for e in history] == [(2, "rename"), (3, "split"), (4, "merge")]
    assert challenge(session(study, "ada"), 1) == {"usage.remote"}
    assert challenge(session(study, "bob"), 2) == {"usage.remote"}
    with SessionStore(session(study, "ada"), readonly=True) as store:
        assert [v["version"] for v in store.codebook_versions()] == [1, 2, 3, 4]
        assert store.codebook.hash == load_codebook(study / "taxonomy.yaml").hash
    log = CliRunner().invoke(cli, ["taxonomy", "log", "--study", str(study)])
    assert "merge usage.calls into challenge/usage.remote" in log.output and "why: same thing after all" in log.output


def test_a_bad_changes_file_names_the_line_and_changes_nothing(study, tmp_path):
    changes = tmp_path / "CHANGES.yaml"
    changes.write_text("- rename: usage.api\n  id: usage.calls\n  why: ok\n- retire: usage.nope\n  why: x\n"
                       "- move: perf.wrong\n  onto: usage\n")
    before = (study / "taxonomy.yaml").read_text()
    with pytest.raises(UserError) as caught:
        parse_changes(changes.read_text(), str(changes))
    assert f"{changes}:6: unknown field 'onto'" in str(caught.value)
    result = CliRunner().invoke(cli, ["taxonomy", "apply", str(changes), "--study", str(study)])
    assert result.exit_code == 2 and f"{changes}:6" in result.output
    changes.write_text("- rename: usage.api\n  id: usage.calls\n  why: ok\n- retire: usage.nope\n  why: x\n")
    result = CliRunner().invoke(cli, ["taxonomy", "apply", str(changes), "--study", str(study)])
    assert result.exit_code == 2 and f"{changes}:4: no code 'usage.nope'" in result.output
    assert (study / "taxonomy.yaml").read_text() == before, "the first change was not applied either"
    assert challenge(session(study, "bob"), 2) == {"usage.api"}


def test_dry_run_writes_nothing(study):
    before = (study / "taxonomy.yaml").read_text()
    result = CliRunner().invoke(cli, ["taxonomy", "merge", "usage.api", "--into", "usage.loading", "--why", "x",
                                      "--dry-run", "--study", str(study)])
    assert result.exit_code == 0, result.output
    assert "would make codebook version 2" in result.output and "bob.db: 2 labels remapped" in result.output
    assert (study / "taxonomy.yaml").read_text() == before
    assert not changelog_path(study / "taxonomy.yaml").exists()
    with SessionStore(session(study, "bob"), readonly=True) as store:
        assert store.codebook_version == 1


def test_a_session_open_for_coding_stops_the_change_unless_skipped(study):
    ada = session(study, "ada")
    before = (study / "taxonomy.yaml").read_text()
    with SessionStore(ada):  # ada is coding
        with pytest.raises(UserError, match="open for coding"):
            apply_changes(study, [Change("rename", "usage.api", "x", new_id="usage.calls")])
        assert (study / "taxonomy.yaml").read_text() == before
        applied = apply_changes(study, [Change("rename", "usage.api", "x", new_id="usage.calls")], skip_locked=True)
        assert any(o.session == "ada.db" and o.skipped for o in applied.outcomes)
    assert challenge(ada, 1) == {"usage.loading", "usage.api"}
    assert challenge(session(study, "bob"), 1) == {"usage.loading", "usage.calls"}
    result = CliRunner().invoke(cli, ["taxonomy", "sync", "--study", str(study)])
    assert result.exit_code == 0, result.output
    assert "ada.db: 1 labels remapped" in result.output and "bob.db: already on the newest codebook" in result.output
    assert challenge(ada, 1) == {"usage.loading", "usage.calls"}


def test_unknown_code_is_a_user_error(study):
    result = CliRunner().invoke(cli, ["taxonomy", "retire", "nope", "--why", "x", "--study", str(study)])
    assert result.exit_code == 2
    assert "no code 'nope'" in result.output and "Traceback" not in result.output


# --- taxonomy.yaml stays the team's file ------------------------------------------------------


def test_comments_order_and_quoting_survive_every_kind_of_change(study):
    apply_changes(study, [
        Change("rename", "usage.api", "w", name="API calls"),
        Change("add", "challenge/perf.slow", "w", name="Slow", parent="perf"),
        Change("move", "perf.wrong", "w", parent="usage"),
        Change("retire", "relevance/no", "w"),
        Change("split", "usage.loading", "w", targets=[{"id": "usage.loading"}, {"id": "usage.hub", "name": "Hub"}]),
        Change("merge", "perf.slow", "w", sources=["perf.slow"], into="perf"),
    ])
    text = (study / "taxonomy.yaml").read_text()
    for comment in ("# A small codebook for tests.", "  # Screening first: only relevant items get challenges.",
                    "      # Agreed in calibration round 2 (see memo 2024-03-01).",
                    "definition: Loading fails.  # includes tokenizers"):
        assert comment in text
    kept = [line for line in COMMENTED.splitlines() if line in text.splitlines()]
    assert kept == [line for line in COMMENTED.splitlines() if line in kept], "order of untouched lines kept"
    assert 'key: "y"' in text and 'key: "1"' in text
    assert parse_codebook(text).dimension("challenge").by_id["perf.wrong"].parent == "usage"


def test_the_default_codebook_is_rewritten_line_for_line(tmp_path):
    root = tmp_path / "study"
    (root / "sessions").mkdir(parents=True)
    shutil.copy(DEFAULT_TAXONOMY, root / "taxonomy.yaml")
    before = (root / "taxonomy.yaml").read_text()
    apply_changes(root, [Change("rename", "model-usage.loading", "shorter", name="Loading a model")])
    after = (root / "taxonomy.yaml").read_text()
    assert changed_lines(before, after) == ['-             name: "Loading and initialisation"',
                                            '+             name: "Loading a model"']


# --- mapping across codebook versions (for merge and agreement) ---------------------------------


def test_sessions_under_older_codebooks_map_to_the_newest(study, tmp_path, make_items):
    """v1 -> v2: rename usage.api -> usage.calls; v2 -> v3: rename usage.loading -> usage.api (the
    old id, reused); v3 -> v4: split usage.api (ex loading) into usage.remote, usage.local with a
    mapping for item 1 only; v4 -> v5 merge perf.wrong into perf. Sessions made under v1 and v3
    and kept away from the study (on laptops) are mapped to v5 from where they are."""
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    shutil.copy(session(study, "ada"), laptop / "ada-v1.db")  # coded under v1
    apply_changes(study, [Change("rename", "usage.api", "x", new_id="usage.calls")])
    apply_changes(study, [Change("rename", "usage.loading", "x", new_id="usage.api")])
    v3 = load_codebook(study / "taxonomy.yaml")
    with SessionStore.create(laptop / "cy-v3.db", coder="cy", codebook=v3, items=make_items(6)) as store:
        store.record_label(iid(1), "relevance", "yes")
        store.set_codes(iid(1), "challenge", {"usage.api", "usage.calls"})  # api = loading now
        store.record_label(iid(2), "relevance", "yes")
        store.set_codes(iid(2), "challenge", {"usage.api"})
    apply_changes(study, [Change("split", "usage.api", "x", targets=[{"id": "usage.remote", "name": "Remote"},
                                                                     {"id": "usage.local", "name": "Local"}],
                                 items={iid(1): ["usage.remote"]})])
    apply_changes(study, [Change("merge", "perf.wrong", "x", sources=["perf.wrong"], into="perf")])
    history = load_history(study / "taxonomy.yaml")
    latest = load_codebook(study / "taxonomy.yaml")
    assert [e["version"] for e in history] == [2, 3, 4, 5]

    with SessionStore(laptop / "ada-v1.db", readonly=True) as store:
        mapped = map_session_to_latest(store, history, latest)
    assert mapped.from_version == 1
    assert mapped.labels[iid(1)]["challenge"] == {"usage.calls", "usage.remote"}  # api -> calls; loading -> split
    assert mapped.labels[iid(4)]["challenge"] == {"perf"}
    assert mapped.labels[iid(2)] == {"relevance": {"yes"}}
    assert {(u.item_id, u.code) for u in mapped.unmapped} == {(iid(2), "usage.loading"), (iid(3), "usage.loading")}
    assert all("split into usage.remote, usage.local" in u.reason for u in mapped.unmapped)
    assert mapped.item_versions[iid(1)] == 1

    with SessionStore(laptop / "cy-v3.db", readonly=True) as store:
        mapped = map_session_to_latest(store, history, latest)
    assert mapped.from_version == 3
    # usage.api here is the renamed loading code: not taken for the v1 'usage.api' (-> calls)
    assert mapped.labels[iid(1)]["challenge"] == {"usage.remote", "usage.calls"}
    assert [(u.item_id, u.code) for u in mapped.unmapped] == [(iid(2), "usage.api")]

    # The same labels through the plain function, as merge calls it.
    plain = map_labels_to_latest(history, {iid(9): {"challenge": {"usage.calls"}}}, v3.hash, latest)
    assert plain.labels == {iid(9): {"challenge": {"usage.calls"}}} and not plain.unmapped

    # Copied back into the study, `sync` brings the laptop session up to date, flagging item 2.
    shutil.copy(laptop / "cy-v3.db", session(study, "cy"))
    outcomes = sync_sessions(study)
    cy = next(o for o in outcomes if o.session == "cy.db")
    assert cy.flagged == [iid(2)] and cy.remapped == 1
    assert challenge(session(study, "cy"), 1) == {"usage.remote", "usage.calls"}
    assert challenge(session(study, "cy"), 2) == set() and flags_of(session(study, "cy")) == {iid(2): {"recode"}}
    with SessionStore(session(study, "cy"), readonly=True) as store:
        assert store.codebook.hash == latest.hash
    assert replay_matches(session(study, "cy"))


def test_a_hand_edit_between_changes_is_recorded_as_an_edit(study):
    apply_changes(study, [Change("rename", "usage.api", "x", name="API calls")])
    path = study / "taxonomy.yaml"
    path.write_text(path.read_text().replace("definition: Output quality.", "definition: How good the output is."))
    apply_changes(study, [Change("retire", "perf.wrong", "x")])
    history = load_history(path)
    assert [e["change"] for e in history] == ["rename", "edit", "retire"]
    assert history[1]["before"] == history[0]["after"] and history[2]["before"] == history[1]["after"]
    assert history[1]["diff"] == ["~ wording  challenge/perf: definition changed"]


# --- the codebook as a document -----------------------------------------------------------------


def test_doc_renders_definitions_usage_counts_and_changes(study, tmp_path):
    apply_changes(study, [Change("rename", "usage.api", "clearer", new_id="usage.calls", name="API calls")])
    out = tmp_path / "codebook.md"
    result = CliRunner().invoke(cli, ["taxonomy", "doc", "--out", str(out), "--study", str(study)])
    assert result.exit_code == 0, result.output
    doc = out.read_text()
    assert doc.startswith("# Small test codebook\n")
    assert "## Challenge (`challenge`)" in doc
    assert "### Model Usage (`usage`, key `1`)" in doc
    assert "#### Loading (`usage.loading`, key `1a`)" in doc
    assert "**Definition:** Loading fails." in doc
    # usage.loading: ada items 1, 2, 3; bob item 1 -> 4 labels on 3 items by 2 coders
    assert "*Used 4 times on 3 items by 2 coders.*" in doc
    assert "| `1a` | &nbsp;&nbsp;Loading | `usage.loading` | 4 | 3 | 2 |" in doc
    # usage.calls (renamed from usage.api): ada 1; bob 1, 2
    assert "| `1b` | &nbsp;&nbsp;API calls | `usage.calls` | 3 | 2 | 2 |" in doc
    assert "| `2a` | &nbsp;&nbsp;Wrong output | `perf.wrong` | 2 | 1 | 2 |" in doc
    assert "*Not used yet.*" in doc  # perf itself
    assert "## Changes" in doc and "rename challenge/usage.api: id usage.api -> usage.calls" in doc
    assert "*Several codes per item (multi-label).* Asked only for items coded relevance: yes." in doc


def test_doc_escapes_markdown_in_team_text(study):
    path = study / "taxonomy.yaml"
    path.write_text(path.read_text().replace("definition: Anything else.", "definition: 'Not *this* | [x](y)'"))
    doc = render_doc(study)
    assert r"**Definition:** Not \*this\* \| \[x\](y)" in doc


# --- diff -------------------------------------------------------------------------------------


def test_diff_of_two_taxonomy_files(study, tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(COMMENTED)
    apply_changes(study, [
        Change("rename", "usage.api", "x", new_id="usage.calls"),
        Change("move", "perf.wrong", "x", parent="usage"),
        Change("add", "challenge/gpu", "x", name="GPU"),
        Change("retire", "relevance/no", "x"),
    ])
    result = CliRunner().invoke(cli, ["taxonomy", "diff", str(old), str(study / "taxonomy.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:]
    assert lines == [
        "x retired  relevance/no",
        '+ added    challenge/gpu "GPU" (key g, top level)',
        "~ renamed  challenge/usage.api -> usage.calls",
        "> moved    challenge/perf.wrong: perf -> usage",
        "~ key      challenge/perf.wrong: a -> w",
    ]


def test_diff_of_two_versions_in_a_session(study):
    apply_changes(study, [Change("merge", "usage.api", "x", sources=["usage.api"], into="usage.loading")])
    ada = session(study, "ada")
    result = CliRunner().invoke(cli, ["taxonomy", "diff", f"{ada}@1", f"{ada}@2"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("ada.db@1 (")
    assert result.output.splitlines()[1:] == ['- removed  challenge/usage.api "API misuse"']
    missing = CliRunner().invoke(cli, ["taxonomy", "diff", f"{ada}@1", f"{ada}@7"])
    assert missing.exit_code == 2 and "no codebook version 7" in missing.output


def test_diff_finds_nothing_between_equal_codebooks(study):
    a, b = load_codebook(study / "taxonomy.yaml"), parse_codebook(COMMENTED)
    assert diff_codebooks(a, b) == []


# --- codes proposed while coding --------------------------------------------------------------


def test_suggested_keys_avoid_siblings_top_level_keys_and_reserved_keys(small_codebook):
    # top level: y, n (relevance), 1, 2 (challenge) are taken on the one screen
    assert suggest_key(small_codebook, "challenge", None, "Yet another") == "e"
    assert suggest_key(small_codebook, "challenge", "usage", "API v2") == "p"  # a, b are siblings
    assert suggest_key(small_codebook, "challenge", "usage", "+?/") == "c"
    with pytest.raises(UserError, match="coding screen's own key"):
        propose_code_for(small_codebook, key="?")


def propose_code_for(codebook, key):
    from annotator.codebook.keys import check_key

    check_key(codebook, "challenge", None, key)


def test_propose_code_records_a_session_version_and_the_proposer(study):
    with SessionStore(session(study, "ada")) as store:
        code = propose_code(store, NewCode("challenge", "GPU driver mismatch", parent="usage",
                                           definition="The CUDA driver does not match."))
        assert (code.id, code.key, code.parent) == ("usage.gpu-driver-mismatch", "g", "usage")
        assert store.codebook_version == 2
        assert store.proposed_codes()[0]["coder"] == "ada"
        assert "proposed by ada while coding" in store.codebook.text
        store.record_label(iid(1), "challenge", code.id)
        with pytest.raises(UserError, match="already has a code"):
            propose_code(store, NewCode("challenge", "GPU driver mismatch", parent="usage", id=code.id))


def test_a_proposed_code_survives_a_study_change_until_pulled(study):
    with SessionStore(session(study, "ada")) as store:
        code = propose_code(store, NewCode("challenge", "GPU", parent="usage"))
        store.record_label(iid(1), "challenge", code.id)
    apply_changes(study, [Change("rename", "usage", "x", new_id="use")])
    with SessionStore(session(study, "ada"), readonly=True) as store:
        snapshot = store.codebook.dimension("challenge")
        assert snapshot.by_id["usage.gpu"].parent == "use", "grafted under the renamed theme"
        assert store.labels_for(iid(1))["challenge"] == {"usage.loading", "usage.api", "usage.gpu"}
        assert store.codebook_versions()[-1]["study_hash"] == load_codebook(study / "taxonomy.yaml").hash
    pulled = pull_proposed(study, by="lead")
    assert [p.code for p in pulled.added] == ["usage.gpu"]
    assert load_codebook(study / "taxonomy.yaml").dimension("challenge").by_id["usage.gpu"].parent == "use"


def test_the_same_code_proposed_by_two_coders_is_pulled_once_with_both_names(study):
    for coder, item in (("ada", 1), ("bob", 2)):
        with SessionStore(session(study, coder)) as store:
            code = propose_code(store, NewCode("challenge", "GPU", parent="usage"))
            store.record_label(iid(item), "challenge", code.id)
    result = CliRunner().invoke(cli, ["taxonomy", "pull", "--study", str(study)])
    assert result.exit_code == 0, result.output
    entry = load_history(study / "taxonomy.yaml")[-1]
    assert entry["proposed_by"] == ["ada", "bob"]
    assert entry["proposed_items"] == {"ada": [iid(1)], "bob": [iid(2)]}
    again = CliRunner().invoke(cli, ["taxonomy", "pull", "--study", str(study)])
    assert again.exit_code == 0 and "already in taxonomy.yaml" in again.output
    assert len(load_history(study / "taxonomy.yaml")) == 1


def run_pilot(path: Path, body, size=(80, 24)):
    from drivers.tui_support import run_coding_app

    return run_coding_app(path, body, size)


def test_a_code_added_in_the_tui_is_applied_saved_and_pulled_with_its_proposer(study):
    from drivers.tui_support import screen_text, status_text, wait_for

    from annotator.tui.messages import LabelRecorded
    from annotator.tui.new_code import NewCodeScreen
    from textual.widgets import Input

    ada = session(study, "ada")

    async def body(app, pilot, store, messages):
        await wait_for(pilot, lambda: app.screen.item_id == iid(6), what="item 6, the first uncoded one")
        await pilot.press("y")
        await wait_for(pilot, lambda: store.labels_for(iid(6)) == {"relevance": {"yes"}}, what="relevance")
        await pilot.press("1", "plus")  # in the Model Usage chord: the new code goes under it
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeScreen), what="the new-code dialog")
        assert "New code" in screen_text(app)
        await pilot.press(*"GPU", "space", *"driver")
        key = app.screen.query_one("#new-code-key", Input)
        await wait_for(pilot, lambda: key.value == "g", what="the suggested key")
        await pilot.press("tab", "tab", "tab")  # name -> under -> key -> definition
        await pilot.press(*"CUDA", "space", *"mismatch", "enter")
        await wait_for(pilot, lambda: any(isinstance(m, LabelRecorded) and m.item_id == iid(6) and m.dimension == "challenge"
                                          for m in messages), what="the new code applied")
        assert "saved: + GPU driver" in status_text(app)
        assert "GPU driver" in screen_text(app), "the codebook panel shows the new code"

    run_pilot(ada, body)

    with SessionStore(ada, readonly=True) as store:
        assert store.codebook_version == 2
        code = store.codebook.dimension("challenge").by_id["usage.gpu-driver"]
        assert (code.name, code.key, code.parent, code.definition) == ("GPU driver", "g", "usage", "CUDA mismatch")
        assert store.labels_for(iid(6)) == {"relevance": {"yes"}, "challenge": {"usage.gpu-driver"}}
        proposal = store.proposed_codes()[0]
        assert (proposal["code"], proposal["coder"], proposal["codebook_version"]) == ("usage.gpu-driver", "ada", 2)

    result = CliRunner().invoke(cli, ["taxonomy", "pull", str(ada), "--study", str(study), "--coder", "lead"])
    assert result.exit_code == 0, result.output
    assert 'challenge/usage.gpu-driver "GPU driver": proposed by ada on 1 items: octo/models#6' in result.output
    text = (study / "taxonomy.yaml").read_text()
    assert "# proposed by ada while coding" in text and "items: ada: octo/models#6" in text
    pulled = load_codebook(study / "taxonomy.yaml").dimension("challenge").by_id["usage.gpu-driver"]
    assert (pulled.parent, pulled.key, pulled.definition) == ("usage", "g", "CUDA mismatch")
    entry = load_history(study / "taxonomy.yaml")[-1]
    assert (entry["change"], entry["proposed_by"], entry["proposed_items"]) == ("add", ["ada"], {"ada": [iid(6)]})
    with SessionStore(ada, readonly=True) as store:
        assert store.codebook_versions()[-1]["study_hash"] == load_codebook(study / "taxonomy.yaml").hash
        assert store.labels_for(iid(6))["challenge"] == {"usage.gpu-driver"}
    with SessionStore(session(study, "bob"), readonly=True) as store:
        assert "usage.gpu-driver" in store.codebook.dimension("challenge").by_id


def test_the_new_code_dialog_opens_with_f6_and_cancels_with_escape(study):
    from drivers.tui_support import wait_for

    from annotator.tui.new_code import NewCodeScreen
    from annotator.tui.screens import CodingScreen

    ada = session(study, "ada")

    async def body(app, pilot, store, messages):
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeScreen), what="the dialog")
        await pilot.press(*"nothing")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CodingScreen), what="back to coding")
        keys = dict(app.screen.key_help())
        assert keys["F6 / +"] == "add a new code and apply it to this item"

    run_pilot(ada, body)
    with SessionStore(ada, readonly=True) as store:
        assert store.codebook_version == 1 and store.proposed_codes() == []


def test_a_key_taken_on_the_screen_is_refused_in_the_dialog(study):
    from drivers.tui_support import wait_for, widget_plain

    from annotator.tui.new_code import NewCodeScreen
    from textual.widgets import Input, Static

    async def body(app, pilot, store, messages):
        await pilot.press("plus")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeScreen), what="the dialog")
        dialog = app.screen
        await pilot.press(*"Yaml")
        dialog.query_one("#new-code-key", Input).value = "y"  # Relevant's key, on the same screen
        await pilot.press("enter")
        problem = dialog.query_one("#new-code-problem", Static)
        await wait_for(pilot, lambda: "already used by 'Relevant'" in widget_plain(problem), what="the refusal")
        assert app.screen is dialog

    run_pilot(session(study, "ada"), body)


def test_a_code_added_where_its_dimension_is_not_asked_is_kept_but_not_applied(study):
    from drivers.tui_support import status_text, wait_for

    from annotator.tui.new_code import NewCodeScreen

    async def body(app, pilot, store, messages):
        await pilot.press("left")  # from item 6, the first uncoded one
        await wait_for(pilot, lambda: app.screen.item_id == iid(5), what="item 5 (not relevant)")
        await pilot.press("plus")
        await wait_for(pilot, lambda: isinstance(app.screen, NewCodeScreen), what="the dialog")
        await pilot.press(*"Odd", "enter")
        await wait_for(pilot, lambda: store.proposed_codes(), what="the proposal saved")
        await wait_for(pilot, lambda: "not applied" in status_text(app), what="the explanation")
        assert store.labels_for(iid(5)) == {"relevance": {"no"}}
        assert store.codebook.dimension("challenge").by_id["odd"].key == "o"

    run_pilot(session(study, "ada"), body)


# --- the session file format ------------------------------------------------------------------


def test_a_session_from_before_m002_is_upgraded_keeping_everything(tmp_path, small_codebook, make_items):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    migrations.apply(db, stop_before="m002_proposed_codes")
    db["meta"].insert_all([{"key": "format", "value": "annotator-session"}, {"key": "coder", "value": "ada"}])
    db["codebooks"].insert({"version": 1, "hash": small_codebook.hash, "yaml": small_codebook.text,
                            "created_at": "2024-01-01T00:00:00.000Z", "note": "initial"})
    item = make_items(1)[0]
    db["items"].insert({**{k: item[k] for k in ("id", "repo", "number", "title", "body", "state")},
                        "position": 1, "labels": "[]", "comments": "[]", "comment_count": 0})
    db["labels"].insert({"item_id": iid(1), "dimension": "challenge", "code": "usage.api", "coder": "ada",
                         "at": "2024-01-01T00:00:00.000Z", "codebook_version": 1})
    conn.commit()
    conn.close()
    with SessionStore(path, readonly=True) as old:  # read without upgrading
        assert old.proposed_codes() == [] and old.codebook_versions()[0]["study_hash"] is None
    with SessionStore(path) as store:
        assert "proposed_codes" in store.db.table_names()
        assert store.all_labels() == {iid(1): {"challenge": {"usage.api"}}}
        assert store.codebook_versions()[0]["study_hash"] is None
        code = propose_code(store, NewCode("challenge", "GPU"))
        assert store.codebook_versions()[-1]["study_hash"] == small_codebook.hash
        assert code.parent is None


def test_the_core_does_not_import_textual():
    code = ("import sys, annotator.codebook.changes, annotator.codebook.edits, annotator.revision.apply; "
            "assert 'textual' not in sys.modules, 'textual imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
