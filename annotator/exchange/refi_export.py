"""A merged study as a REFI-QDA project (.qdpx) that QDA tools import whole.

The zip holds project.qde and sources/<guid>.txt (the folder as the specification spells it).
What goes where, and why (the importers read these; tests/test_refi_qualcoder.py pins them):

- Users: every coder, the user "final" (the reconciled codes) and every reconciler.
- CodeBook: every dimension a folder code (isCodable="false"), its codes nested below with their
  colour (a palette colour per theme) and their definition as Description (see qdc.py).
- Variables: the item's id, repository, number, state, author, labels, dates, round, url...
- Cases: one per repository, holding its items.
- Sources: one TextSource per item, named "<owner>_<repo>#<n> <title>" (safe as a file name: the
  importers save each source as <name>.txt), text = title, body and comments. In it, one
  PlainTextSelection per coder over the whole text, with that coder as creatingUser (importers
  take the coder from the selection, and keep one coding per code, text and user), the time
  of the coder's first code as creationDateTime, the coder's memo as its Description, and one
  Coding per code with its own creationDateTime. Each quote a coder kept as evidence for one
  of their codes is a selection of its own over the quoted passage (positions in the text
  above), by that coder, coded with the quote's code (import-qdpx reads it back as a quote). The final codes are the selection of the
  user "final", whose Description holds each decision's method, reconciler and rationale.
- Sets: the items each coder flagged, one set per flag and coder ("unsure: ana").
- Description: the codebook's description.
GUIDs are derived from the ids, so exporting again gives the same GUIDs.
"""

from __future__ import annotations

import bisect
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from annotator import __version__
from annotator.agreement.merge import AUTO, MergedStore
from annotator.coding.session import now
from annotator.errors import UserError
from annotator.exchange.qdc import codes_element, xml_bytes
from annotator.exchange.refi import (FINAL_USER, PROJECT_NS, SOURCES_FOLDER, exported_characters, guid,
                                     source_name, stamp, xml_text)
from annotator.exchange.tabular import atomic_write, item_records
from annotator.textsafe import clean, clean_line

NS = f"{{{PROJECT_NS}}}"
VARIABLES = (  # (name, item field, REFI type)
    ("item", "id", "Text"), ("repository", "repo", "Text"), ("number", "number", "Integer"),
    ("state", "state", "Text"), ("state reason", "state_reason", "Text"), ("author", "author", "Text"),
    ("labels", "labels", "Text"), ("created at", "created_at", "DateTime"), ("updated at", "updated_at", "DateTime"),
    ("closed at", "closed_at", "DateTime"), ("comment count", "comment_count", "Integer"), ("round", "round", "Text"),
    ("url", "url", "Text"),
)


def issue_text(item: dict) -> str:
    """The plain text a QDA tool shows for an issue: title, body, then every comment."""
    return issue_text_spans(item)[0]


def issue_text_spans(item: dict) -> tuple[str, dict[str, int]]:
    """``issue_text`` and where each quotable part starts in it ('body', 'comment:N').

    Each part is made safe on its own (the cleaning is per character once carriage returns
    and escape sequences are gone, so the joined text is the same as cleaning it whole)."""
    parts = [clean_line(item.get("title")) or "(no title)", "", clean(item.get("body")) or "(no description)"]
    names = [None, None, "body"]
    for number, comment in enumerate(item.get("comments") or []):
        who = clean_line(comment.get("author")) or "someone"
        when = (clean_line(comment.get("created_at")) or "")[:10]
        parts += ["", f"---- {who} commented {when} ----", clean(comment.get("body"))]
        names += [None, None, f"comment:{number}"]
    # No carriage returns: importers count positions in the text as read, and QualCoder shifts
    # every line of a file with Windows line endings.
    pieces = [xml_text(part).replace("\r\n", "\n").replace("\r", "\n") for part in parts]
    starts, offset = {}, 0
    for name, piece in zip(names, pieces):
        if name:
            starts[name] = offset
        offset += len(piece) + 1
    return "\n".join(pieces), starts


def quote_span(item: dict, quote: dict, starts: dict[str, int]) -> tuple[int, int] | None:
    """A quote's [start, end) in ``issue_text``: its offsets into the stored body or comment,
    shifted by where that part starts and by the characters the cleaning dropped before them
    (import-qdpx's ItemText.place is the inverse)."""
    if quote["source"] == "body":
        raw = item.get("body") or ""
    elif quote["source"].startswith("comment:") and quote["source"][8:].isdigit():
        comments = item.get("comments") or []
        number = int(quote["source"][8:])
        if number >= len(comments):
            return None
        raw = comments[number].get("body") or ""
    else:
        return None
    if quote["source"] not in starts or not 0 <= quote["start"] < quote["end"] <= len(raw):
        return None  # the item's text changed since the quote was made
    # Counted on the exported characters, not by cleaning a prefix: a prefix cut inside an
    # escape sequence cleans to more text than the whole sequence does.
    kept = exported_characters(raw)
    start, end = quote["start"], quote["end"]
    if len(kept) < len(raw):  # else nothing was dropped: the offsets are the same
        start = bisect.bisect_left(kept, start, key=lambda character: character[0])
        end = bisect.bisect_left(kept, end, key=lambda character: character[0])
    start, end = starts[quote["source"]] + start, starts[quote["source"]] + end
    return (start, end) if end > start else None


