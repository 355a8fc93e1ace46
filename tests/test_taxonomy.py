"""The codebook format: the default codebook, every validation error at the right FILE:LINE,
fuzzing (only UserError ever escapes), and the codebook hash."""

from __future__ import annotations

import json
import os
import re
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.errors import UserError
from annotator.codebook.model import (CODE_FIELDS, DIMENSION_FIELDS, TOP_FIELDS, load_codebook,
                                parse_codebook)

from drivers.core_support import DEFAULT_TAXONOMY, SMALL_TAXONOMY, TESTS

MARK = "# <- here"


def problems_of(text: str, source: str = "codebook.yaml") -> list[str]:
    with pytest.raises(UserError) as caught:
        parse_codebook(text, source)
    error = caught.value
    assert error.problems, f"no FILE:LINE problems in {error}"
    for problem in error.problems:
        assert re.match(rf"^{re.escape(source)}:\d+: \S", problem), problem
    return error.problems


def marked_line(text: str) -> int:
    """1-based number of the line carrying MARK: where the error must be reported."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(lines) == 1, "a case marks exactly one line"
    return lines[0]


def assert_one_problem_at_mark(text: str, *words: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"codebook.yaml:{marked_line(text)}: "), (problems[0], marked_line(text))
    for word in words:
        assert word in problems[0], (word, problems[0])
    return problems[0]


VALID = """\
name: Test codebook
dimensions:
  - id: relevance
    name: Relevant?
    kind: single
    codes:
      - id: "yes"
        name: Relevant
        key: "y"
      - id: "no"
        name: Not relevant
        key: "n"
  - id: challenge
    name: Challenge
    kind: multi
    requires: {relevance: ["yes"]}
    codes:
      - id: usage
        name: Model Usage
        key: "1"
        codes:
          - id: usage.loading
            name: Loading
            key: "a"
          - id: usage.api
            name: API misuse
            key: "b"
      - id: perf
        name: Performance
        key: "2"
