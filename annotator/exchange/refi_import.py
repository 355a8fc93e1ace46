"""A REFI-QDA project coded in a QDA tool becomes coders' sessions: `annotator import-qdpx`.

A team that coded in NVivo, ATLAS.ti, MAXQDA or QualCoder (for instance on sources annotator
exported) brings its codings here to measure agreement and reconcile. Each user's codings on
text sources become that coder's session (sessions/<user>.db), written through SessionStore:

- a source is matched to a study item by its "item" variable, else by its name (the item id, or
  the id made safe as annotator's export writes it: "owner_repo#12 title"), else by a GitHub
  issue URL in its "url" variable, its description or its name;
- a code is matched by the GUID annotator's export gave it, else by its name (a name found in
  several dimensions is settled by the folder above it, named like the dimension);
- a selection on part of a text counts for the whole item; who coded is the Coding's
  creatingUser, else the selection's; a selection's Description, and notes attached to the
  source or selection (NoteRef, or NVivo's Links), are that user's memo on the item;
- a selection on part of a text that lies within the item's body or one of its comments is
  also a quote (evidence) for each code it carries, by that user: its positions are read in the
  text annotator exports for the item (issue_text) when the source holds that text, else the
  passage is looked for there (found once, or not placed); see ``place_quote``. A selection
  whose positions fall outside its source's text stops the import (nothing is written);
- the Sets annotator writes for flags ("unsure: ana") give the flags back;
- the user "final" (annotator's reconciled codes) is left out unless asked for.

Nothing is written if a session to write already exists; what did not match is reported.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from annotator.codebook.model import Codebook, load_codebook
from annotator.errors import UserError
from annotator.exchange.refi import FINAL_USER, FLAG_SET, exported_characters, guid, safe_id
from annotator.study import CODER_NAME, Study
from annotator.textsafe import clean, clean_line

_GITHUB_ISSUE = re.compile(r"github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/(?:issues|pull)/(\d+)")
SHOWN = 12  # unmatched sources and codes listed in a report; the rest are counted


@dataclass
class QdpxImport:
    sessions: dict[str, Path] = field(default_factory=dict)  # coder -> session written (or to write)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # coder -> items, codes, memos, flags
    sources: int = 0
    matched_sources: int = 0
    unmatched_sources: list[str] = field(default_factory=list)
    unmatched_codes: dict[str, int] = field(default_factory=dict)  # code path -> codings dropped
    skipped_users: list[str] = field(default_factory=list)
    partial_selections: int = 0
    unplaced_quotes: int = 0  # codings on part of a text not within the item's body or a comment
    other_sources: int = 0  # PDF, picture, audio, video: not read
    problems: list[str] = field(default_factory=list)  # units left out (e.g. two codes in a single-choice dimension)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report, one line each."""
        out = [f"{self.matched_sources} of {self.sources} text sources matched to the study's items."]
        for coder, count in self.counts.items():
            out.append(f"  {coder}: {count['items']} items, {count['codes']} codes, {count['memos']} memos, "
                       f"{count['flags']} flags, {count.get('quotes', 0)} quotes -> {self.sessions[coder]}")
        if self.partial_selections:
            out.append(f"{self.partial_selections} selections cover part of a text; each counts for its whole item, "
                       "and within the body or a comment is a quote for its codes.")
        if self.unplaced_quotes:
            out.append(f"{self.unplaced_quotes} codings on part of a text could not be placed in the item's body or "
                       "a comment (the title, a comment's heading, or text that is not the item's): kept as codes, "
                       "not as quotes.")
        if self.unmatched_sources:
            out.append(f"{len(self.unmatched_sources)} sources match no item (by item variable, name or URL):")
            out += [f"  - {name}" for name in self.unmatched_sources[:SHOWN]]
            if len(self.unmatched_sources) > SHOWN:
                out.append(f"  ... and {len(self.unmatched_sources) - SHOWN} more")
        if self.unmatched_codes:
            out.append(f"{len(self.unmatched_codes)} codes match none of the codebook's (their codings are left out; "
                       "add them to taxonomy.yaml or rename them to match):")
            for name, count in sorted(self.unmatched_codes.items())[:SHOWN]:
                out.append(f"  - {name} ({count} codings)")
            if len(self.unmatched_codes) > SHOWN:
                out.append(f"  ... and {len(self.unmatched_codes) - SHOWN} more")
        if self.other_sources:
            out.append(f"{self.other_sources} sources are not text (PDF, picture, audio, video) and were not read.")
        for user in self.skipped_users:
            out.append(f"user '{user}' left out" + (" (annotator's final codes; --include-final takes them)"
                                                   if user == FINAL_USER else ""))
        out += [f"left out: {problem}" for problem in self.problems]
        out += [f"warning: {warning}" for warning in self.warnings]
        return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: ET.Element, name: str) -> str:
    for child in _children(element, name):
        return clean(child.text or "").strip()
    return ""