def _variable_value(parent: ET.Element, name: str, kind: str, value) -> None:
    if value in (None, "", []):
        return
    if kind == "DateTime" and not (isinstance(value, str) and stamp(value)):
        return  # a malformed date is left out rather than making the file invalid
    if kind == "Integer" and not isinstance(value, int):
        return
    if isinstance(value, list):
        value = ", ".join(clean_line(v) for v in value)
    element = ET.SubElement(parent, f"{NS}VariableValue")
    ET.SubElement(element, f"{NS}VariableRef", {"targetGUID": guid("variable", name)})
    ET.SubElement(element, f"{NS}{kind}Value").text = xml_text(value)


def _earliest(*values: str | None) -> str | None:
    known = sorted(v for v in values if stamp(v))
    return known[0] if known else None


def _latest(*values: str | None) -> str | None:
    known = sorted(v for v in values if stamp(v))
    return known[-1] if known else None


class _Users:
    """The project's <Users>: a user is added the first time it is named."""

    def __init__(self, users: ET.Element):
        self.element = users
        self.guids: dict[str, str] = {}

    def guid_of(self, name: str) -> str:
        if name not in self.guids:
            self.guids[name] = guid("user", name)
            ET.SubElement(self.element, f"{NS}User", {"guid": self.guids[name], "name": xml_text(name)})
        return self.guids[name]


def build_project(merged: MergedStore, *, codings: str = "both") -> tuple[ET.Element, dict[str, str]]:
    """The project.qde tree and the source files (name inside sources/ -> text)."""
    if codings not in ("both", "coders", "final"):
        raise UserError(f"unknown --codings '{codings}' (use both, coders or final).")
    codebook = merged.codebook
    merged_at = stamp(merged.meta("merged_at")) or now()
    project = ET.Element(f"{NS}Project", {
        "name": xml_text(codebook.name) or "annotator study", "origin": f"annotator {__version__}",
        "creationDateTime": now()})
    users = _Users(ET.SubElement(project, f"{NS}Users"))
    for name in merged.coders():
        users.guid_of(name)
    if codings != "coders":
        users.guid_of(FINAL_USER)
    for decision in merged.decisions().values():
        if decision["decided_by"] != AUTO:
            users.guid_of(decision["decided_by"])  # reconcilers are users too

    book = ET.SubElement(project, f"{NS}CodeBook")
    book.append(codes_element(codebook, PROJECT_NS))
    known = {d.id: d.by_id for d in codebook.dimensions}
    names = {d.id: d.name for d in codebook.dimensions}

    variables = ET.SubElement(project, f"{NS}Variables")
    for name, _, kind in VARIABLES:
        ET.SubElement(variables, f"{NS}Variable", {"guid": guid("variable", name), "name": name,
                                                    "typeOfVariable": kind})

    records = list(item_records(merged))
    by_repo: dict[str, list[str]] = {}
    for record in records:
        by_repo.setdefault(record["item"]["repo"] or "(unknown)", []).append(record["item"]["id"])
    cases = ET.SubElement(project, f"{NS}Cases")
    for repo, ids in by_repo.items():
        case = ET.SubElement(cases, f"{NS}Case", {"guid": guid("case", repo), "name": xml_text(repo)})
        ET.SubElement(case, f"{NS}Description").text = xml_text(f"GitHub repository {repo}")
        for item_id in ids:
            ET.SubElement(case, f"{NS}SourceRef", {"targetGUID": guid("source", item_id)})

    quotes: dict[str, list[dict]] = {}
    if codings != "final":
        for quote in merged.quotes():
            quotes.setdefault(quote["item_id"], []).append(quote)

    sources = ET.SubElement(project, f"{NS}Sources")
    files: dict[str, str] = {}
    flagged: dict[tuple[str, str], list[str]] = {}
    for record in records:
        item = record["item"]
        item_id = item["id"]
        text, starts = issue_text_spans(item)
        source_guid = guid("source", item_id)
        files[f"{source_guid}.txt"] = text
        attributes = {"guid": source_guid, "name": source_name(item_id, item.get("title")),
                      "plainTextPath": f"internal://{source_guid}.txt"}
        if stamp(item.get("created_at")):
            attributes["creationDateTime"] = item["created_at"]
        source = ET.SubElement(sources, f"{NS}TextSource", attributes)
        ET.SubElement(source, f"{NS}Description").text = xml_text(item.get("url") or item_id)

        def selection(user: str, description: str, codes: list[tuple[str, str, str | None]],
                      at: str | None, modified_by: str | None = None) -> None:
            """One user's selection over the whole text, with their codes (dimension, code, time)."""
            codes = [(d, c, t) for d, c, t in codes if c in known.get(d, {})]
            if not codes and not description:
                return
            at = _earliest(at, *(t for _, _, t in codes)) or merged_at
            element = ET.SubElement(source, f"{NS}PlainTextSelection", {
                "guid": guid("selection", item_id, user), "name": xml_text(f"{user}: whole issue"),
                "startPosition": "0", "endPosition": str(len(text)),
                "creatingUser": users.guid_of(user), "creationDateTime": at})
            if modified_by:
                element.set("modifyingUser", users.guid_of(modified_by))
            if description:
                ET.SubElement(element, f"{NS}Description").text = xml_text(description)
            for dimension_id, code_id, when in codes:
                coding = ET.SubElement(element, f"{NS}Coding", {
                    "guid": guid("coding", item_id, user, dimension_id, code_id), "creatingUser": users.guid_of(user),
                    "creationDateTime": stamp(when) or at})
                ET.SubElement(coding, f"{NS}CodeRef", {"targetGUID": guid("code", dimension_id, code_id)})

        if codings in ("both", "coders"):
            for coder, mine in record["coders"].items():
                codes = [(d, c, mine["coded_at"][d][c]) for d, dim_codes in mine["codes"].items() for c in dim_codes]
                selection(coder, mine["memo"], codes, mine["memo_at"])
                for flag in mine["flags"]:
                    flagged.setdefault((flag, coder), []).append(source_guid)
            for quote in quotes.get(item_id, ()):
                # Only evidence for a code the coder still gives: a quote left on a code taken off
                # (sessions from before codes took their quotes along) would come back as a code.
                mine = record["coders"].get(quote["coder"])
                if mine and quote["code"] in mine["codes"].get(quote["dimension"], ()):
                    quote_selection(source, item, quote, text, starts, users, known, merged_at)
        if codings in ("both", "final"):
            codes, lines, deciders = [], [], []
            for dimension_id, final in record["final"].items():
                decision = record["decisions"].get(dimension_id)
                for code_id in final or ():
                    codes.append((dimension_id, code_id, decision["at"] if decision else None))
                if decision and decision["decided_by"] != AUTO:
                    deciders.append((decision["at"] or "", decision["decided_by"]))
                    chosen = ", ".join(decision["codes"]) or "(no codes)"
                    line = f"{names[dimension_id]}: {chosen} ({decision['method']}, decided by {decision['decided_by']})"
                    if decision.get("rationale"):
                        line += f": {decision['rationale']}"
                    lines.append(line)
            selection(FINAL_USER, "\n".join(lines), codes, None, max(deciders)[1] if deciders else None)
        for name, field, kind in VARIABLES:
            _variable_value(source, name, kind, item.get(field))
    if not len(sources):
        project.remove(sources)
    if not len(cases):
        project.remove(cases)
    if flagged:
        sets = ET.SubElement(project, f"{NS}Sets")
        for (flag, coder), members in sorted(flagged.items()):
            member_set = ET.SubElement(sets, f"{NS}Set", {"guid": guid("flags", flag, coder),
                                                           "name": xml_text(f"{flag}: {coder}")})
            ET.SubElement(member_set, f"{NS}Description").text = xml_text(
                f"The items {coder} flagged '{flag}' while coding.")
            for member in members:
                ET.SubElement(member_set, f"{NS}MemberSource", {"targetGUID": member})
    if codebook.description:
        ET.SubElement(project, f"{NS}Description").text = xml_text(codebook.description)
    return project, files


