"""The study's stages, read from study.yaml: which dimensions each stage asks, of which items.

A study runs in stages, as the model study did: every sampled issue is *screened* (is it
PTM-related?), then the relevant ones are coded *thematically* (which challenges?). study.yaml,
beside taxonomy.yaml, says so:

    stages:
      - id: screening
        asks: [relevance]
      - id: thematic
        asks: [challenge]
        of: "final:relevance=ptm"      # the items whose final relevance is ptm ...
        after: screening               # ... in the stage before (the default: the previous one)

Why a separate file: taxonomy.yaml is the codebook (what the codes mean; it is exchanged with
QDA tools as a .qdc file and versioned into every session), while the stages describe the
study's process (who codes what, when). Changing one must not change the other's hash.

Each stage has its own samples, rounds, assignments and sessions, and its own merged file:

    sessions/<stage>/<coder>.db    one self-contained blind file per coder and stage
    merged/<stage>.db              that stage's merge, disagreements and final decisions

A study without study.yaml is one implicit stage asking every dimension, with
sessions/<coder>.db and merged.db exactly as before stages existed.

In a stage, an item counts as coded when every dimension the stage asks of it has a code. A
``requires`` condition on a dimension the stage does not ask (challenge requires relevance=ptm,
asked in screening) holds by construction: the stage's items were drawn from the final codes
that meet it (``of``). See ``asked_codebook``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.errors import UserError

STUDY_FILE = "study.yaml"
STAGE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
STAGE_FIELDS = {"id", "name", "asks", "of", "after", "description"}
IMPLICIT = "coding"  # the id of the one stage of a study without study.yaml


@dataclass(frozen=True)
class Stage:
    id: str
    asks: tuple[str, ...]
    of: tuple[str, ...] = ()  # --where conditions (final:DIM=CODE on an earlier stage's codes)
    after: str | None = None
    name: str = ""
    implicit: bool = False  # no study.yaml: the old layout (sessions/<coder>.db, merged.db)

    @property
    def title(self) -> str:
        return self.name or self.id

    def sessions_dir(self, study) -> Path:
        return study.sessions_dir if self.implicit else study.sessions_dir / self.id

    def session_path(self, study, coder: str) -> Path:
        from annotator.study import check_coder_name

        if self.implicit:
            return study.session_path(coder)
        study.check_sessions_dir()
        return self.sessions_dir(study) / f"{check_coder_name(coder)}.db"

    def session_paths(self, study) -> list[Path]:
        study.check_sessions_dir()  # a file or a dangling link named sessions/: said, not "no sessions"
        folder = self.sessions_dir(study)
        return sorted(folder.glob("*.db")) if folder.is_dir() else []

    def merged_path(self, study) -> Path:
        return study.merged_path if self.implicit else study.root / "merged" / f"{self.id}.db"

    def final_dimensions(self) -> list[str]:
        """The dimensions of ``of``'s final: conditions (what this stage draws its items by)."""
        return [c.split("=", 1)[0].split("!", 1)[0].split(":", 1)[1].strip()
                for c in self.of if c.strip().startswith("final:")]


@dataclass
class Stages:
    stages: list[Stage]
    declared: bool  # from study.yaml (False: the implicit single stage)
    source: str = ""

    def __iter__(self):
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def get(self, stage_id: str | None) -> Stage:
        """The stage named, or the only one; a clear refusal otherwise."""
        if stage_id is None:
            if len(self.stages) == 1:
                return self.stages[0]
            raise UserError(f"this study has {len(self.stages)} stages ({', '.join(self.ids)}): "
                            "say which with --stage NAME.")
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        if not self.declared:
            raise UserError(f"--stage {stage_id}: this study declares no stages (no {STUDY_FILE}); "
                            f"leave --stage out, or declare stages in {STUDY_FILE}.")
        raise UserError(f"--stage {stage_id}: no such stage in {self.source} "
                        f"(stages: {', '.join(self.ids)}).")

    def asking(self, dimension: str) -> Stage | None:
        """The stage that asks ``dimension`` (whose merged file holds its final codes)."""
        return next((s for s in self.stages if dimension in s.asks), None)

    def before(self, stage: Stage) -> Stage | None:
        return next((s for s in self.stages if s.id == stage.after), None) if stage.after else None


