"""import-qdpx brings quotes back (issue 16 follow-up): a PlainTextSelection on part of an
item's text, within its body or a comment, becomes a quote on that code for that coder, with
offsets into the stored text. The round trip export -> import gives back the same quotes (the
export validated against the REFI-QDA schema); a selection outside its text stops the import,
naming the selection's guid, with nothing written; a QDA tool's own text is searched for the
passage. Real study folders, the CLI through CliRunner."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.cli import cli
from annotator.coding.session import SessionStore
from annotator.collect.corpus import CorpusStore
from annotator.exchange.refi import PROJECT_NS, guid
from annotator.exchange.refi_export import export_qdpx, issue_text_spans, quote_span
from annotator.exchange.refi_import import import_qdpx, place_quote

from fixtures.coders import code_session, make_items, make_study

XSD = Path(__file__).parent / "fixtures" / "Project-mrt2019.xsd"
Q = f"{{{PROJECT_NS}}}"
# Markup, escape sequences, a control character and Windows line ends before and inside the
# passages: the export drops them, the import must find the stored offsets again.
BODY = "[bold]Loading[/] \x1b[31mfails\x07\r\nThe tokenizer\x1b]0;x\x07 file is missing.\r\nend"
COMMENT = "Same here: from_pretrained raises OSError [red]x[/]."


def iid(number: int) -> str:
    return f"octo/models#{number}"


def corpus_study(root: Path, items: list[dict]):
    study = make_study(root)
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items(items, source="test")
    return study


@pytest.fixture
def exported(tmp_path):
    """Two coders with quotes on the body (across the escapes), a comment and a passage that
    occurs twice in the item, merged and exported; and a fresh study with the same items."""
    items = make_items(3)
    items[0]["body"] = BODY
    items[0]["comments"] = [{"author": "m", "created_at": "2024-01-05T12:00:00Z", "body": "Which version?"},
                            {"author": "x", "created_at": "2024-01-06T12:00:00Z", "body": COMMENT}]
    items[0]["comment_count"] = 2
    study = corpus_study(tmp_path / "study", items)
    code_session(study, "ana", items, {iid(1): {"relevance": "yes", "challenge": ["usage.loading"]},
                                       iid(2): {"relevance": "no"}})
    code_session(study, "ben", items, {iid(1): {"relevance": "yes", "challenge": ["usage.loading", "perf.wrong"]},
                                       iid(2): {"relevance": "no"}})
    with SessionStore(study.session_path("ana"), coder="ana") as store:
        store.add_quote(iid(1), "challenge", "usage.loading", "body", BODY.index("The tok"), BODY.index(".\r\nend") + 1)
        store.add_quote(iid(1), "relevance", "yes", "body", 0, BODY.index("\x07"))  # markup and an escape inside
        store.add_quote(iid(1), "challenge", "usage.loading", "comment:1", 11, 26)  # from_pretrained
        store.add_quote(iid(2), "relevance", "no", "body", 0, 4)  # "Body": also in another item's text
    with SessionStore(study.session_path("ben"), coder="ben") as store:
        store.add_quote(iid(1), "challenge", "perf.wrong", "comment:1", 0, len(COMMENT))
        store.add_quote(iid(1), "challenge", "usage.loading", "comment:0", 0, 5)
    merge_sessions(study.session_paths(), study.merged_path).close()
    qdpx = export_qdpx(MergedStore(study.merged_path, readonly=True), tmp_path / "study.qdpx")
    return study, corpus_study(tmp_path / "fresh", items), qdpx


def test_export_then_import_gives_back_the_same_quotes(exported):
    import xmlschema

    study, fresh, qdpx = exported
    with zipfile.ZipFile(qdpx) as archive:
        xmlschema.XMLSchema(str(XSD)).validate(ET.fromstring(archive.read("project.qde")))
    result = CliRunner().invoke(cli, ["import-qdpx", str(qdpx), "--study", str(fresh.root)])
    assert result.exit_code == 0, result.output
    assert "ana: 2 items, 3 codes, 0 memos, 0 flags, 4 quotes" in result.output
    assert "ben: 2 items, 4 codes, 0 memos, 0 flags, 2 quotes" in result.output
    assert "could not be placed" not in result.output
    for coder in ("ana", "ben"):
        with SessionStore(study.session_path(coder), readonly=True) as before, \
                SessionStore(fresh.session_path(coder), readonly=True) as after:
            assert after.current_state().quotes == before.current_state().quotes
            assert after.current_state() == before.current_state()  # labels, memos and flags too
            assert after.integrity_ok()  # written as events, like coding: the log replays them
            for quote in after.all_quotes():
                assert after.quote_source(quote["item_id"], quote["source"])[quote["start"]:quote["end"]] == quote["text"]


def test_a_selection_outside_its_text_names_its_guid_and_nothing_is_written(exported, tmp_path):
    _, fresh, qdpx = exported
    with zipfile.ZipFile(qdpx) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    project = ET.fromstring(files["project.qde"])
    source = next(s for s in project.iter(f"{Q}TextSource") if s.get("guid") == guid("source", iid(1)))
    text = files[f"sources/{source.get('guid')}.txt"].decode("utf-8")
    quote = next(s for s in source.findall(f"{Q}PlainTextSelection") if s.get("name") == "ben: quote")
    quote.set("endPosition", str(len(text) + 7))
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(broken, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, ET.tostring(project, encoding="utf-8") if name == "project.qde" else data)

    result = CliRunner().invoke(cli, ["import-qdpx", str(broken), "--study", str(fresh.root)])
    assert result.exit_code == 2, result.output
    assert f"selection {quote.get('guid')}" in result.output
    assert f"outside its text ({len(text)} characters: 0 to {len(text)})" in result.output
    assert "nothing was written" in result.output
    assert "Traceback" not in result.output
    assert fresh.session_paths() == [], "all or nothing: no coder's session is written"


def _own_text_project(path: Path, item: dict, text: str, passages: list[str]) -> list[str]:
    """A QDA tool's project: the item's text as the tool holds it (PlainTextContent), one
    selection per passage coded 'Relevant' by one user, one over the whole text."""
    ns = PROJECT_NS
    E = lambda parent, tag, **attributes: ET.SubElement(parent, f"{{{ns}}}{tag}", attributes)  # noqa: E731
    project = ET.Element(f"{{{ns}}}Project", {"name": "coded elsewhere", "origin": "QualCoder 3.5"})
    E(E(project, "Users"), "User", guid="00000000-0000-0000-0000-00000000000a", name="ana")
    codes = E(E(project, "CodeBook"), "Codes")
    E(codes, "Code", guid="10000000-0000-0000-0000-000000000002", name="Relevant", isCodable="true")
    source = E(E(project, "Sources"), "TextSource", guid="20000000-0000-0000-0000-000000000001", name=item["id"])
    ET.SubElement(source, f"{{{ns}}}PlainTextContent").text = text
    spans = [(0, len(text))] + [(text.index(p), text.index(p) + len(p)) for p in passages]
    for number, (start, end) in enumerate(spans):
        selection = E(source, "PlainTextSelection", guid=f"30000000-0000-0000-0000-00000000000{number}",
                      startPosition=str(start), endPosition=str(end),
                      creatingUser="00000000-0000-0000-0000-00000000000a")
        coding = E(selection, "Coding", guid=f"40000000-0000-0000-0000-00000000000{number}")
        E(coding, "CodeRef", targetGUID="10000000-0000-0000-0000-000000000002")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", ET.tostring(project, encoding="utf-8", xml_declaration=True))
    return passages


def test_a_qda_tools_own_text_gives_quotes_where_the_passage_is_found_once(tmp_path):
    items = make_items(2)
    study = corpus_study(tmp_path / "study", items)
    item = items[0]
    # The tool's text: the body and the comment, with a heading of its own.
    text = f"Imported issue\n{item['body']}\n\n{item['comments'][0]['body']}"
    path = tmp_path / "tool.qdpx"
    _own_text_project(path, item, text, ["OSError: can't load tokenizer", "Which version?",
                                         "Imported issue", "load"])
    report = import_qdpx(path, study)
    assert report.partial_selections == 4
    # "Imported issue" is not in the item's text; "load" is, more than once: neither is placed.
    assert report.unplaced_quotes == 2
    assert report.counts["ana"]["quotes"] == 2
    assert any("2 codings on part of a text could not be placed" in line for line in report.lines())
    with SessionStore(study.session_path("ana"), readonly=True) as ana:
        body = item["body"]
        start = body.index("OSError")
        assert [(q["code"], q["source"], q["start"], q["end"], q["text"]) for q in ana.all_quotes()] == [
            ("yes", "body", start, len(body), body[start:]),
            ("yes", "comment:0", 0, len("Which version?"), "Which version?")]
        assert ana.integrity_ok()


def test_a_passage_of_the_title_or_a_comments_heading_counts_for_the_item_but_is_no_quote(exported):
    study, _, _ = exported
    with MergedStore(study.merged_path, readonly=True) as merged:
        item = merged.item(iid(1))
    text, starts = issue_text_spans(item)
    assert place_quote(item, text, 0, 5) is None  # the title
    heading = text.index("---- m commented")
    assert place_quote(item, text, heading, heading + 10) is None
    assert place_quote(item, text, starts["body"] - 1, starts["body"] + 3) is None  # across the blank line


def test_every_passage_maps_back_to_the_offsets_it_was_exported_from(exported):
    """The import's placing is the inverse of the export's quote_span, on a body full of what
    the export drops, for every passage whose first and last characters are exported."""
    study, _, _ = exported
    with MergedStore(study.merged_path, readonly=True) as merged:
        item = merged.item(iid(1))
    text, starts = issue_text_spans(item)
    exported_text = text[starts["body"]:starts["comment:0"]]
    kept = [i for i in range(len(BODY)) if BODY[i] in exported_text and BODY[i] not in "\x1b\x07\r"]
    checked = 0
    for start in kept:
        for end in kept:
            if end < start or BODY[end:end + 2] == "\r\n":
                continue
            quote = {"source": "body", "start": start, "end": end + 1}
            span = quote_span(item, quote, starts)
            if span is None or text[span[0]:span[1]] != BODY[start:end + 1]:
                continue  # the passage holds something the export drops: compared below by text
            assert place_quote(item, text, *span) == ("body", start, end + 1)
            checked += 1
    assert checked > 100


def test_a_quote_left_on_a_code_taken_off_is_not_exported_as_that_code(exported, tmp_path):
    """Sessions from before codes took their quotes along can hold such a quote: exported, it
    would come back from the import as a code the coder had taken off."""
    import sqlite3

    study, fresh, _ = exported
    connection = sqlite3.connect(study.session_path("ana"))
    connection.execute("insert into quotes (item_id, dimension, code, source, start, end, text, coder, at)"
                       " values (?, 'challenge', 'perf.wrong', 'body', 0, 4, '[bol', 'ana', '2024-01-01T00:00:00Z')",
                       [iid(1)])
    connection.commit()
    connection.close()
    merge_sessions(study.session_paths(), study.merged_path).close()
    qdpx = export_qdpx(MergedStore(study.merged_path, readonly=True), tmp_path / "again.qdpx")
    import_qdpx(qdpx, fresh)
    with SessionStore(fresh.session_path("ana"), readonly=True) as ana:
        assert "perf.wrong" not in ana.labels_for(iid(1))["challenge"]
        assert len(ana.all_quotes()) == 4


def test_a_quote_cut_inside_an_escape_sequence_is_exported_from_the_next_character_shown(exported):
    """Cleaning a prefix cut inside '\\x1b[31m' leaves '[31' behind: counted that way, the
    passage would start 3 characters late. Counted on the exported characters, it starts where
    the visible text does, and comes back as the stored passage from that character."""
    study, _, _ = exported
    with MergedStore(study.merged_path, readonly=True) as merged:
        item = merged.item(iid(1))
    text, starts = issue_text_spans(item)
    inside = BODY.index("31m") + 2  # the sequence's last byte
    span = quote_span(item, {"source": "body", "start": inside, "end": BODY.index("\x07")}, starts)
    assert text[span[0]:span[1]] == "fails"
    assert place_quote(item, text, *span) == ("body", BODY.index("fails"), BODY.index("\x07"))