def quote_selection(source: ET.Element, item: dict, quote: dict, text: str, starts: dict[str, int],
                    users: _Users, known: dict, merged_at: str) -> None:
    """A coder's quote as its own PlainTextSelection over the quoted passage, coded with the
    code it is evidence for (a quote whose code or passage no longer exists is left out)."""
    span = quote_span(item, quote, starts)
    if span is None or quote["code"] not in known.get(quote["dimension"], {}):
        return
    ids = (item["id"], quote["coder"], quote["dimension"], quote["code"], quote["source"],
           str(quote["start"]), str(quote["end"]))
    at = stamp(quote["at"]) or merged_at
    element = ET.SubElement(source, f"{NS}PlainTextSelection", {
        "guid": guid("quote", *ids), "name": xml_text(f"{quote['coder']}: quote"),
        "startPosition": str(span[0]), "endPosition": str(span[1]),
        "creatingUser": users.guid_of(quote["coder"]), "creationDateTime": at})
    coding = ET.SubElement(element, f"{NS}Coding", {
        "guid": guid("quote coding", *ids), "creatingUser": users.guid_of(quote["coder"]),
        "creationDateTime": at})
    ET.SubElement(coding, f"{NS}CodeRef", {"targetGUID": guid("code", quote["dimension"], quote["code"])})


def export_qdpx(merged: MergedStore, out: Path, *, codings: str = "both") -> Path:
    project, files = build_project(merged, codings=codings)
    payload = xml_bytes(project, PROJECT_NS)

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", payload)
            for name, text in files.items():
                archive.writestr(f"{SOURCES_FOLDER}/{name}", text.encode("utf-8"))

    atomic_write(out, write)
    return out