# --- the codebook as a stage sees it -----------------------------------------------------------

def asked_codebook(codebook, asks: list[str] | tuple[str, ...] | None):
    """The codebook restricted to the dimensions a stage asks (None: every dimension).

    ``requires`` on a dimension the stage does not ask is dropped: the stage's items were drawn
    by that condition, so it holds for each of them. The codebook's text stays the whole YAML.
    """
    if asks is None:
        return codebook
    wanted = set(asks)
    kept = []
    for dimension in codebook.dimensions:
        if dimension.id not in wanted:
            continue
        requires = {dim: codes for dim, codes in dimension.requires.items() if dim in wanted}
        if requires != dimension.requires:
            dimension = dataclasses.replace(dimension, requires=requires)
        kept.append(dimension)
    if not kept:
        return codebook  # the stage's dimensions are gone from this codebook: do not hide everything
    return dataclasses.replace(codebook, dimensions=kept)


# --- reading study.yaml --------------------------------------------------------------------------

def implicit_stages(codebook) -> Stages:
    return Stages([Stage(IMPLICIT, tuple(d.id for d in codebook.dimensions), implicit=True)], declared=False)


_CACHE: dict[tuple, Stages] = {}


def load_stages(study, codebook=None) -> Stages:
    """The study's stages: study.yaml if there is one, else one stage asking every dimension.

    Read once per version of the two files: a command asks for the stages of each sample it
    looks at, and reading taxonomy.yaml costs about 0.1 s each time."""
    from annotator.codebook.model import load_codebook

    path = study.root / STUDY_FILE
    key = (str(path.absolute()), _version(path), _version(study.taxonomy_path))
    if codebook is None and key in _CACHE:
        return _CACHE[key]
    if codebook is None:
        codebook = load_codebook(study.taxonomy_path)
    if not path.is_file():
        _CACHE[key] = implicit_stages(codebook)
        return _CACHE[key]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8 text; save it as UTF-8.")
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror}).")
    stages = parse_stages(text, str(path), codebook)
    _CACHE[key] = stages
    return stages