class _Project:
    """project.qde parsed, and the files of its sources folder."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.archive = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise UserError(f"{path}: no such file.")
        except (OSError, zipfile.BadZipFile) as error:
            raise UserError(f"{path}: not a .qdpx file (a zip holding project.qde): {error}.")
        names = self.archive.namelist()
        qde = [n for n in names if n.lower().endswith(".qde") and "/" not in n.strip("/")]
        if not qde:
            raise UserError(f"{path}: holds no project.qde; not a REFI-QDA project.")
        try:
            self.root = ET.fromstring(self.archive.read("project.qde" if "project.qde" in qde else qde[0]))
        except ET.ParseError as error:
            raise UserError(f"{path}: project.qde is not well-formed XML ({error}).")
        if _local(self.root.tag) != "Project":
            raise UserError(f"{path}: project.qde holds <{_local(self.root.tag)}>, not a REFI-QDA <Project>.")
        self.files = {n.lower(): n for n in names}

    def source_text(self, source: ET.Element) -> str | None:
        """A text source's text: its file in the sources folder, else its PlainTextContent."""
        text = self.text(source.get("plainTextPath"))
        if text is None:
            text = next((child.text or "" for child in _children(source, "PlainTextContent")), None)
        return text

    def text(self, internal_path: str | None) -> str | None:
        """A source's text from 'internal://<file>' (the sources folder may be Sources or sources)."""
        if not internal_path or not internal_path.startswith("internal://"):
            return None
        name = internal_path[len("internal://"):].lstrip("/")
        found = self.files.get(f"sources/{name}".lower())
        if found is None:
            return None
        return self.archive.read(found).decode("utf-8", errors="replace")

    def section(self, name: str) -> list[ET.Element]:
        return [child for element in _children(self.root, name) for child in element]

    def close(self) -> None:
        self.archive.close()


def _code_map(project: _Project, codebook: Codebook) -> tuple[dict[str, tuple[str, str] | None], dict[str, str]]:
    """Code GUID -> (dimension, code) in the study's codebook (None: no match), and GUID -> path."""
    ours = {guid("code", d.id, c.id): (d.id, c.id) for d in codebook.dimensions for c in d.walk()}
    by_name: dict[str, list[tuple[str, str]]] = {}
    for dimension in codebook.dimensions:
        for code in dimension.walk():
            for key in {code.name.strip().casefold(), code.id}:
                by_name.setdefault(key, []).append((dimension.id, code.id))
    dimension_names = {d.id: {d.id.casefold(), d.name.strip().casefold()} for d in codebook.dimensions}
    mapping: dict[str, tuple[str, str] | None] = {}
    paths: dict[str, str] = {}

    def visit(element: ET.Element, trail: list[str]) -> None:
        name = clean_line(element.get("name") or "").strip()
        code_guid = element.get("guid") or ""
        paths[code_guid] = " > ".join([*trail, name])
        if code_guid in ours:
            mapping[code_guid] = ours[code_guid]
        else:
            candidates = list(dict.fromkeys(by_name.get(name.casefold(), [])))
            if len(candidates) > 1:
                above = {t.casefold() for t in trail}
                candidates = [c for c in candidates if dimension_names[c[0]] & above]
            mapping[code_guid] = candidates[0] if len(candidates) == 1 else None
        for child in _children(element, "Code"):
            visit(child, [*trail, name])

    for book in _children(project.root, "CodeBook"):
        for codes in _children(book, "Codes"):
            for code in _children(codes, "Code"):
                visit(code, [])
    return mapping, paths


