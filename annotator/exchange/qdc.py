"""The codebook as a REFI-QDA codebook (.qdc), both ways, with a colour for every code.

Export: every dimension is a folder code (isCodable="false") holding its codes, nested as in
taxonomy.yaml; a code's definition, include / exclude criteria and example become its
Description; every theme gets a colour of its own from a colour-blind-safe palette and its
sub-themes lighter shades of it, so a QDA tool shows a theme's codes together.

Import (`annotator taxonomy import-qdc FILE.qdc`): a codebook made in NVivo, ATLAS.ti, MAXQDA or
QualCoder (a .qdc, or the codebook of a .qdpx project) becomes a taxonomy.yaml to start a study
from: every top-level folder (a code that is not codable) becomes a multi-label dimension and
every top-level codable code goes into a dimension "codes"; ids are made from the names, keys
are given in order (the first free letter of the name, else any free letter or digit).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from annotator import __version__
from annotator.codebook.model import MAX_DEPTH, Code, Codebook, parse_codebook
from annotator.errors import UserError
from annotator.exchange.refi import CODEBOOK_NS, guid, xml_text
from annotator.textsafe import clean, clean_line

# Tableau 10 (colour-blind-aware, distinct in print): one per theme, in codebook order.
PALETTE = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7",
           "#9C755F", "#BAB0AC")
FOLDER_COLOUR = "#808080"
_CRITERIA = (("include", "Include: "), ("exclude", "Exclude: "), ("example", "Example: "))
_FOLDER = re.compile(r"^(Multi-label|Single-choice) dimension '([a-z0-9][a-z0-9._-]*)'\.\s*(.*)$", re.S)


def lighter(colour: str, share: float) -> str:
    """The colour mixed with white: share 0 keeps it, 1 gives white."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    mix = [round(c + (255 - c) * share) for c in (red, green, blue)]
    return "#" + "".join(f"{c:02X}" for c in mix)


def colours(codebook: Codebook) -> dict[tuple[str, str], str]:
    """(dimension id, code id) -> colour: a palette colour per theme, lighter for each level below."""
    out = {}
    themes = [(d, c) for d in codebook.dimensions for c in d.codes]
    for index, (dimension, theme) in enumerate(themes):
        base = PALETTE[index % len(PALETTE)]
        for code in [theme, *_below(theme)]:
            out[(dimension.id, code.id)] = lighter(base, 0.3 * (code.depth - 1))
    return out


def _below(code: Code):
    for child in code.children:
        yield child
        yield from _below(child)


def describe(code: Code) -> str:
    parts = [code.definition]
    for field, label in _CRITERIA:
        if getattr(code, field):
            parts.append(label + getattr(code, field))
    return "\n".join(p for p in parts if p)


def folder_description(dimension) -> str:
    text = f"{'Multi-label' if dimension.multi else 'Single-choice'} dimension '{dimension.id}'."
    return f"{text} {dimension.description}" if dimension.description else text


def codes_element(codebook: Codebook, ns: str) -> ET.Element:
    codes = ET.Element(f"{{{ns}}}Codes")
    palette = colours(codebook)

    def add(parent: ET.Element, code: Code, dimension_id: str) -> None:
        element = ET.SubElement(parent, f"{{{ns}}}Code", {
            "guid": guid("code", dimension_id, code.id), "name": xml_text(code.name), "isCodable": "true",
            "color": palette[(dimension_id, code.id)]})
        description = describe(code)
        if description:
            ET.SubElement(element, f"{{{ns}}}Description").text = xml_text(description)
        for child in code.children:
            add(element, child, dimension_id)

    for dimension in codebook.dimensions:
        # A dimension is a folder of codes: it groups them but is never applied itself.
        folder = ET.SubElement(codes, f"{{{ns}}}Code", {
            "guid": guid("dimension", dimension.id), "name": xml_text(dimension.name), "isCodable": "false",
            "color": FOLDER_COLOUR})
        ET.SubElement(folder, f"{{{ns}}}Description").text = xml_text(folder_description(dimension))
        for code in dimension.codes:
            add(folder, code, dimension.id)
    return codes


def xml_bytes(root: ET.Element, ns: str) -> bytes:
    ET.register_namespace("", ns)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def build_codebook(codebook: Codebook) -> ET.Element:
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": f"annotator {__version__}"})
    root.append(codes_element(codebook, CODEBOOK_NS))
    return root


def export_qdc(codebook: Codebook, out: Path) -> Path:
    from annotator.exchange.tabular import atomic_write

    payload = xml_bytes(build_codebook(codebook), CODEBOOK_NS)
    atomic_write(out, lambda path: path.write_bytes(payload))
    return out


