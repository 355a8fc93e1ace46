"""A study is a folder: taxonomy.yaml, corpus.db (the items), sessions/ (one file per coder).

    study/
      taxonomy.yaml       the codebook (annotator taxonomy check / show)
      corpus.db           every collected item, samples, assignments (annotator fetch / import / sample / assign)
      study.yaml          the study's stages (annotator/coding/stages.py); without it, one stage
      sessions/<coder>.db one self-contained file per coder (annotator code)
      merged.db           the coders' sessions merged, disagreements and final decisions (annotator merge / reconcile)
      sessions/<stage>/<coder>.db, merged/<stage>.db   the same, per stage, when study.yaml declares stages
      reports/            tables and figures (annotator report)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from annotator.errors import UserError
from annotator.files import os_error_message, write_atomic

CODER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def default_taxonomy_text() -> str:
    return resources.files("annotator").joinpath("data/taxonomy.yaml").read_text(encoding="utf-8")


def check_coder_name(coder: str | None) -> str:
    if not coder:
        raise UserError("no coder given: pass --coder NAME (or set ANNOTATOR_CODER).")
    if not CODER_NAME.fullmatch(coder):  # fullmatch: '$' would let "zed\n" through
        raise UserError(
            f"coder name {coder!r} is not usable as a file name: use letters, digits, '.', '_' or '-'."
        )
    return coder


@dataclass(frozen=True)
class Study:
    root: Path

    @property
    def taxonomy_path(self) -> Path:
        return self.root / "taxonomy.yaml"

    @property
    def corpus_path(self) -> Path:
        return self.root / "corpus.db"

    @property
    def sessions_dir(self) -> Path:
        return self.root / "sessions"

    @property
    def merged_path(self) -> Path:
        return self.root / "merged.db"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def session_path(self, coder: str) -> Path:
        coder = check_coder_name(coder)
        self.check_sessions_dir()
        return self.sessions_dir / f"{coder}.db"

    def session_paths(self) -> list[Path]:
        """Every session of the study, of every stage (sessions/*.db and sessions/<stage>/*.db):
        codebook changes reach them all. A stage's own sessions: Stage.session_paths."""
        self.check_sessions_dir()
        if not self.sessions_dir.is_dir():
            return []
        return sorted(self.sessions_dir.glob("*.db")) + sorted(self.sessions_dir.glob("*/*.db"))

    @property
    def study_file(self) -> Path:
        return self.root / "study.yaml"

    def merged_paths(self) -> list[Path]:
        """Every merged file of the study: merged.db and each stage's merged/<stage>.db."""
        staged = sorted((self.root / "merged").glob("*.db")) if (self.root / "merged").is_dir() else []
        return ([self.merged_path] if self.merged_path.is_file() else []) + staged

    def check_sessions_dir(self) -> None:
        """Refuse a sessions/ that is not a folder (a file, a link to nothing): every command
        that reads or makes sessions would otherwise fail obscurely or find none."""
        folder = self.sessions_dir
        if folder.is_symlink() and not folder.exists():
            raise UserError(f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist: "
                            "restore the folder it points to, or remove the link (sessions are made anew).")
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder} is a file, not the folder of coders' sessions: move it aside "
                            f"(for example to {folder.name}.bak) and run the command again.")

    def require(self) -> "Study":
        """Refuse a folder that is not a study, saying how to make one."""
        if not self.taxonomy_path.is_file():
            raise UserError(
                f"{self.root}: not a study folder (no taxonomy.yaml). "
                f"Create one with `annotator init {self.root}` or pass --study DIR."
            )
        return self

    @classmethod
    def init(cls, root: Path) -> "Study":
        """Scaffold a study folder with the default codebook; never overwrites anything.
        (`annotator init` adds study.yaml: annotator.coding.stages.write_default_study.)"""
        study = cls(root)
        try:
            if root.exists() and not root.is_dir():
                raise UserError(f"{root} is a file, not a folder: choose another place for the study.")
            study.check_sessions_dir()
            root.mkdir(parents=True, exist_ok=True)
            # each file whole or not at all: a full disk leaves no half codebook behind
            if not study.taxonomy_path.exists():
                write_atomic(study.taxonomy_path, default_taxonomy_text())
            study.sessions_dir.mkdir(exist_ok=True)
            readme = study.sessions_dir / "README.md"
            if not readme.exists():
                write_atomic(readme, SESSIONS_README)
        except OSError as error:
            raise UserError(os_error_message(error.filename or root, error)) from None
        return study


SESSIONS_README = """\
# sessions/

One SQLite file per coder (`<coder>.db`), made by `annotator assign` or on first
`annotator code --coder NAME`. Each file is self-contained: the coder's items, the codebook
snapshot, labels, memos, flags, the event log and where to resume. Copy it to a laptop, code
offline, copy it back. The .db files are data, not code: they are not committed to git.
"""