"""


# -- the default codebook ----------------------------------------------------------------------


def test_default_codebook_validates_with_the_model_study_shape(default_codebook):
    assert [d.id for d in default_codebook.dimensions] == ["relevance", "challenge"]
    relevance, challenge = default_codebook.dimensions
    assert not relevance.multi and [c.id for c in relevance.codes] == ["ptm", "not-ptm", "unclear"]
    assert challenge.multi
    assert challenge.requires == {"relevance": ["ptm"]}
    assert len(challenge.codes) == 7
    sub_themes = [c for c in challenge.walk() if c.depth == 2]
    assert len(sub_themes) == 32
    assert all(c.definition for c in challenge.walk()), "every code has a definition"
    names = {c.name for c in challenge.codes}
    assert "Model Usage" in names and "Model Performance and Output Quality" in names
    assert "starting codebook" in default_codebook.text.lower()


def test_top_level_taxonomy_equals_the_bundled_default():
    top = TESTS.parent / "taxonomy.yaml"
    if not top.exists():
        pytest.skip("no top-level taxonomy.yaml in this checkout")
    assert top.read_text(encoding="utf-8") == DEFAULT_TAXONOMY.read_text(encoding="utf-8")


def test_small_fixture_and_valid_example_validate(small_codebook):
    assert [d.id for d in small_codebook.dimensions] == ["relevance", "challenge"]
    codebook = parse_codebook(VALID)
    challenge = codebook.dimension("challenge")
    # a sub-theme key only has to be unique among its siblings
    assert challenge.path_of("usage.api")[0].id == "usage"
    assert challenge.theme_of("usage.loading") == "usage"


# -- every error at the right line -------------------------------------------------------------


def test_unclosed_bracket_points_at_the_bracket():
    text = textwrap.dedent(f"""\
        name: T
        description: fine
        dimensions: [  {MARK}
          {{id: a, name: A, codes: [{{id: x, name: X, key: x}}]}},

        other: 1
        """)
    assert_one_problem_at_mark(text, "not valid YAML")


def test_unclosed_bracket_at_end_of_file():
    text = f"name: T\ndimensions: [a, b  {MARK}\n"
    assert_one_problem_at_mark(text, "not valid YAML")


def test_yaml_duplicate_mapping_key():
    text = VALID.replace('        key: "n"\n', f'        key: "n"\n        key: "m"  {MARK}\n')
    assert_one_problem_at_mark(text, "duplicate key", "key")


def test_yaml_duplicate_top_level_key():
    text = f"name: T\nname: U  {MARK}\ndimensions: []\n"
    assert_one_problem_at_mark(text, "duplicate key")


@pytest.mark.parametrize("where, old, new", [
    ("code", '        key: "n"\n', '        key: "n"\n        colour: red  {MARK}\n'),
    ("dimension", "    kind: multi\n", "    kind: multi\n    colour: red  {MARK}\n"),
    ("top", "dimensions:\n", "colour: red  {MARK}\ndimensions:\n"),
    ("sub-theme", '            key: "b"\n', '            key: "b"\n            defintion: typo  {MARK}\n'),
])
def test_unknown_field(where, old, new):
    text = VALID.replace(old, new.format(MARK=MARK), 1)
    problem = assert_one_problem_at_mark(text, "unknown field")
    assert "allowed:" in problem


def test_missing_code_name():
    text = VALID.replace('      - id: "no"\n        name: Not relevant\n', f'      - id: "no"  {MARK}\n')
    assert_one_problem_at_mark(text, "'no'", "has no 'name'")


def test_missing_dimension_name():
    text = VALID.replace("  - id: challenge\n    name: Challenge\n", f"  - id: challenge  {MARK}\n")
    assert_one_problem_at_mark(text, "challenge", "'name'")


def test_empty_name():
    text = VALID.replace("name: Performance", f"name: ''  {MARK}")
    assert_one_problem_at_mark(text, "empty 'name'")


def test_duplicate_code_id():
    text = VALID.replace("- id: perf", f"- id: usage  {MARK}")
    assert_one_problem_at_mark(text, "duplicate code id 'usage'")


def test_duplicate_code_id_across_levels():
    text = VALID.replace("- id: usage.api", f"- id: usage  {MARK}")
    assert_one_problem_at_mark(text, "duplicate code id 'usage'")


def test_duplicate_dimension_id():
    text = VALID.replace("  - id: challenge\n", f"  - id: relevance  {MARK}\n").replace(
        "requires: {relevance: [\"yes\"]}", "")
    problems = problems_of(text)
    assert any(p.startswith(f"codebook.yaml:{marked_line(text)}: duplicate dimension id") for p in problems), problems


def test_duplicate_key_among_top_level_siblings():
    text = VALID.replace('key: "n"', f'key: "y"  {MARK}')
    assert_one_problem_at_mark(text, "key 'y'", "already used")


def test_duplicate_key_among_sub_themes():
    text = VALID.replace('key: "b"', f'key: "a"  {MARK}')
    assert_one_problem_at_mark(text, "key 'a'", "usage.loading")


def test_duplicate_top_level_key_across_dimensions():
    text = VALID.replace('key: "2"', f'key: "n"  {MARK}')
    assert_one_problem_at_mark(text, "key 'n'", "relevance/no")


@pytest.mark.parametrize("key, action", [("?", "help"), ("[", "previous item"), ("/", "go to item")])
def test_key_colliding_with_a_tui_key(key, action):
    for old in ('key: "n"', 'key: "b"'):  # a theme and a sub-theme
        text = VALID.replace(old, f'key: "{key}"  {MARK}')
        assert_one_problem_at_mark(text, f"key '{key}'", action)


@pytest.mark.parametrize("key", ["A", "ab", "é", " "])
def test_key_not_one_lowercase_letter_or_digit(key):
    text = VALID.replace('key: "2"', f'key: "{key}"  {MARK}')
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith(f"codebook.yaml:{marked_line(text)}: ")
    assert "lowercase letter or digit" in problems[0] or "empty 'key'" in problems[0]


def test_depth_more_than_three():
    text = VALID.replace('            key: "a"\n', textwrap.indent(textwrap.dedent(f"""\
        key: "a"
        codes:
          - id: l3
            name: Level three
            key: "a"
            codes:  {MARK}
              - id: l4
                name: Level four
                key: "a"
        """), " " * 12))
    assert_one_problem_at_mark(text, "at most 3 levels")


def test_depth_three_is_allowed():
    text = VALID.replace('            key: "a"\n', textwrap.indent(textwrap.dedent("""\
        key: "a"
        codes:
          - id: l3
            name: Level three
            key: "a"
        """), " " * 12))
    codebook = parse_codebook(text)
    assert codebook.dimension("challenge").by_id["l3"].depth == 3


@pytest.mark.parametrize("kind", ["both", "Single", "multiple"])
def test_kind_not_single_or_multi(kind):
    text = VALID.replace("kind: multi", f"kind: {kind}  {MARK}")
    assert_one_problem_at_mark(text, "kind must be 'single' or 'multi'", kind)


def test_requires_unknown_dimension():
    text = VALID.replace('requires: {relevance: ["yes"]}', f'requires: {{screening: ["yes"]}}  {MARK}')
    assert_one_problem_at_mark(text, "'screening'", "not an earlier dimension")


def test_requires_unknown_code():
    text = VALID.replace('requires: {relevance: ["yes"]}', f'requires: {{relevance: ["maybe"]}}  {MARK}')
    assert_one_problem_at_mark(text, "'maybe'", "does not have")


def test_requires_block_style_points_at_the_dimension_entry():
    text = VALID.replace('    requires: {relevance: ["yes"]}\n',
                         f'    requires:\n      relevance:  {MARK}\n        - "maybe"\n')
    assert_one_problem_at_mark(text, "'maybe'")


def test_requires_that_is_not_a_list():
    text = VALID.replace('requires: {relevance: ["yes"]}', f'requires: {{relevance: 5}}  {MARK}')
    problems = problems_of(text)
    assert problems[0].startswith(f"codebook.yaml:{marked_line(text)}: ")


def test_every_problem_is_reported_not_just_the_first():
    text = VALID.replace('key: "n"', 'key: "?"').replace("kind: multi", "kind: many").replace(
        "- id: perf", "- id: usage")
    problems = problems_of(text)
    assert len(problems) == 3, problems
    assert sorted(int(p.split(":")[1]) for p in problems) == [12, 15, 28]


def test_not_a_mapping():
    for text in ("", "- a\n- b\n", "just text\n"):
        problems = problems_of(text)
        assert problems[0].startswith("codebook.yaml:1: ")


# -- files -------------------------------------------------------------------------------------


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_bytes(VALID.encode().replace(b"Not relevant", b"Not rel\xe9vant"))
    with pytest.raises(UserError) as caught:
        load_codebook(path)
    assert str(caught.value).startswith(f"{path}:11: ")
    assert "UTF-8" in str(caught.value)


def test_file_missing(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(UserError) as caught:
        load_codebook(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "annotator init" in str(caught.value)


def test_file_is_a_directory(tmp_path):
    with pytest.raises(UserError) as caught:
        load_codebook(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: ")
    assert "folder" in str(caught.value)


def test_load_names_the_file_in_every_problem(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(VALID.replace("kind: multi", "kind: both"), encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_codebook(path)
    assert caught.value.problems == [
        f"{path}:15: dimension 'challenge': kind must be 'single' or 'multi', not 'both'"]


def test_load_small_fixture_file():
    assert load_codebook(SMALL_TAXONOMY).dimension("challenge").requires == {"relevance": ["yes"]}


# -- fuzzing: only UserError ever escapes ------------------------------------------------------

FIELD_NAMES = sorted(TOP_FIELDS | DIMENSION_FIELDS | CODE_FIELDS) + ["multi", "single", "relevance"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=8) | st.sampled_from(["single", "multi", "?", "a", "yes", "relevance", ""]))
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=5), children, max_size=5),
    max_leaves=25,
)
# ANNOTATOR_FUZZ_EXAMPLES=5000 for a longer hunt than the default quick run.
FUZZ = settings(max_examples=int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def parses_or_user_error(text: str) -> None:
    try:
        parse_codebook(text, "fuzz.yaml")
    except UserError as error:
        assert all(p.startswith("fuzz.yaml:") for p in error.problems), error.problems


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_random_text(text):
    parses_or_user_error(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("abyn:-[]{}\"'?&*!|>#%@`, \n\t")), max_size=200))
def test_fuzz_yaml_punctuation(text):
    parses_or_user_error(text)


@FUZZ
@given(structures)
def test_fuzz_random_structures(data):
    parses_or_user_error(yaml.safe_dump(data, allow_unicode=True))
    parses_or_user_error(json.dumps(data))


def _replace_at(data, path, value):
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, prefix + (index,))


VALID_DATA = yaml.safe_load(VALID)
VALID_PATHS = [p for p in _paths(VALID_DATA) if p]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(VALID_PATHS), structures), min_size=1, max_size=3))
def test_fuzz_mutated_codebook(mutations):
    data = json.loads(json.dumps(VALID_DATA))
    for path, value in mutations:
        try:
            _replace_at(data, path, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed the path
    parses_or_user_error(yaml.safe_dump(data, allow_unicode=True))


# -- the hash ----------------------------------------------------------------------------------


def test_hash_ignores_comments_and_layout(default_codebook):
    text = default_codebook.text
    no_comments = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    as_json = json.dumps(yaml.safe_load(text), indent=7)  # JSON is YAML, laid out differently
    for other in (no_comments, as_json, "# a new comment\n" + text + "\n\n# the end\n"):
        reparsed = parse_codebook(other)
        assert reparsed.hash == default_codebook.hash
        assert reparsed.text == other  # the snapshot keeps the text verbatim


def test_hash_is_stable_across_runs(small_codebook):
    assert small_codebook.hash == load_codebook(SMALL_TAXONOMY).hash
    assert re.fullmatch(r"[0-9a-f]{16}", small_codebook.hash)


@pytest.mark.parametrize("old, new", [
    ("name: Loading", "name: Loading a model"),
    ('key: "b"', 'key: "c"'),
    ("- id: perf", "- id: performance"),
    ("kind: multi", "kind: single"),
    ('requires: {relevance: ["yes"]}', 'requires: {relevance: ["yes", "no"]}'),
    ("        key: \"2\"\n", "        key: \"2\"\n        definition: Output quality.\n"),
])
def test_hash_changes_when_a_code_changes(old, new):
    assert old in VALID
    assert parse_codebook(VALID.replace(old, new)).hash != parse_codebook(VALID).hash


def test_bom_and_windows_line_endings_keep_line_numbers(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    broken = VALID.replace("kind: multi", "kind: many")
    for raw in (b"\xef\xbb\xbf" + broken.encode(), broken.replace("\n", "\r\n").encode()):
        path.write_bytes(raw)
        with pytest.raises(UserError) as caught:
            load_codebook(path)
        assert [p.split(":")[1] for p in caught.value.problems] == ["15"]
    path.write_bytes(b"\xef\xbb\xbf" + VALID.replace("\n", "\r\n").encode())
    assert load_codebook(path).hash == parse_codebook(VALID).hash