class _Items:
    """The study's item ids (corpus.db and sessions), findable by id, safe id or issue URL."""

    def __init__(self, study: Study):
        from annotator.coding.session import SessionStore

        self.ids: list[str] = []
        if study.corpus_path.is_file():
            from annotator.collect.corpus import CorpusStore

            with CorpusStore(study.corpus_path) as corpus:
                self.ids = [row[0] for row in corpus.item_keys()]
        known = set(self.ids)
        for path in study.session_paths():
            try:
                session = SessionStore(path, readonly=True)
            except UserError:
                continue
            try:
                for item_id in session.item_ids():
                    if item_id not in known:
                        known.add(item_id)
                        self.ids.append(item_id)
            finally:
                session.close()
        self.known = known
        self.by_safe = {safe_id(i): i for i in self.ids}

    def find(self, text: str | None) -> str | None:
        text = (text or "").strip()
        if not text:
            return None
        if text in self.known:
            return text
        head = text.split(" ", 1)[0]
        for candidate in (head, safe_id(head)):
            if candidate in self.known:
                return candidate
            if candidate in self.by_safe:
                return self.by_safe[candidate]
        return self.from_url(text)

    def from_url(self, text: str | None) -> str | None:
        for repo, number in _GITHUB_ISSUE.findall(text or ""):
            item_id = f"{repo}#{number}"
            if item_id in self.known:
                return item_id
        return None


def _coder_name(user: str) -> str:
    """A user name as a coder name (a file name): other characters become '-'."""
    if CODER_NAME.match(user):
        return user
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", user).strip("-.") or "user"
    return name[:64] if name[0].isalnum() else f"u{name}"[:64]


def read_qdpx(path: Path | str, study: Study, codebook: Codebook, *, include_final: bool = False,
              users: dict[str, str] | None = None) -> tuple[QdpxImport, dict, dict[str, str | None]]:
    """Read a project: (report, per coder {item: {"labels", "memos", "flags"}}, item rounds)."""
    project = _Project(Path(path))
    try:
        return _read(project, study, codebook, include_final, users)
    finally:
        project.close()