def _version(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def parse_stages(text: str, source: str, codebook) -> Stages:
    """Parse and check study.yaml against the codebook; every problem as FILE:LINE: message."""
    from ruamel.yaml.error import YAMLError

    from annotator.codebook.model import _line, _Problems, _yaml

    problems = _Problems(source)
    try:
        data = _yaml().load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problems.add(mark.line if mark else None, f"not valid YAML: {getattr(error, 'problem', error)}")
        raise UserError(f"{source} is not a valid study file:", problems=problems.lines)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(None, "study.yaml must be a mapping with a list 'stages'")
        raise UserError(f"{source} is not a valid study file:", problems=problems.lines)
    for name in data:
        if name != "stages":
            problems.add(_line(data, name), f"unknown field '{name}' (allowed: stages)")
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        problems.add(_line(data, "stages"), "study.yaml needs a non-empty list 'stages'")
        raise UserError(f"{source} is not a valid study file:", problems=problems.lines)
    dimensions = {d.id: d for d in codebook.dimensions}
    stages: list[Stage] = []
    asked_by: dict[str, str] = {}
    for index, raw in enumerate(raw_stages):
        line = raw_stages.lc.item(index)[0] if hasattr(raw_stages, "lc") else None
        if not isinstance(raw, dict):
            problems.add(line, "each stage must be a mapping with id and asks")
            continue
        stage = _parse_stage(raw, problems, stages, dimensions, asked_by, _line)
        if stage is not None:
            stages.append(stage)
    if problems.lines:
        raise UserError(f"{source} is not a valid study file:", problems=problems.lines)
    return Stages(stages, declared=True, source=source)


def _as_list(value: Any) -> list | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    return None


def _parse_stage(raw: dict, problems, earlier: list[Stage], dimensions: dict, asked_by: dict[str, str],
                 line_of) -> Stage | None:
    from annotator.collect.where import parse_where

    stage_id = str(raw.get("id") or "").strip()
    what = f"stage '{stage_id or '?'}'"
    for name in raw:
        if name not in STAGE_FIELDS:
            problems.add(line_of(raw, name), f"{what}: unknown field '{name}' (allowed: {', '.join(sorted(STAGE_FIELDS))})")
    if not stage_id:
        problems.add(line_of(raw), "a stage has no 'id'")
    elif not STAGE_ID.match(stage_id):
        problems.add(line_of(raw, "id"), f"{what}: id must be lowercase letters, digits, '_' or '-' "
                                         "(it names a folder: sessions/<stage>/)")
    elif any(s.id == stage_id for s in earlier):
        problems.add(line_of(raw, "id"), f"duplicate stage id '{stage_id}'")
    asks = _as_list(raw.get("asks"))
    if not asks:
        problems.add(line_of(raw, "asks"), f"{what} needs 'asks': the dimensions it codes, e.g. [relevance]")
        asks = []
    for dim in asks:
        if dim not in dimensions:
            problems.add(line_of(raw, "asks"), f"{what} asks '{dim}', which taxonomy.yaml does not have "
                                               f"(dimensions: {', '.join(dimensions)})")
        elif dim in asked_by:
            problems.add(line_of(raw, "asks"), f"{what} asks '{dim}', which stage '{asked_by[dim]}' asks already")
        else:
            asked_by[dim] = stage_id
    after = raw.get("after")
    if after is not None:
        after = str(after)
        if not any(s.id == after for s in earlier):
            problems.add(line_of(raw, "after"), f"{what}: 'after' names '{after}', which is not an earlier stage")
    of_raw = raw.get("of")
    of = _as_list(of_raw) if of_raw is not None else []
    if of is None:
        problems.add(line_of(raw, "of"), f"{what}: 'of' must be a condition such as \"final:relevance=ptm\" "
                                         "(or a list of them)")
        of = []
    if of and after is None:
        after = earlier[-1].id if earlier else None
        if after is None:
            problems.add(line_of(raw, "of"), f"{what}: the first stage cannot select by 'of' (no stage before it)")
    before = next((s for s in earlier if s.id == after), None)
    for text in of:
        try:
            condition = parse_where(text)
        except UserError as error:
            problems.add(line_of(raw, "of"), f"{what}: 'of': {error}")
            continue
        if not condition.is_final:
            continue
        dim = condition.field.split(":", 1)[1]
        if dim not in dimensions:
            problems.add(line_of(raw, "of"), f"{what}: 'of' names dimension '{dim}', which taxonomy.yaml does not have")
        elif before is not None and dim not in _asked_up_to(before, earlier):
            problems.add(line_of(raw, "of"), f"{what}: 'of' uses the final codes of '{dim}', which stage "
                                             f"'{before.id}' (or one before it) does not ask")
        else:
            unknown = [v for v in condition.values if v not in dimensions[dim].by_id]
            if unknown:
                problems.add(line_of(raw, "of"), f"{what}: 'of': '{dim}' has no code '{unknown[0]}'")
    for dim in asks:
        dimension = dimensions.get(dim)
        for required in (dimension.requires if dimension else {}):
            if required in asks:
                continue
            if before is None or required not in _asked_up_to(before, earlier):
                problems.add(line_of(raw, "asks"),
                             f"{what} asks '{dim}', which requires '{required}': ask '{required}' in this "
                             "stage or in an earlier one it follows (after:)")
            elif not any(text.startswith(f"final:{required}") for text in of):
                problems.add(line_of(raw, "of"),
                             f"{what} asks '{dim}', which is only asked when '{required}' is "
                             f"{', '.join(dimension.requires[required])}: select the items with "
                             f"of: \"final:{required}={','.join(dimension.requires[required])}\"")
    name = raw.get("name")
    return Stage(stage_id, tuple(asks), tuple(of), after, str(name).strip() if name else "")


def _asked_up_to(stage: Stage, earlier: list[Stage]) -> set[str]:
    """Every dimension asked by ``stage`` and the stages it follows."""
    asked, seen = set(), set()
    by_id = {s.id: s for s in earlier}
    while stage is not None and stage.id not in seen:
        seen.add(stage.id)
        asked.update(stage.asks)
        stage = by_id.get(stage.after) if stage.after else None
    return asked


def stage_of(study, stage_id: str | None, codebook=None) -> Stage:
    """The stage named by --stage (or the only one)."""
    return load_stages(study, codebook).get(stage_id)


def write_default_study(study) -> Path | None:
    """`annotator init`: study.yaml with screening and thematic stages for the study's codebook.
    Not for a begun study without stages (sessions or a merge already made): stages change
    where sessions and merges live, so it keeps its one-stage layout."""
    from annotator.codebook.model import load_codebook

    begun = study.merged_path.exists() or any(study.sessions_dir.glob("*.db"))
    if study.study_file.exists() or begun:
        return None
    text = default_study_text(load_codebook(study.taxonomy_path))
    if text is None:
        return None
    from annotator.files import write_atomic

    write_atomic(study.study_file, text)
    return study.study_file


def default_study_text(codebook) -> str | None:
    """study.yaml for a codebook whose second dimension requires the first (screening, then
    thematic coding of the relevant items), as `annotator init` writes it; None otherwise."""
    dims = codebook.dimensions
    screening = next((d for d in dims if not d.requires and not d.multi), None)
    thematic = next((d for d in dims if screening and screening.id in d.requires), None)
    if screening is None or thematic is None:
        return None
    codes = ",".join(thematic.requires[screening.id])
    return STUDY_TEMPLATE.format(screening=screening.id, thematic=thematic.id, codes=codes)


STUDY_TEMPLATE = """\
# The study's stages, in order. taxonomy.yaml says what the codes mean; this file says who
# codes what, when. Each stage has its own samples, rounds, assignments, sessions
# (sessions/<stage>/<coder>.db) and merged file (merged/<stage>.db).
#
#   annotator sample --stage screening ...      draw the issues to screen
#   annotator assign SAMPLE --stage screening --coders ana,ben --rounds 100,100,rest
#   annotator code --stage screening --coder ana
#   annotator merge --stage screening; annotator reconcile --stage screening
#   annotator sample --stage thematic --all     the relevant ones, from screening's final codes
#   annotator status                            where the study stands, and what to run next
#
# Fields: id (a folder name), asks (dimensions of taxonomy.yaml), of (which items: conditions
# on an earlier stage's final codes), after (the stage it follows; default: the previous one).

stages:
  - id: screening
    asks: [{screening}]
  - id: thematic
    asks: [{thematic}]
    of: "final:{screening}={codes}"
    after: screening
"""


def stage_of_sample(study, corpus, sample_name: str, stage_id: str | None = None, codebook=None):
    """The stage a sample belongs to: the one it was drawn for, else the study's first stage.
    ``stage_id`` (--stage) must agree with it."""
    stages = load_stages(study, codebook)
    if corpus.sample(sample_name) is None:
        corpus.sample_members(sample_name)  # the refusal naming the samples there are
    recorded = corpus.sample_stages().get(sample_name)
    stage = stages.get(recorded) if recorded and stages.declared else stages.stages[0]
    if stage_id is not None and stages.get(stage_id).id != stage.id:
        raise UserError(f"sample {sample_name!r} belongs to stage '{stage.id}', not '{stage_id}': "
                        f"draw a sample for '{stage_id}' with `annotator sample --stage {stage_id}`.")
    return stage