# --- import -----------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_codes_root(path: Path) -> ET.Element:
    """The <Codes> element of a .qdc, a .qde or the project.qde inside a .qdpx."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".qde")]
                if not names:
                    raise UserError(f"{path}: a zip without a project.qde; not a REFI-QDA project.")
                data = archive.read("project.qde" if "project.qde" in names else names[0])
        else:
            data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file.")
    except (OSError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: cannot read it ({error}).")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise UserError(f"{path}:{error.position[0]}: not well-formed XML ({error}).")
    for element in root.iter():
        if _local(element.tag) == "Codes":
            return element
    raise UserError(f"{path}: no <Codes> in it; not a REFI-QDA codebook.")


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "code"


class _Keys:
    """One-character keys: unique among siblings, and top-level keys unique across dimensions."""

    ALL = "abcdefghijklmnopqrstuvwxyz0123456789"

    def __init__(self, path: Path):
        self.path = path
        self.top: set[str] = set()

    def pick(self, name: str, taken: set[str], what: str) -> str:
        for character in [*name.lower(), *self.ALL]:
            if character in self.ALL and character not in taken:
                taken.add(character)
                return character
        raise UserError(f"{self.path}: {what} has more than {len(self.ALL)} codes on one screen; annotator gives "
                        "each a one-key shortcut: group some under a parent code first.")


def _criteria(text: str) -> dict[str, str]:
    """A description split back into definition, include, exclude and example (as exported)."""
    out = {"definition": []}
    current = "definition"
    for line in text.splitlines():
        for field, label in _CRITERIA:
            if line.startswith(label):
                current = field
                out[field] = [line[len(label):]]
                break
        else:
            out.setdefault(current, []).append(line)
    return {field: "\n".join(lines).strip() for field, lines in out.items() if "\n".join(lines).strip()}


def codebook_from_codes(codes: ET.Element, path: Path, name: str) -> dict:
    """The plain codebook data (as taxonomy.yaml holds it) for a REFI-QDA <Codes> element."""
    keys = _Keys(path)
    dimensions: list[dict] = []
    loose: list[ET.Element] = []
    dimension_ids: set[str] = set()

    def description_of(element: ET.Element) -> str:
        for child in element:
            if _local(child.tag) == "Description":
                return clean(child.text or "").strip()
        return ""

    def children_of(element: ET.Element) -> list[ET.Element]:
        return [child for child in element if _local(child.tag) == "Code" and child.get("name")]

    def convert(elements: list[ET.Element], dimension: dict, parent: dict | None, depth: int,
                top: bool, trail: str) -> list[dict]:
        out: list[dict] = []
        sibling_keys: set[str] = set()
        for element in elements:
            title = clean_line(element.get("name")).strip()
            here = f"{trail} > {title}"
            if depth > MAX_DEPTH:
                raise UserError(f"{path}: code '{here}' nests {depth} levels deep; annotator's codebook takes "
                                f"{MAX_DEPTH} (theme, sub-theme, sub-sub-theme): move it up a level first.")
            if title.casefold() in dimension["_names"]:
                # QDA tools allow one name under two parents; a dimension here names each code once.
                title = f"{title} ({parent['name'] if parent else dimension['name']})"
                base_title, n = title, 2
                while title.casefold() in dimension["_names"]:
                    title, n = f"{base_title} {n}", n + 1
            dimension["_names"].add(title.casefold())
            base = _slug(title) if parent is None else f"{parent['id']}.{_slug(title)}"
            code_id, n = base, 2
            while code_id in dimension["_ids"]:
                code_id, n = f"{base}-{n}", n + 1
            dimension["_ids"].add(code_id)
            key = keys.pick(title, keys.top if top else sibling_keys, f"'{trail}'")
            code = {"id": code_id, "name": title, "key": key}
            code.update(_criteria(description_of(element)))
            kids = children_of(element)
            if kids:
                code["codes"] = convert(kids, dimension, code, depth + 1, False, here)
            out.append(code)
        return out

    def new_dimension(dim_id: str, dim_name: str, kind: str, description: str) -> dict:
        base, n = dim_id, 2
        while dim_id in dimension_ids:
            dim_id, n = f"{base}-{n}", n + 1
        dimension_ids.add(dim_id)
        dimension = {"id": dim_id, "name": dim_name, "kind": kind, "_ids": set(), "_names": set()}
        if description:
            dimension["description"] = description
        return dimension

    for element in children_of(codes):
        if element.get("isCodable", "true").strip().lower() in ("false", "0"):
            description = description_of(element)
            ours = _FOLDER.match(description)
            title = clean_line(element.get("name")).strip()
            if ours:
                kind = "multi" if ours.group(1) == "Multi-label" else "single"
                dimension = new_dimension(ours.group(2), title, kind, ours.group(3).strip())
            else:
                dimension = new_dimension(_slug(title), title, "multi", description)
            dimension["codes"] = convert(children_of(element), dimension, None, 1, True, title)
            if dimension["codes"]:
                dimensions.append(dimension)
        else:
            loose.append(element)
    if loose:
        dimension = new_dimension("codes", "Codes", "multi", "The codes that were in no folder.")
        dimension["codes"] = convert(loose, dimension, None, 1, True, "Codes")
        dimensions.append(dimension)
    if not dimensions:
        raise UserError(f"{path}: the codebook has no codes.")
    for dimension in dimensions:
        dimension.pop("_ids")
        dimension.pop("_names")
    return {"name": name, "dimensions": dimensions}


def import_qdc(path: Path | str, out: Path | str, *, force: bool = False) -> Codebook:
    """Write taxonomy.yaml from a REFI-QDA codebook; returns the codebook (checked as
    `taxonomy check` checks it). Refuses to overwrite an existing file unless force."""
    from io import StringIO

    from ruamel.yaml import YAML

    from annotator.exchange.tabular import atomic_write

    path, out = Path(path), Path(out)
    if out.exists() and not force:
        raise UserError(f"{out} already exists; choose another --out, or pass --force to replace it.")
    data = codebook_from_codes(read_codes_root(path), path, name=path.stem)
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    buffer = StringIO()
    yaml.dump(data, buffer)
    text = (f"# Imported by annotator from {path.name} (REFI-QDA codebook). Every folder became a\n"
            "# multi-label dimension: make one single-choice (kind: single) where a coder picks one code.\n"
            + buffer.getvalue())
    codebook = parse_codebook(text, str(out), check_names=True)
    atomic_write(out, lambda target: target.write_text(text, encoding="utf-8"))
    return codebook
