"""import-qdpx: the demo study exported and imported back gives the same study; a project coded
in a QDA tool (its own GUIDs, codes matched by name, selections on part of a text, memos as
notes) becomes coders' sessions that merge and reconcile."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from annotator.agreement.merge import MergedStore, merge_sessions
from annotator.cli import cli
from annotator.coding.session import SessionStore
from annotator.exchange.refi import PROJECT_NS
from annotator.exchange.refi_import import import_qdpx
from fixtures.refi_demo import demo_with_flags, fresh_study

Q = f"{{{PROJECT_NS}}}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return demo_with_flags(tmp_path_factory.mktemp("roundtrip"))


def test_export_then_import_gives_back_every_coders_labels_memos_and_flags(exported, tmp_path):
    study, qdpx = exported
    fresh = fresh_study(tmp_path / "fresh")
    result = CliRunner().invoke(cli, ["import-qdpx", str(qdpx), "--study", str(fresh.root)])
    assert result.exit_code == 0, result.output
    assert "44 of 44 text sources matched" in result.output
    assert "user 'final' left out" in result.output
    assert sorted(p.stem for p in fresh.session_paths()) == ["ana", "ben", "chen"]
    flags_seen = 0
    for coder in ("ana", "ben", "chen"):
        with SessionStore(study.session_path(coder), readonly=True) as before, \
                SessionStore(fresh.session_path(coder), readonly=True) as after:
            labels, memos, flags = before.current_state()
            assert after.current_state() == (labels, memos, flags)
            assert after.state_from_log() == after.current_state()  # written as events, like coding
            flags_seen += sum(len(f) for f in flags.values())
            assert labels and (coder == "ben" or flags)
            # The items keep their rounds (calibration first).
            for item_id in after.item_ids():
                assert after.item(item_id)["round"] == before.item(item_id)["round"]
    assert flags_seen == 4
    # Merged again, the imported sessions give the same codings and statuses as the original.
    again = merge_sessions(fresh.session_paths(), fresh.merged_path)
    try:
        with MergedStore(study.merged_path, readonly=True) as original:
            assert again.codings() == original.codings()
            assert again.memos() == original.memos()
            coded = {i: {c: s for c, s in by.items() if s != "uncoded"} for i, by in original.statuses().items()}
            assert again.statuses() == {i: by for i, by in coded.items() if by}
    finally:
        again.close()


def test_dry_run_reports_and_writes_nothing(exported, tmp_path):
    _, qdpx = exported
    fresh = fresh_study(tmp_path / "fresh")
    result = CliRunner().invoke(cli, ["import-qdpx", str(qdpx), "--study", str(fresh.root), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "ana: " in result.output and "dry run: nothing was written." in result.output
    assert fresh.session_paths() == []


def test_importing_again_refuses_and_writes_nothing(exported, tmp_path):
    study, qdpx = exported
    fresh = fresh_study(tmp_path / "fresh")
    fresh.sessions_dir.mkdir(exist_ok=True)
    before = sorted(p.name for p in fresh.sessions_dir.iterdir())
    (fresh.sessions_dir / "ben.db").write_bytes(b"")
    result = CliRunner().invoke(cli, ["import-qdpx", str(qdpx), "--study", str(fresh.root)])
    assert result.exit_code == 2
    assert "ben.db already exists; nothing was written" in result.output
    assert sorted(p.name for p in fresh.sessions_dir.iterdir()) == sorted([*before, "ben.db"])
    # One user, under another coder name, and the final codes as a coder of their own.
    result = CliRunner().invoke(cli, ["import-qdpx", str(qdpx), "--study", str(fresh.root), "--user", "ben=ben2",
                                      "--user", "final"])
    assert result.exit_code == 0, result.output
    assert {p.stem for p in fresh.session_paths()} == {"ben", "ben2", "final"}
    with SessionStore(fresh.session_path("final"), readonly=True) as final, \
            MergedStore(study.merged_path, readonly=True) as merged:
        assert final.all_labels() == merged.final_labels()


def test_import_qdpx_refuses_what_is_not_a_project(tmp_path):
    study = fresh_study(tmp_path / "study")
    bad = tmp_path / "bad.qdpx"
    bad.write_text("not a zip")
    result = CliRunner().invoke(cli, ["import-qdpx", str(bad), "--study", str(study.root)])
    assert result.exit_code == 2 and "not a .qdpx file" in result.output and "Traceback" not in result.output
    empty = tmp_path / "empty.qdpx"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("readme.txt", "hello")
    result = CliRunner().invoke(cli, ["import-qdpx", str(empty), "--study", str(study.root)])
    assert result.exit_code == 2 and "no project.qde" in result.output


def _qda_tool_project(path, items):
    """A project as a QDA tool would write it after coding annotator's sources: its own GUIDs,
    codes found by name under folders, sources named by title with the issue URL in the
    description, selections on part of the text, a coding by a user other than the selection's,
    a memo as an annotation note, an unknown code and an unknown source."""
    ns = PROJECT_NS
    E = lambda parent, tag, **attributes: ET.SubElement(parent, f"{{{ns}}}{tag}", attributes)  # noqa: E731
    project = ET.Element(f"{{{ns}}}Project", {"name": "coded in NVivo", "origin": "NVivo 14"})
    users = E(project, "Users")
    E(users, "User", guid="00000000-0000-0000-0000-00000000000a", name="Ana Lima")
    E(users, "User", guid="00000000-0000-0000-0000-00000000000b", name="bo")
    codes = E(E(project, "CodeBook"), "Codes")
    guids = {}
    relevance = E(codes, "Code", guid="10000000-0000-0000-0000-000000000001", name="Relevant?", isCodable="false")
    for name, number in (("Relevant", 2), ("Not relevant", 3)):
        guids[name] = f"10000000-0000-0000-0000-00000000000{number}"
        E(relevance, "Code", guid=guids[name], name=name, isCodable="true")
    challenge = E(codes, "Code", guid="10000000-0000-0000-0000-000000000004", name="Challenge", isCodable="false")
    usage = E(challenge, "Code", guid="10000000-0000-0000-0000-000000000005", name="Model Usage", isCodable="true")
    guids["Model Usage"] = usage.get("guid")
    guids["Loading"] = "10000000-0000-0000-0000-000000000006"
    E(usage, "Code", guid=guids["Loading"], name="Loading", isCodable="true")
    guids["Vibes"] = "10000000-0000-0000-0000-000000000007"
    E(challenge, "Code", guid=guids["Vibes"], name="Vibes", isCodable="true")
    sources = E(project, "Sources")
    files = {}
    notes = []

    def source(n, item, selections, note=None):
        guid = f"20000000-0000-0000-0000-00000000000{n}"
        files[guid] = "x" * 100
        element = E(sources, "TextSource", guid=guid, name=item["title"] + f" ({n})",
                    plainTextPath=f"internal://{guid}.txt")
        ET.SubElement(element, f"{{{ns}}}Description").text = f"see {item['url']}"
        for k, (user, start, end, names, coder_of_coding) in enumerate(selections):
            selection = E(element, "PlainTextSelection", guid=f"3000000{n}-0000-0000-0000-00000000000{k}",
                          startPosition=str(start), endPosition=str(end), creatingUser=user)
            for code in names:
                coding = E(selection, "Coding", guid=f"4000000{n}-0000-0000-0000-0000000000{k}{len(code)}")
                if coder_of_coding:
                    coding.set("creatingUser", coder_of_coding)
                E(coding, "CodeRef", targetGUID=guids[code])
        if note:
            E(element, "NoteRef", targetGUID=note[0])
            notes.append(note)

    A, B = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
    source(1, items[0], [(A, 10, 40, ["Relevant", "Loading"], None), (B, 0, 100, ["Relevant"], None),
                         (B, 50, 60, ["Model Usage"], None)])
    source(2, items[1], [(A, 0, 100, ["Not relevant"], None), (A, 5, 9, ["Relevant"], B)],
           note=("50000000-0000-0000-0000-000000000001", A, "Ana: not about the model."))
    source(3, items[2], [(A, 0, 10, ["Relevant", "Vibes"], None)])
    source(4, {"title": "Some interview", "url": "nowhere"}, [(A, 0, 10, ["Relevant"], None)])
    holder = E(project, "Notes")
    for guid, user, text in notes:
        note = E(holder, "Note", guid=guid, creatingUser=user, creationDateTime="2024-05-01T10:00:00Z")
        ET.SubElement(note, f"{{{ns}}}PlainTextContent").text = text
        E(note, "PlainTextSelection", guid="60000000-0000-0000-0000-000000000001", startPosition="0",
          endPosition="100")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", ET.tostring(project, encoding="utf-8", xml_declaration=True))
        for guid, text in files.items():
            archive.writestr(f"Sources/{guid}.txt", text)  # NVivo writes 'Sources'


def test_a_qda_tools_codings_become_sessions_that_merge_and_reconcile(tmp_path):
    from fixtures.coders import make_items, make_study
    from annotator.collect.corpus import CorpusStore

    study = make_study(tmp_path / "study")
    items = make_items(3)
    with CorpusStore(study.corpus_path) as corpus:
        corpus.upsert_items(items, source="test")
    path = tmp_path / "nvivo.qdpx"
    _qda_tool_project(path, items)

    result = CliRunner().invoke(cli, ["import-qdpx", str(path), "--study", str(study.root), "--strict"])
    assert result.exit_code == 2 and "nothing was written" in result.output
    assert not study.session_paths()

    report = import_qdpx(path, study)
    assert (report.sources, report.matched_sources) == (4, 3)
    assert report.unmatched_sources == ["Some interview (4)"]
    assert report.unmatched_codes == {"Challenge > Vibes": 1}
    assert report.partial_selections == 4
    # On item 2, the code on Ana's second selection was given by bo: it is bo's.
    assert set(report.sessions) == {"Ana-Lima", "bo"}
    ids = [item["id"] for item in items]
    with SessionStore(study.session_path("Ana-Lima"), readonly=True) as ana:
        assert ana.all_labels() == {ids[0]: {"relevance": {"yes"}, "challenge": {"usage.loading"}},
                                    ids[1]: {"relevance": {"no"}}, ids[2]: {"relevance": {"yes"}}}
        assert ana.memo(ids[1]) == "Ana: not about the model."
    with SessionStore(study.session_path("bo"), readonly=True) as bo:
        assert bo.all_labels() == {ids[0]: {"relevance": {"yes"}, "challenge": {"usage"}},
                                   ids[1]: {"relevance": {"yes"}}}

    merged = merge_sessions(study.session_paths(), study.merged_path)
    try:
        # bo's item 2 lacks a challenge (incomplete): the merge leaves it out of the agreement.
        assert [(u.item_id, u.dimension) for u in merged.queue()] == [(ids[0], "challenge")]
        merged.decide(ids[0], "challenge", ["usage.loading"], decided_by="lead", method="coder:Ana-Lima",
                      rationale="loading is the more specific code")
        assert merged.final_labels()[ids[0]] == {"relevance": {"yes"}, "challenge": {"usage.loading"}}
    finally:
        merged.close()


def test_a_projects_codebook_starts_a_new_study(exported, tmp_path):
    """`taxonomy import-qdc` also reads the codebook of a .qdpx project."""
    from annotator.codebook.model import load_codebook

    study, qdpx = exported
    out = tmp_path / "taxonomy.yaml"
    result = CliRunner().invoke(cli, ["taxonomy", "import-qdc", str(qdpx), "--out", str(out)])
    assert result.exit_code == 0, result.output
    original, imported = load_codebook(study.taxonomy_path), load_codebook(out)
    assert [(d.id, d.kind, [c.name for c in d.walk()]) for d in imported.dimensions] == \
           [(d.id, d.kind, [c.name for c in d.walk()]) for d in original.dimensions]
    result = CliRunner().invoke(cli, ["taxonomy", "export", str(out), "--format", "qdc"])
    assert result.exit_code == 0 and (tmp_path / "exports" / "codebook.qdc").is_file()