def _read(project: _Project, study: Study, codebook: Codebook, include_final: bool,
          wanted_users: dict[str, str] | None):
    report = QdpxImport()
    user_names = {u.get("guid"): clean_line(u.get("name") or "").strip() or f"user-{(u.get('guid') or '')[:8]}"
                  for u in project.section("Users")}
    codes, code_paths = _code_map(project, codebook)
    variables = {v.get("guid"): (v.get("name") or "").strip().casefold() for v in project.section("Variables")}
    items = _Items(study)
    data: dict[str, dict[str, dict]] = {}  # user name -> item -> {"labels", "memos", "flags"}
    rounds: dict[str, str | None] = {}
    source_items: dict[str, str] = {}  # source guid -> item
    note_targets: dict[str, tuple[str, str | None]] = {}  # note guid -> (item, user)
    selection_targets: dict[str, tuple[str, str | None]] = {}  # selection guid -> (item, user)

    def user_of(*elements: ET.Element) -> str:
        for element in elements:
            for attribute in ("creatingUser", "modifyingUser"):
                value = element.get(attribute)
                if value:
                    return user_names.get(value) or f"user-{value[:8]}"
        return "unknown"

    def entry(user: str, item_id: str) -> dict:
        return data.setdefault(user, {}).setdefault(item_id, {"labels": {}, "memos": [], "flags": set(), "quotes": []})

    def add_memo(user: str, item_id: str, text: str) -> None:
        if text and text not in entry(user, item_id)["memos"]:
            entry(user, item_id)["memos"].append(text)

    def add_coding(coding: ET.Element, fallback: str, item_id: str, passage: dict | None = None) -> None:
        # Who applied the code, when the tool says so; else who made the selection.
        user = user_of(coding) if (coding.get("creatingUser") or coding.get("modifyingUser")) else fallback
        target = next((ref.get("targetGUID") for ref in _children(coding, "CodeRef")), None)
        match = codes.get(target or "")
        if match is None:
            name = code_paths.get(target or "", f"(unknown code {target})")
            report.unmatched_codes[name] = report.unmatched_codes.get(name, 0) + 1
            return
        entry(user, item_id)["labels"].setdefault(match[0], set()).add(match[1])
        if passage is not None:  # placed in the item's text once its item is read (place_quote)
            entry(user, item_id)["quotes"].append({**passage, "dimension": match[0], "code": match[1]})

    for source in project.section("Sources"):
        kind = _local(source.tag)
        if kind != "TextSource":
            report.other_sources += 1
            continue
        report.sources += 1
        values = {}
        for value in _children(source, "VariableValue"):
            ref = next((r.get("targetGUID") for r in _children(value, "VariableRef")), None)
            text = next((clean(v.text or "").strip() for v in value if _local(v.tag).endswith("Value")), "")
            if ref in variables:
                values[variables[ref]] = text
        name = clean_line(source.get("name") or "")
        item_id = (items.find(values.get("item")) or items.find(name) or items.from_url(values.get("url"))
                   or items.from_url(_child_text(source, "Description")))
        if item_id is None:
            report.unmatched_sources.append(name or source.get("guid") or "(no name)")
            continue
        report.matched_sources += 1
        source_items[source.get("guid") or ""] = item_id
        if values.get("round"):
            rounds[item_id] = values["round"]
        length, source_text = None, None
        for selection in _children(source, "PlainTextSelection"):
            owner = user_of(selection)
            selection_targets[selection.get("guid") or ""] = (item_id, owner)
            if length is None:
                source_text = project.source_text(source)
                length = len(source_text) if source_text is not None else -1
            try:
                start, end = int(selection.get("startPosition", 0)), int(selection.get("endPosition", 0))
            except ValueError:
                start, end = 0, 0
            if length >= 0 and not 0 <= start <= end <= length:
                raise UserError(f"{project.path}: selection {selection.get('guid') or '(no guid)'} on source "
                                f"'{name}' runs from {start} to {end}, outside its text ({length} characters: 0 to {length}); "
                                "nothing was written. Correct or remove that selection in the QDA tool and "
                                "export the project again.")
            passage = None
            if length >= 0 and (start > 0 or end < length):
                report.partial_selections += 1
                if end > start:
                    passage = {"text": source_text, "start": start, "end": end, "guid": selection.get("guid")}
            add_memo(owner, item_id, _child_text(selection, "Description"))
            for coding in _children(selection, "Coding"):
                add_coding(coding, owner, item_id, passage)
            for ref in _children(selection, "NoteRef"):
                note_targets[ref.get("targetGUID") or ""] = (item_id, owner)
        for coding in _children(source, "Coding"):  # a code on the whole source
            add_coding(coding, user_of(source), item_id)
        for ref in _children(source, "NoteRef"):
            note_targets[ref.get("targetGUID") or ""] = (item_id, None)
    for link in project.section("Links"):  # NVivo: a Link from a Note to a selection
        target = selection_targets.get(link.get("targetGUID") or "") or selection_targets.get(link.get("originGUID") or "")
        if target:
            other = link.get("originGUID") if link.get("targetGUID") in selection_targets else link.get("targetGUID")
            note_targets.setdefault(other or "", target)
    for note in project.section("Notes"):
        target = note_targets.get(note.get("guid") or "")
        if target is None:
            continue
        item_id, owner = target
        text = _child_text(note, "PlainTextContent") or clean(project.text(note.get("plainTextPath")) or "").strip()
        user = user_of(note) if (note.get("creatingUser") or note.get("modifyingUser")) else (owner or "unknown")
        add_memo(user, item_id, text)
    for member_set in project.section("Sets"):
        found = FLAG_SET.match(clean_line(member_set.get("name") or "").strip())
        if not found:
            continue
        flag, user = found.groups()
        for member in _children(member_set, "MemberSource"):
            item_id = source_items.get(member.get("targetGUID") or "")
            if item_id:
                entry(user, item_id)["flags"].add(flag)

    # Which users become which coders.
    coders: dict[str, dict[str, dict]] = {}
    for user, by_item in data.items():
        if wanted_users is not None:
            if user not in wanted_users:
                report.skipped_users.append(user)
                continue
            coder = wanted_users[user]
        elif user == FINAL_USER and not include_final:
            report.skipped_users.append(user)
            continue
        else:
            coder = _coder_name(user)
        if coder in coders:
            raise UserError(f"{project.path}: users '{user}' and another both become coder '{coder}'; "
                            "name them apart with --user NAME=CODER.")
        coders[coder] = by_item
    if wanted_users is not None:
        missing = sorted(set(wanted_users) - set(data))
        if missing:
            known = ", ".join(sorted(data)) or "none"
            raise UserError(f"{project.path}: no codings by user '{missing[0]}' (users with codings: {known}).")
    _check_units(coders, codebook, report)
    return report, coders, rounds


