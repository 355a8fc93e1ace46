"""annotator export: CSV and JSONL re-read, REFI-QDA validated against the official schema."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from annotator.cli import cli
from annotator.exchange.export import CODEBOOK_NS, PROJECT_NS, export
from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.textsafe import clean_line
from fixtures.coders import code_session, make_items, make_study
from fixtures.hostile import FORBIDDEN_CHARACTERS, HOSTILE

# The official QDA-XML 1.0 project schema (REFI 2019, MIT licence), copied verbatim.
XSD = Path(__file__).parent / "fixtures" / "Project-mrt2019.xsd"
Q = f"{{{PROJECT_NS}}}"
HOSTILE_TITLE = ('Loading fails <b>&amp;</b> "quoted" \'single\' ]]> x[i] ' + HOSTILE["csi_colour"]
                 + HOSTILE["nul"] + "\ufffe end")


@pytest.fixture(scope="module")
def schema():
    import xmlschema

    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture
def merged_path(tmp_path):
    study = make_study(tmp_path / "study")
    items = make_items(5)
    items[0]["title"] = HOSTILE_TITLE
    items[1]["title"] = "=HYPERLINK(\"http://evil.example\")"
    ids = [i["id"] for i in items]
    ana = {ids[0]: {"relevance": "yes", "challenge": ["usage.loading"]},
           ids[1]: {"relevance": "yes", "challenge": ["usage.loading", "perf.wrong"]},
           ids[2]: {"relevance": "no"}, ids[3]: {"relevance": "yes", "challenge": ["perf.wrong"]}}
    ben = {ids[0]: {"relevance": "yes", "challenge": ["usage.loading"]},
           ids[1]: {"relevance": "yes", "challenge": ["perf.wrong"]},
           ids[2]: {"relevance": "yes", "challenge": ["usage.api"]}, ids[3]: {"relevance": "yes", "challenge": ["perf.wrong"]}}
    code_session(study, "ana", items, ana, memos={ids[1]: "two challenges? <see> & check"},
                 rounds={i: "calibration-1" for i in ids}, unsure=(ids[1],))
    code_session(study, "ben", items, ben, rounds={i: "calibration-1" for i in ids})
    merged = merge_sessions(study.session_paths(), study.merged_path)
    merged.decide(ids[1], "challenge", ["usage.loading", "perf.wrong"], decided_by="lead", method="union",
                  rationale="both are in the thread")
    merged.decide(ids[2], "relevance", ["no"], decided_by="lead", method="coder:ana")
    merged.close()
    return study.merged_path


def test_csv_has_final_and_every_coders_codes_and_the_codebook(merged_path):
    written = export(merged_path, "csv")
    assert written[0] == merged_path.parent / "exports" / "final-codes.csv"
    with open(written[0], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    by_id = {row["item"]: row for row in rows}
    first, second, third, fourth, fifth = (by_id[f"octo/models#{n}"] for n in range(1, 6))
    assert first["final:relevance"] == "yes" and first["decision:relevance"] == "agreed"
    assert second["final:challenge"] == "perf.wrong;usage.loading" and second["decision:challenge"] == "union"
    assert second["ana:challenge"] == "perf.wrong;usage.loading" and second["ben:challenge"] == "perf.wrong"
    assert second["memo:ana"] == "two challenges? <see> & check"
    assert third["final:relevance"] == "no" and third["decision:relevance"] == "coder:ana"
    assert third["final:challenge"] == "" and third["decision:challenge"] == ""  # not asked any more
    assert fifth["final:relevance"] == "" and fifth["ana:relevance"] == ""  # nobody coded it
    assert fourth["round"] == "calibration-1"
    # Who opened it, its labels, why it was closed, when it last changed, how many comments.
    assert (first["author"], first["labels"], first["state_reason"], first["updated_at"], first["comment_count"]) == (
        "user1", "bug", "completed", "2024-02-02T10:00:00Z", "1")
    assert second["flags:ana"] == "unsure" and second["flags:ben"] == "" and first["flags:ana"] == ""
    # Text from issues is cleaned, and a formula is not left for a spreadsheet to run.
    assert first["title"] == clean_line(HOSTILE_TITLE)
    assert not set(first["title"]) & FORBIDDEN_CHARACTERS
    assert second["title"].startswith("'=HYPERLINK")
    with open(written[1], newline="", encoding="utf-8") as handle:
        codes = list(csv.DictReader(handle))
    assert {(c["dimension"], c["code"], c["theme"]) for c in codes} >= {
        ("relevance", "yes", "yes"), ("challenge", "usage.loading", "usage"), ("challenge", "perf", "perf")}


def test_jsonl_round_trip(merged_path, tmp_path):
    out = tmp_path / "out" / "codes.jsonl"
    written = export(merged_path, "jsonl", out)
    assert written == [out, out.with_name("codes.codebook.jsonl")]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["item_id"] for line in lines] == [f"octo/models#{n}" for n in range(1, 6)]
    second = lines[1]
    assert second["final"] == {"relevance": ["yes"], "challenge": ["perf.wrong", "usage.loading"]}
    assert second["decisions"]["challenge"]["rationale"] == "both are in the thread"
    assert second["decisions"]["challenge"]["decided_by"] == "lead"
    ben = second["coders"]["ben"]
    assert {k: ben[k] for k in ("status", "codes", "memo", "flags", "memo_at")} == {
        "status": "coded", "codes": {"challenge": ["perf.wrong"], "relevance": ["yes"]}, "memo": "", "flags": [],
        "memo_at": None}
    # When each code was given and the memo written, as the sessions recorded them.
    assert set(ben["coded_at"]) == {"challenge", "relevance"}
    assert all(at.endswith("Z") for codes in ben["coded_at"].values() for at in codes.values())
    ana = second["coders"]["ana"]
    assert ana["flags"] == ["unsure"] and ana["memo_at"].endswith("Z")
    assert ana["memo_at"] >= min(at for codes in ana["coded_at"].values() for at in codes.values())
    assert second["author"] == "user2" and second["comment_count"] == 1 and second["updated_at"]
    assert lines[4]["coders"]["ana"]["status"] == "uncoded"
    codebook = [json.loads(line) for line in written[1].read_text(encoding="utf-8").splitlines()]
    assert any(c["code"] == "usage.api" and c["parent"] == "usage" for c in codebook)


def _project(path: Path):
    archive = zipfile.ZipFile(path)
    root = ET.fromstring(archive.read("project.qde"))
    return archive, root


def test_qdpx_validates_against_the_refi_schema_and_is_complete(merged_path, schema):
    path = export(merged_path, "qdpx")[0]
    archive, root = _project(path)
    schema.validate(archive.read("project.qde").decode("utf-8"))
    assert root.tag == f"{Q}Project"
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{Q}User")}
    assert set(users.values()) >= {"ana", "ben", "final", "lead"}
    codes = {c.get("guid"): c for c in root.iter(f"{Q}Code")}
    folders = [c.get("name") for c in root.find(f"{Q}CodeBook/{Q}Codes")]
    assert folders == ["Relevant?", "Challenge"]
    assert all(root.find(f"{Q}CodeBook/{Q}Codes")[i].get("isCodable") == "false" for i in range(2))
    names = {c.get("name") for c in codes.values()}
    assert {"Relevant", "Model Usage", "Loading", "API misuse", "Wrong output"} <= names
    usage = next(c for c in codes.values() if c.get("name") == "Model Usage")
    assert {child.get("name") for child in usage.findall(f"{Q}Code")} == {"Loading", "API misuse"}

    sources = root.findall(f"{Q}Sources/{Q}TextSource")
    assert len(sources) == 5
    listed = set(archive.namelist())
    for source in sources:
        name = source.get("plainTextPath").removeprefix("internal://")
        assert f"sources/{name}" in listed  # the folder as the specification spells it
        text = archive.read(f"sources/{name}").decode("utf-8")
        for selection in source.findall(f"{Q}PlainTextSelection"):
            assert (int(selection.get("startPosition")), int(selection.get("endPosition"))) == (0, len(text))
            assert selection.get("creatingUser") in users and selection.get("creationDateTime")
            for coding in selection.findall(f"{Q}Coding"):
                assert coding.get("creatingUser") == selection.get("creatingUser")
                assert coding.find(f"{Q}CodeRef").get("targetGUID") in codes

    def selection_of(source, user):
        found = [s for s in source.findall(f"{Q}PlainTextSelection") if users[s.get("creatingUser")] == user]
        assert len(found) <= 1  # one selection per coder and item
        return found[0] if found else None

    def codings(source, user):
        selection = selection_of(source, user)
        return sorted(codes[c.find(f"{Q}CodeRef").get("targetGUID")].get("name")
                      for c in selection.findall(f"{Q}Coding")) if selection is not None else []

    second = next(s for s in sources if s.get("name").startswith("octo_models#2 "))
    assert codings(second, "ana") == ["Loading", "Relevant", "Wrong output"]
    assert codings(second, "ben") == ["Relevant", "Wrong output"]
    assert codings(second, "final") == ["Loading", "Relevant", "Wrong output"]
    # The memo is the description of its coder's selection; the decision's rationale the final user's.
    assert selection_of(second, "ana").find(f"{Q}Description").text == "two challenges? <see> & check"
    assert selection_of(second, "ben").find(f"{Q}Description") is None
    final = selection_of(second, "final")
    assert final.find(f"{Q}Description").text == ("Challenge: perf.wrong, usage.loading (union, decided by lead): "
                                                  "both are in the thread")
    assert users[final.get("modifyingUser")] == "lead"
    # The flag is a set of sources.
    flag_set = root.find(f"{Q}Sets/{Q}Set")
    assert flag_set.get("name") == "unsure: ana"
    assert [m.get("targetGUID") for m in flag_set.findall(f"{Q}MemberSource")] == [second.get("guid")]
    # Repository, state and dates are variables; the repository is a case.
    variables = {v.get("guid"): v.get("name") for v in root.iter(f"{Q}Variable")}
    values = {variables[v.find(f"{Q}VariableRef").get("targetGUID")]: v[1].text for v in second.findall(f"{Q}VariableValue")}
    assert values["repository"] == "octo/models" and values["number"] == "2" and values["round"] == "calibration-1"
    assert values["created at"] == "2024-01-03T10:00:00Z" and values["item"] == "octo/models#2"
    assert values["author"] == "user2" and values["comment count"] == "1"
    case = root.find(f"{Q}Cases/{Q}Case")
    assert case.get("name") == "octo/models" and len(case.findall(f"{Q}SourceRef")) == 5
    # The codebook's description is the project's.
    assert root.find(f"{Q}Description").text == "Two dimensions, a hierarchy of two levels."


def test_a_hostile_title_survives_the_xml_round_trip_escaped(merged_path, schema):
    path = export(merged_path, "qdpx")[0]
    archive, root = _project(path)
    raw = archive.read("project.qde").decode("utf-8")
    schema.validate(raw)
    # Markup in a title or memo stays text: escaped in the XML (the memo), or, in a source's name,
    # which importers use as a file name, with the characters a file name cannot hold made spaces.
    assert "<b>" not in raw and "<see>" not in raw
    assert "&lt;see&gt; &amp; check" in raw and "fails b &amp;amp; b quoted" in raw
    first = next(s for s in root.iter(f"{Q}TextSource") if s.get("name").startswith("octo_models#1 "))
    expected = clean_line(HOSTILE_TITLE).replace("\ufffe", "")
    # In the name (a file name for the importers) the characters files cannot hold become spaces.
    assert first.get("name") == "octo_models#1 " + " ".join(re.sub(r'[\\/:*?"<>|]', " ", expected).split())
    text = archive.read("sources/" + first.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
    assert text.splitlines()[0] == expected
    assert not set(raw) & (FORBIDDEN_CHARACTERS - {"\r"})


def test_guids_are_stable_between_exports(merged_path, tmp_path):
    first = export(merged_path, "qdpx", tmp_path / "a.qdpx")[0]
    second = export(merged_path, "qdpx", tmp_path / "b.qdpx")[0]

    def guids(path):
        _, root = _project(path)
        return sorted(e.get("guid") for e in root.iter() if e.get("guid"))

    assert guids(first) == guids(second)
    assert len(set(guids(first))) == len(guids(first))  # unique within a project


def test_qdc_codebook_alone(merged_path, schema):
    path = export(merged_path, "qdc")[0]
    assert path.name == "codebook.qdc"
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{CODEBOOK_NS}}}CodeBook"
    # The codebook schema's Codes are the project schema's Codes: validate them inside a Project.
    text = path.read_text(encoding="utf-8").replace(CODEBOOK_NS, PROJECT_NS)
    inner = ET.fromstring(text.split("?>", 1)[1])
    project = ET.Element(f"{Q}Project", {"name": "codebook check"})
    book = ET.SubElement(project, f"{Q}CodeBook")
    book.extend(list(inner))
    schema.validate(ET.tostring(project, encoding="unicode"))
    assert sum(1 for _ in root.iter(f"{{{CODEBOOK_NS}}}Code")) == 2 + 2 + 3 + 2


def test_the_schema_check_can_fail(schema):
    """A project without the required name attribute is invalid: the validation above is real."""
    import xmlschema

    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(f'<Project xmlns="{PROJECT_NS}"><Users/></Project>')


def test_cli_export(merged_path, tmp_path):
    runner = CliRunner()
    study = merged_path.parent
    result = runner.invoke(cli, ["export", "--study", str(study), "--format", "qdpx"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("study.qdpx")
    result = runner.invoke(cli, ["export", str(merged_path), "--format", "csv", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 0 and (tmp_path / "x.codebook.csv").is_file()
    result = runner.invoke(cli, ["export", "--study", str(tmp_path / "nowhere"), "--format", "csv"])
    assert result.exit_code == 2 and "annotator merge" in result.output
    assert not list(study.glob("exports/.*partial*"))
    with MergedStore(merged_path, readonly=True) as merged:
        assert merged.coders() == ["ana", "ben"]


def test_a_study_merged_before_times_were_kept_still_exports_and_upgrades(merged_path, schema, tmp_path):
    """merged.db files from before m002 (no time on codings and memos): read-only exports fall
    back to the merge's time; opening it to write (merge, reconcile) adds the columns."""
    import sqlite3

    connection = sqlite3.connect(merged_path)
    with connection:
        connection.execute("alter table codings drop column at")
        connection.execute("alter table memos drop column at")
        connection.execute("delete from _sqlite_migrations where name = 'm002_memo_and_coding_times'")
    connection.close()
    path = export(merged_path, "qdpx", tmp_path / "old.qdpx")[0]
    archive, root = _project(path)
    schema.validate(archive.read("project.qde").decode("utf-8"))
    with MergedStore(merged_path, readonly=True) as merged:
        merged_at = merged.meta("merged_at")
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{Q}User")}
    coders = [s for s in root.iter(f"{Q}PlainTextSelection") if users[s.get("creatingUser")] in ("ana", "ben")]
    assert coders and {c.get("creationDateTime") for s in coders for c in s.iter(f"{Q}Coding")} == {merged_at}
    with MergedStore(merged_path) as merged:  # a writer upgrades it
        columns = {row[1] for row in merged.db.execute("pragma table_info(codings)")}
    assert "at" in columns
