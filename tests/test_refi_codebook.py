"""The codebook across tools: duplicate code names refused (QDA tools identify codes by name),
a codebook CSV that Taguette imports, and `taxonomy import-qdc` starting a study from a REFI-QDA
codebook made in a QDA tool (or exported by annotator)."""

from __future__ import annotations

import csv
import io
from xml.etree import ElementTree as ET

from click.testing import CliRunner

from annotator.cli import cli
from annotator.codebook.model import load_codebook, parse_codebook
from annotator.exchange.qdc import export_qdc
from annotator.exchange.refi import CODEBOOK_NS
from drivers.core_support import DEFAULT_TAXONOMY, SMALL_TAXONOMY

DUPLICATE_IN_DIMENSION = SMALL_TAXONOMY.read_text(encoding="utf-8").replace("name: API misuse", "name: loading ")
DUPLICATE_ACROSS = SMALL_TAXONOMY.read_text(encoding="utf-8").replace("name: Not relevant", "name: Loading")


def test_taxonomy_check_refuses_a_code_name_used_twice_in_a_dimension_with_file_and_line(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(DUPLICATE_IN_DIMENSION, encoding="utf-8")
    result = CliRunner().invoke(cli, ["taxonomy", "check", str(path)])
    assert result.exit_code == 2
    line = DUPLICATE_IN_DIMENSION.splitlines().index("            name: loading ") + 1
    first = DUPLICATE_IN_DIMENSION.splitlines().index("            name: Loading") + 1
    assert (f"{path}:{line}: code 'usage.api': the name 'loading' is already used by 'usage.loading' "
            f"(line {first}) in dimension 'challenge'") in result.output
    assert "Traceback" not in result.output


def test_taxonomy_check_warns_about_a_name_shared_across_dimensions(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(DUPLICATE_ACROSS, encoding="utf-8")
    result = CliRunner().invoke(cli, ["taxonomy", "check", str(path)])
    assert result.exit_code == 0, result.output
    line = DUPLICATE_ACROSS.splitlines().index("            name: Loading") + 1
    assert f"{path}:{line}: warning: code 'usage.loading' has the name 'Loading', like 'no' in dimension 'relevance'" \
        in result.output
    assert result.output.rstrip().endswith(")")  # then: ok (...)
    assert ": ok (" in result.output


def test_codebooks_already_stored_in_sessions_stay_readable_with_duplicate_names():
    """Only taxonomy.yaml is checked for names: a session's stored codebook must still open."""
    codebook = parse_codebook(DUPLICATE_IN_DIMENSION, "session snapshot")
    assert codebook.dimension("challenge").by_id["usage.api"].name == "loading"


def test_the_bundled_codebook_and_the_demo_pass_the_name_check(tmp_path):
    assert load_codebook(DEFAULT_TAXONOMY).warnings == []
    result = CliRunner().invoke(cli, ["taxonomy", "check", str(DEFAULT_TAXONOMY)])
    assert result.exit_code == 0 and "warning" not in result.output
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo"), "--no-open"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["taxonomy", "check", str(tmp_path / "demo" / "taxonomy.yaml")])
    assert result.exit_code == 0 and "warning" not in result.output


def taguette_reads(text: str) -> list[dict]:
    """Taguette's codebook import (taguette/import_codebook.py): the header names exactly one of
    'tag', 'name' or 'path' (case-insensitive), optionally 'description'; no empty tag."""
    reader = csv.reader(io.StringIO(text))
    header = [cell.lower() for cell in next(reader)]
    assert ("tag" in header) + ("name" in header) + ("path" in header) == 1
    tag, description = header.index("tag"), header.index("description")
    rows = []
    for row in reader:
        assert len(row) >= max(tag, description) + 1 and row[tag].strip()
        rows.append({"path": row[tag].strip(), "description": row[description].strip()})
    return rows


def test_taguette_csv_of_the_codebook(tmp_path):
    study = tmp_path / "study"
    result = CliRunner().invoke(cli, ["init", str(study)])
    assert result.exit_code == 0
    result = CliRunner().invoke(cli, ["taxonomy", "export", str(study / "taxonomy.yaml"), "--format", "taguette-csv"])
    assert result.exit_code == 0, result.output
    out = study / "exports" / "codebook-taguette.csv"
    assert result.output.strip() == str(out)
    rows = taguette_reads(out.read_text(encoding="utf-8"))
    codebook = load_codebook(study / "taxonomy.yaml")
    assert len(rows) == sum(len(list(d.walk())) for d in codebook.dimensions)
    by_path = {row["path"]: row["description"] for row in rows}
    assert len(by_path) == len(rows)
    usage = codebook.dimension("challenge").codes[0]
    assert by_path[f"Challenge.{usage.name}"].startswith(usage.definition)
    child = usage.children[0]
    assert f"Challenge.{usage.name}.{child.name}" in by_path


def test_import_qdc_gives_back_a_codebook_exported_by_annotator(tmp_path):
    qdc = export_qdc(load_codebook(SMALL_TAXONOMY), tmp_path / "small.qdc")
    out = tmp_path / "new" / "taxonomy.yaml"
    out.parent.mkdir()
    result = CliRunner().invoke(cli, ["taxonomy", "import-qdc", str(qdc), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 dimensions, 7 codes" in result.output
    original, imported = load_codebook(SMALL_TAXONOMY), load_codebook(out)
    assert [(d.id, d.kind, d.name) for d in imported.dimensions] == [(d.id, d.kind, d.name) for d in original.dimensions]
    for a, b in zip(original.dimensions, imported.dimensions):
        assert [(c.name, c.depth, c.definition, c.include, c.exclude, c.example) for c in a.walk()] == \
               [(c.name, c.depth, c.definition, c.include, c.exclude, c.example) for c in b.walk()]
    result = CliRunner().invoke(cli, ["taxonomy", "import-qdc", str(qdc), "--out", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output
    result = CliRunner().invoke(cli, ["taxonomy", "check", str(out)])
    assert result.exit_code == 0, result.output


def _qdc(tmp_path, build) -> str:
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": "MAXQDA 2022"})
    codes = ET.SubElement(root, f"{{{CODEBOOK_NS}}}Codes")
    counter = iter(range(1, 1000))

    def code(parent, name, codable=True, description=None):
        element = ET.SubElement(parent, f"{{{CODEBOOK_NS}}}Code", {
            "guid": f"00000000-0000-0000-0000-{next(counter):012d}", "name": name,
            "isCodable": "true" if codable else "false"})
        if description:
            ET.SubElement(element, f"{{{CODEBOOK_NS}}}Description").text = description
        return element

    build(codes, code)
    path = tmp_path / "tool.qdc"
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
    return str(path)


def test_import_qdc_from_a_qda_tool(tmp_path):
    def build(codes, code):
        themes = code(codes, "Themes", codable=False)
        for theme in ("Barriers", "Benefits"):
            parent = code(themes, theme, description=f"All {theme.lower()}")
            code(parent, "Other")  # the same name under two parents, as QDA tools allow
            code(code(parent, "Money"), "Grants")
        code(codes, "Interesting quote")  # a code in no folder

    out = tmp_path / "taxonomy.yaml"
    result = CliRunner().invoke(cli, ["taxonomy", "import-qdc", _qdc(tmp_path, build), "--out", str(out)])
    assert result.exit_code == 0, result.output
    codebook = load_codebook(out)
    themes = codebook.dimension("themes")
    assert themes.multi and [c.name for c in themes.codes] == ["Barriers", "Benefits"]
    assert [c.name for c in themes.codes[1].children] == ["Other (Benefits)", "Money (Benefits)"]
    assert themes.by_id["barriers.money.grants"].depth == 3
    assert themes.codes[0].definition == "All barriers"
    assert [c.name for c in codebook.dimension("codes").codes] == ["Interesting quote"]
    keys = [c.key for d in codebook.dimensions for c in d.codes]
    assert len(keys) == len(set(keys))


def test_import_qdc_refuses_codes_nested_too_deep_and_what_is_not_a_codebook(tmp_path):
    def build(codes, code):
        code(code(code(code(codes, "A"), "B"), "C"), "D")

    result = CliRunner().invoke(cli, ["taxonomy", "import-qdc", _qdc(tmp_path, build), "--out", str(tmp_path / "t.yaml")])
    assert result.exit_code == 2 and "code 'Codes > A > B > C > D' nests 4 levels deep" in result.output
    assert not (tmp_path / "t.yaml").exists()
    bad = tmp_path / "bad.qdc"
    bad.write_text("<CodeBook><oops></CodeBook>")
    result = CliRunner().invoke(cli, ["taxonomy", "import-qdc", str(bad), "--out", str(tmp_path / "t.yaml")])
    assert result.exit_code == 2 and "not well-formed XML" in result.output and "Traceback" not in result.output