def _check_units(coders: dict[str, dict[str, dict]], codebook: Codebook, report: QdpxImport) -> None:
    """Leave out a single-choice dimension given two codes (and say so); warn where a dimension
    was coded although its condition does not hold."""
    for coder, by_item in coders.items():
        for item_id, found in by_item.items():
            labels = found["labels"]
            for dimension in codebook.dimensions:
                codes = labels.get(dimension.id)
                if not codes:
                    continue
                if not dimension.multi and len(codes) > 1:
                    report.problems.append(f"{coder} on {item_id}: '{dimension.id}' takes one code, got "
                                           f"{len(codes)} ({', '.join(sorted(codes))})")
                    labels.pop(dimension.id)
            for dimension in codebook.dimensions:
                if labels.get(dimension.id) and not dimension.applies(labels):
                    report.warnings.append(f"{coder} on {item_id}: '{dimension.id}' is coded although its "
                                           "condition does not hold (kept; the merge will not ask it)")


def import_qdpx(path: Path | str, study: Study, *, include_final: bool = False, users: dict[str, str] | None = None,
                strict: bool = False, dry_run: bool = False, stage=None) -> QdpxImport:
    """Read the project and write one session per coder (all or nothing). ``stage``
    (annotator.coding.stages.Stage): the sessions are that stage's (sessions/<stage>/)."""
    from annotator.coding.labels_import import _files_of, _known_items
    from annotator.coding.session import SessionStore

    study.require()
    session_path = study.session_path if stage is None else (lambda coder: stage.session_path(study, coder))
    codebook = load_codebook(study.taxonomy_path)
    report, coders, rounds = read_qdpx(path, study, codebook, include_final=include_final, users=users)
    if not coders:
        raise UserError(f"{path}: no codings, memos or flags on the study's items to import." +
                        ("\n" + "\n".join(report.lines()) if report.sources else ""))
    existing = [session_path(coder) for coder in coders if session_path(coder).exists()]
    if existing:
        raise UserError(f"{existing[0]} already exists; nothing was written. Move it away, or import that "
                        "user as another coder with --user NAME=CODER.")
    if strict and (report.unmatched_sources or report.unmatched_codes or report.problems):
        raise UserError(f"{path}: not everything matched the study (--strict); nothing was written:",
                        problems=report.lines())
    wanted = {item_id for by_item in coders.values() for item_id in by_item}
    found, session_rounds = _known_items(study, wanted, None)
    layouts = {item_id: ItemText(found[item_id]) for by_item in coders.values() for item_id, entry in by_item.items()
               if entry["quotes"] and item_id in found}
    for coder, by_item in coders.items():
        for item_id, entry in by_item.items():
            entry["quotes"] = _placed_quotes(entry, layouts.get(item_id), report)
        report.sessions[coder] = session_path(coder)
        report.counts[coder] = {"items": len(by_item),
                                "codes": sum(len(c) for f in by_item.values() for c in f["labels"].values()),
                                "memos": sum(1 for f in by_item.values() if f["memos"]),
                                "flags": sum(len(f["flags"]) for f in by_item.values()),
                                "quotes": sum(len(f["quotes"]) for f in by_item.values())}
    if dry_run:
        return report
    temporaries: dict[str, Path] = {}
    try:
        for coder, by_item in coders.items():
            ordered = [item_id for item_id in by_item if item_id in found]
            temporary = session_path(coder).with_name(f".{coder}.db.importing-{os.getpid()}")
            for leftover in _files_of(temporary):
                leftover.unlink(missing_ok=True)
            temporaries[coder] = temporary
            store = SessionStore.create(temporary, coder=coder, codebook=codebook, items=[found[i] for i in ordered],
                                        rounds={i: rounds.get(i) or session_rounds.get(i) for i in ordered},
                                        study=str(study.root), stage=stage)
            try:
                store.db.execute("PRAGMA synchronous = OFF")  # synced once below, before it is moved in
                for item_id in ordered:
                    entry = by_item[item_id]
                    for dimension in codebook.dimensions:
                        if entry["labels"].get(dimension.id):
                            store.set_codes(item_id, dimension.id, entry["labels"][dimension.id])
                    if entry["memos"]:
                        store.set_memo(item_id, "\n\n".join(entry["memos"]))
                    for flag in sorted(entry["flags"]):
                        store.toggle_flag(item_id, flag)
                    for quote in entry["quotes"]:
                        store.add_quote(item_id, *quote)
            finally:
                store.close()
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
        for coder, temporary in temporaries.items():
            if session_path(coder).exists():
                raise UserError(f"{session_path(coder)} appeared while importing; nothing more was written.")
            os.replace(temporary, session_path(coder))
    finally:
        for temporary in temporaries.values():
            for leftover in _files_of(temporary):
                leftover.unlink(missing_ok=True)
    return report


