"""Exporting a merged study: final codes with every coder's codes, the codebook, REFI-QDA.

Formats (`annotator export MERGED --format ...`):

csv    one row per item: item, repo, number, title, url, state, created_at, closed_at, round;
       per dimension: final:<dim> (codes joined with ";"), decision:<dim> (how it was decided:
       agreed, coder:NAME, union, intersection, edited; "open" for an undecided disagreement;
       empty when not asked), and <coder>:<dim> for every coder; then memo:<coder>.
       The codebook goes beside it as <name>.codebook.csv. A cell that starts with = + - @
       gets a leading apostrophe so spreadsheets do not run it as a formula.
jsonl  one JSON object per line and item: the item's fields, "final" {dim: [codes] | null},
       "decisions" {dim: {codes, method, decided_by, at, rationale}}, "coders" {coder:
       {status, codes {dim: [codes]}, memo}}. The codebook goes beside it as
       <name>.codebook.jsonl, one code per line.
qdpx   a REFI-QDA project (QDA-XML 1.0) for NVivo, ATLAS.ti, MAXQDA and QualCoder: a zip with
       project.qde and Sources/<guid>.txt. The codebook becomes nested Codes (a dimension is a
       folder code, not codable); every coder is a User; every issue a TextSource (title, body
       and comments as plain text) with one PlainTextSelection over the whole text, carrying
       one Coding per code per coder (and the final codes under the user "final"); memos and
       decision rationales become Notes; repository, state and dates are Variables; every
       repository is a Case. GUIDs are derived from the ids, so exporting again gives the
       same GUIDs.
qdc    the codebook alone, as a REFI-QDA codebook file (urn:QDA-XML:codebook:1.0).
"""

from __future__ import annotations

import csv
import json
import os
import re
import uuid
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from annotator import __version__
from annotator.errors import UserError
from annotator.agreement.merge import MergedStore
from annotator.coding.session import now
from annotator.codebook.model import Code, Codebook
from annotator.textsafe import clean, clean_line

FORMATS = ("csv", "jsonl", "qdpx", "qdc")
PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
GUID_NAMESPACE = uuid.UUID("6f1c5c36-8f0e-4b8e-9a55-1d7f0f4a2a11")  # annotator's, fixed forever
FINAL_USER = "final"
DEFAULT_NAMES = {"csv": "final-codes.csv", "jsonl": "final-codes.jsonl", "qdpx": "study.qdpx", "qdc": "codebook.qdc"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 forbids most control characters and U+FFFE/U+FFFF even when escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def guid(kind: str, *parts: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join((kind, *parts))))


def xml_text(text: object) -> str:
    return _NOT_XML.sub("", clean(text))


def default_out(merged_path: Path, fmt: str) -> Path:
    return merged_path.parent / "exports" / DEFAULT_NAMES[fmt]


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, so a failed export leaves nothing half-done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.codebook{suffix}")


def export(merged_path: Path | str, fmt: str, out: Path | str | None = None, *, codings: str = "both") -> list[Path]:
    """Write one export; returns the files written."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}' (use one of {', '.join(FORMATS)}).")
    merged_path = Path(merged_path)
    if not merged_path.is_file():
        raise UserError(f"{merged_path}: no merged study; run `annotator merge` first.")
    out = Path(out) if out is not None else default_out(merged_path, fmt)
    merged = MergedStore(merged_path, readonly=True)
    try:
        if fmt == "csv":
            return export_csv(merged, out)
        if fmt == "jsonl":
            return export_jsonl(merged, out)
        if fmt == "qdpx":
            return [export_qdpx(merged, out, codings=codings)]
        return [export_qdc(merged.codebook, out)]
    finally:
        merged.close()


# --- the rows shared by csv and jsonl --------------------------------------------------------


def item_records(merged: MergedStore):
    """One dict per item: fields, final codes, decisions, each coder's status, codes and memo."""
    codebook = merged.codebook
    finals = merged.final_labels()
    decisions = merged.decisions()
    statuses = merged.statuses()
    codings = merged.codings()
    memos = merged.memos()
    open_units = {(u.item_id, u.dimension) for u in merged.queue() if (u.item_id, u.dimension) not in decisions}
    for item in merged.iter_items():
        item_id = item["id"]
        final = {}
        how = {}
        for dimension in codebook.dimensions:
            key = (item_id, dimension.id)
            if dimension.id in finals.get(item_id, {}):
                final[dimension.id] = sorted(finals[item_id][dimension.id])
                decision = decisions[key]
                how[dimension.id] = {"codes": sorted(decision["codes"]), "method": decision["method"],
                                     "decided_by": decision["decided_by"], "at": decision["at"],
                                     "rationale": decision["rationale"]}
            else:
                final[dimension.id] = None
                if key in open_units:
                    how[dimension.id] = None
        coders = {}
        for coder, status in sorted(statuses.get(item_id, {}).items()):
            coders[coder] = {
                "status": status,
                "codes": {d: sorted(codes) for d, codes in sorted(codings.get(item_id, {}).get(coder, {}).items())},
                "memo": memos.get(item_id, {}).get(coder, ""),
            }
        yield {"item": item, "final": final, "decisions": how, "open": [d for d in how if how[d] is None],
               "coders": coders}