# --- quotes: a selection on part of a text, back to offsets into the stored body or comment ----

def _placed_quotes(entry: dict, layout: "ItemText | None", report: QdpxImport) -> list[tuple]:
    """An item's passages as add_quote's (dimension, code, source, start, end), once each;
    those on a code left out (see _check_units) are dropped, those not placed are counted."""
    placed: list[tuple] = []
    for passage in entry["quotes"]:
        if passage["code"] not in entry["labels"].get(passage["dimension"], set()):
            continue
        where = layout.place(passage["text"], passage["start"], passage["end"]) if layout else None
        if where is None:
            report.unplaced_quotes += 1
            continue
        quote = (passage["dimension"], passage["code"], *where)
        if quote not in placed:
            placed.append(quote)
    return placed


def place_quote(item: dict, text: str, start: int, end: int) -> tuple[str, int, int] | None:
    """``ItemText(item).place``: where a source's passage lies in the item's stored text."""
    return ItemText(item).place(text, start, end)


class ItemText:
    """An item's text as annotator's export writes it (issue_text), and where each character
    of its body and comments comes from: worked out once per item and part (a 144 KB body full
    of escape sequences takes ~0.5 s), however many quotes it holds."""

    def __init__(self, item: dict):
        from annotator.exchange.refi_export import issue_text_spans

        self.item = item
        self.text, self.starts = issue_text_spans(item)
        self._parts: dict[str, list[tuple[int, int]] | None] = {}

    def place(self, text: str, start: int, end: int) -> tuple[str, int, int] | None:
        """Where the passage [start, end) of a source's ``text`` lies in the item: ('body' or
        'comment:N', start, end) as offsets into the stored text, the inverse of the export's
        quote_span. Positions are read in annotator's export of the item when ``text`` is that;
        else the passage is looked for there and taken if found once. None: not within the body
        or one comment (the title, a comment's heading), or not found."""
        if text != self.text:
            passage = text[start:end]
            start = self.text.find(passage)
            if not passage.strip() or start < 0 or self.text.find(passage, start + 1) >= 0:
                return None
            end = start + len(passage)
        within = [(offset, name) for name, offset in self.starts.items() if offset <= start]
        if not within:
            return None  # in the title
        offset, name = max(within)
        kept = self._kept(name, offset)
        if kept is None or not start < end <= offset + len(kept):
            return None
        first, last = kept[start - offset], kept[end - offset - 1]
        return name, first[0], last[0] + last[1]

    def _kept(self, name: str, offset: int) -> list[tuple[int, int]] | None:
        """The part's characters' places in the stored text; None if the export cleaned it
        otherwise (no offsets to trust)."""
        if name not in self._parts:
            raw = _stored_text(self.item, name)
            kept = exported_characters(raw)
            same = "".join("\n" if raw[i] == "\r" else raw[i] for i, _ in kept) == self.text[offset:offset + len(kept)]
            self._parts[name] = kept if same else None
        return self._parts[name]


def _stored_text(item: dict, name: str) -> str:
    if name == "body":
        return item.get("body") or ""
    return (item.get("comments") or [])[int(name[8:])].get("body") or ""