def _codebook_rows(codebook: Codebook) -> list[dict]:
    rows = []
    for dimension in codebook.dimensions:
        for code in dimension.walk():
            rows.append({
                "dimension": dimension.id, "kind": dimension.kind, "code": code.id, "name": code.name,
                "parent": code.parent or "", "theme": dimension.theme_of(code.id), "depth": code.depth,
                "key": code.key, "definition": code.definition, "include": code.include,
                "exclude": code.exclude, "example": code.example, "retired": code.retired,
            })
    return rows


def _spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_csv(merged: MergedStore, out: Path) -> list[Path]:
    codebook = merged.codebook
    coders = merged.coders()
    fields = ["item", "repo", "number", "title", "url", "state", "created_at", "closed_at", "round"]
    for dimension in codebook.dimensions:
        fields += [f"final:{dimension.id}", f"decision:{dimension.id}"]
        fields += [f"{coder}:{dimension.id}" for coder in coders]
    fields += [f"memo:{coder}" for coder in coders]

    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            for record in item_records(merged):
                item = record["item"]
                row = {"item": item["id"], "repo": item["repo"], "number": item["number"],
                       "title": clean_line(item["title"]), "url": item["url"], "state": item["state"],
                       "created_at": item["created_at"], "closed_at": item["closed_at"], "round": item["round"]}
                for dimension in codebook.dimensions:
                    codes = record["final"][dimension.id]
                    row[f"final:{dimension.id}"] = ";".join(codes) if codes is not None else ""
                    decision = record["decisions"].get(dimension.id, "")
                    row[f"decision:{dimension.id}"] = decision["method"] if decision else ("open" if decision is None else "")
                    for coder in coders:
                        mine = record["coders"].get(coder)
                        row[f"{coder}:{dimension.id}"] = ";".join(mine["codes"].get(dimension.id, [])) if mine else ""
                for coder in coders:
                    mine = record["coders"].get(coder)
                    row[f"memo:{coder}"] = mine["memo"] if mine else ""
                writer.writerow({k: _spreadsheet_safe("" if v is None else v) for k, v in row.items()})

    _atomic_write(out, write)
    sidecar = _sidecar(out, ".csv")

    def write_codebook(path: Path) -> None:
        rows = _codebook_rows(codebook)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _spreadsheet_safe(v) for k, v in row.items()})

    _atomic_write(sidecar, write_codebook)
    return [out, sidecar]


def export_jsonl(merged: MergedStore, out: Path) -> list[Path]:
    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for record in item_records(merged):
                item = record["item"]
                line = {"item_id": item["id"], **{k: item[k] for k in ("repo", "number", "title", "url", "state",
                                                                       "state_reason", "author", "labels",
                                                                       "created_at", "closed_at", "round")},
                        "final": record["final"], "decisions": record["decisions"], "coders": record["coders"]}
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    _atomic_write(out, write)
    sidecar = _sidecar(out, ".jsonl")

    def write_codebook(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for row in _codebook_rows(merged.codebook):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    _atomic_write(sidecar, write_codebook)
    return [out, sidecar]


# --- REFI-QDA --------------------------------------------------------------------------------


def _describe(code: Code) -> str:
    parts = [code.definition]
    for label, text in (("Include", code.include), ("Exclude", code.exclude), ("Example", code.example)):
        if text:
            parts.append(f"{label}: {text}")
    return "\n".join(p for p in parts if p)


def _codes_element(codebook: Codebook, ns: str) -> ET.Element:
    codes = ET.Element(f"{{{ns}}}Codes")

    def add(parent: ET.Element, code: Code, dimension_id: str) -> None:
        element = ET.SubElement(parent, f"{{{ns}}}Code", {
            "guid": guid("code", dimension_id, code.id), "name": xml_text(code.name), "isCodable": "true"})
        description = _describe(code)
        if description:
            ET.SubElement(element, f"{{{ns}}}Description").text = xml_text(description)
        for child in code.children:
            add(element, child, dimension_id)

    for dimension in codebook.dimensions:
        # A dimension is a folder of codes: it groups them but is never applied itself.
        folder = ET.SubElement(codes, f"{{{ns}}}Code", {
            "guid": guid("dimension", dimension.id), "name": xml_text(dimension.name), "isCodable": "false"})
        text = f"{'Multi-label' if dimension.multi else 'Single-choice'} dimension '{dimension.id}'."
        if dimension.description:
            text += " " + dimension.description
        ET.SubElement(folder, f"{{{ns}}}Description").text = xml_text(text)
        for code in dimension.codes:
            add(folder, code, dimension.id)
    return codes


def issue_text(item: dict) -> str:
    """The plain text a QDA tool shows for an issue: title, body, then every comment."""
    parts = [clean_line(item.get("title")) or "(no title)", "", clean(item.get("body")) or "(no description)"]
    for comment in item.get("comments") or []:
        who = clean_line(comment.get("author")) or "someone"
        when = (clean_line(comment.get("created_at")) or "")[:10]
        parts += ["", f"---- {who} commented {when} ----", clean(comment.get("body"))]
    return xml_text("\n".join(parts))


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
VARIABLES = (  # (name, item field, REFI type)
    ("repository", "repo", "Text"), ("number", "number", "Integer"), ("state", "state", "Text"),
    ("state reason", "state_reason", "Text"), ("author", "author", "Text"), ("labels", "labels", "Text"),
    ("created at", "created_at", "DateTime"), ("closed at", "closed_at", "DateTime"),
    ("round", "round", "Text"), ("url", "url", "Text"),
)


def _variable_value(parent: ET.Element, name: str, kind: str, value) -> None:
    if value in (None, "", []):
        return
    if kind == "DateTime" and not (isinstance(value, str) and _DATETIME.match(value)):
        return  # a malformed date is left out rather than making the file invalid
    if kind == "Integer" and not isinstance(value, int):
        return
    if isinstance(value, list):
        value = ", ".join(clean_line(v) for v in value)
    element = ET.SubElement(parent, f"{{{PROJECT_NS}}}VariableValue")
    ET.SubElement(element, f"{{{PROJECT_NS}}}VariableRef", {"targetGUID": guid("variable", name)})
    ET.SubElement(element, f"{{{PROJECT_NS}}}{kind}Value").text = xml_text(value)


def _stamp(value: str | None) -> str | None:
    """An ISO timestamp xsd:dateTime accepts (ours carry milliseconds and Z: fine), else None."""
    if value and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", value):
        return value
    return None


def build_project(merged: MergedStore, *, codings: str = "both") -> tuple[ET.Element, dict[str, str]]:
    """The project.qde tree and the source files (name inside Sources/ -> text)."""
    if codings not in ("both", "coders", "final"):
        raise UserError(f"unknown --codings '{codings}' (use both, coders or final).")
    ns = PROJECT_NS
    codebook = merged.codebook
    created = now()
    coders = merged.coders()
    project = ET.Element(f"{{{ns}}}Project", {
        "name": xml_text(codebook.name) or "annotator study", "origin": f"annotator {__version__}",
        "creationDateTime": created})

    users = ET.SubElement(project, f"{{{ns}}}Users")
    user_guid = {}
    for name in [*coders, FINAL_USER]:
        user_guid[name] = guid("user", name)
        ET.SubElement(users, f"{{{ns}}}User", {"guid": user_guid[name], "name": xml_text(name)})
    # Reconcilers who are not coders show up as users too.
    decisions = merged.decisions()
    for decision in decisions.values():
        person = decision["decided_by"]
        if person != "auto" and person not in user_guid:
            user_guid[person] = guid("user", person)
            ET.SubElement(users, f"{{{ns}}}User", {"guid": user_guid[person], "name": xml_text(person)})

    book = ET.SubElement(project, f"{{{ns}}}CodeBook")
    book.append(_codes_element(codebook, ns))

    variables = ET.SubElement(project, f"{{{ns}}}Variables")
    for name, _, kind in VARIABLES:
        ET.SubElement(variables, f"{{{ns}}}Variable", {"guid": guid("variable", name), "name": name,
                                                        "typeOfVariable": kind})

    records = list(item_records(merged))
    by_repo: dict[str, list[str]] = {}
    for record in records:
        by_repo.setdefault(record["item"]["repo"] or "(unknown)", []).append(record["item"]["id"])
    cases = ET.SubElement(project, f"{{{ns}}}Cases")
    for repo, ids in by_repo.items():
        case = ET.SubElement(cases, f"{{{ns}}}Case", {"guid": guid("case", repo), "name": xml_text(repo)})
        ET.SubElement(case, f"{{{ns}}}Description").text = xml_text(f"GitHub repository {repo}")
        for item_id in ids:
            ET.SubElement(case, f"{{{ns}}}SourceRef", {"targetGUID": guid("source", item_id)})

    sources = ET.SubElement(project, f"{{{ns}}}Sources")
    files: dict[str, str] = {}
    notes: list[ET.Element] = []
    for record in records:
        item = record["item"]
        item_id = item["id"]
        text = issue_text(item)
        source_guid = guid("source", item_id)
        files[f"{source_guid}.txt"] = text
        attributes = {"guid": source_guid, "name": xml_text(f"{item_id} {clean_line(item.get('title'))}".strip()),
                      "plainTextPath": f"internal://{source_guid}.txt"}
        if _stamp(item.get("created_at")):
            attributes["creationDateTime"] = item["created_at"]
        source = ET.SubElement(sources, f"{{{ns}}}TextSource", attributes)
        ET.SubElement(source, f"{{{ns}}}Description").text = xml_text(item.get("url") or item_id)
        selection = ET.SubElement(source, f"{{{ns}}}PlainTextSelection", {
            "guid": guid("selection", item_id), "name": "whole issue", "startPosition": "0",
            "endPosition": str(len(text))})

        def coding(user: str, dimension_id: str, code_id: str) -> None:
            element = ET.SubElement(selection, f"{{{ns}}}Coding", {
                "guid": guid("coding", item_id, user, dimension_id, code_id), "creatingUser": user_guid[user]})
            ET.SubElement(element, f"{{{ns}}}CodeRef", {"targetGUID": guid("code", dimension_id, code_id)})

        known = {d.id: d.by_id for d in codebook.dimensions}
        if codings in ("both", "coders"):
            for coder, mine in record["coders"].items():
                for dimension_id, codes in mine["codes"].items():
                    for code_id in codes:
                        if code_id in known.get(dimension_id, {}):
                            coding(coder, dimension_id, code_id)
        if codings in ("both", "final"):
            for dimension_id, codes in record["final"].items():
                for code_id in codes or ():
                    coding(FINAL_USER, dimension_id, code_id)

        note_refs = []
        for coder, mine in record["coders"].items():
            if mine["memo"]:
                note_refs.append(_note(notes, guid("memo", item_id, coder), f"memo by {coder} on {item_id}",
                                       mine["memo"], user_guid[coder]))
        for dimension_id, decision in record["decisions"].items():
            if decision and decision.get("rationale") and decision["decided_by"] != "auto":
                person = decision["decided_by"]
                note_refs.append(_note(notes, guid("rationale", item_id, dimension_id),
                                       f"decision on {item_id} ({dimension_id}) by {person}",
                                       f"{decision['method']}: {', '.join(decision['codes']) or '(no codes)'}\n"
                                       f"{decision['rationale']}", user_guid[person], _stamp(decision.get("at"))))
        for note_guid in note_refs:
            ET.SubElement(source, f"{{{ns}}}NoteRef", {"targetGUID": note_guid})
        for name, field, kind in VARIABLES:
            _variable_value(source, name, kind, item.get(field))
    if not len(sources):
        project.remove(sources)
    if not len(cases):
        project.remove(cases)
    if notes:
        holder = ET.SubElement(project, f"{{{ns}}}Notes")
        holder.extend(notes)
    return project, files


def _note(notes: list, note_guid: str, name: str, text: str, user: str, at: str | None = None) -> str:
    attributes = {"guid": note_guid, "name": xml_text(name), "creatingUser": user}
    if at:
        attributes["creationDateTime"] = at
    note = ET.Element(f"{{{PROJECT_NS}}}Note", attributes)
    ET.SubElement(note, f"{{{PROJECT_NS}}}PlainTextContent").text = xml_text(text)
    notes.append(note)
    return note_guid


def _xml_bytes(root: ET.Element, ns: str) -> bytes:
    ET.register_namespace("", ns)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def export_qdpx(merged: MergedStore, out: Path, *, codings: str = "both") -> Path:
    project, files = build_project(merged, codings=codings)
    payload = _xml_bytes(project, PROJECT_NS)

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", payload)
            for name, text in files.items():
                archive.writestr(f"Sources/{name}", text.encode("utf-8"))

    _atomic_write(out, write)
    return out


def build_codebook(codebook: Codebook) -> ET.Element:
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": f"annotator {__version__}"})
    root.append(_codes_element(codebook, CODEBOOK_NS))
    return root


def export_qdc(codebook: Codebook, out: Path) -> Path:
    payload = _xml_bytes(build_codebook(codebook), CODEBOOK_NS)
    _atomic_write(out, lambda path: path.write_bytes(payload))
    return out
