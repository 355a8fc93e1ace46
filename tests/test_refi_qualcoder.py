"""What QualCoder's REFI-QDA importer requires, pinned on the demo study's .qdpx.

Each test names one requirement of QualCoder's importer (src/qualcoder/refi.py, class RefiImport,
in the public ccbogel/QualCoder repository, read for issue 16) and checks the export meets it.
The last tests replay how that importer turns text codings and memos into its own rows (owner
from the selection, one coding per code, text, positions and owner) and check that every coding
arrives under its own coder, and every memo with it.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from xml.etree import ElementTree as ET

import pytest

from annotator.agreement.merge import MergedStore
from annotator.coding.session import SessionStore
from annotator.exchange.refi import PROJECT_NS
from fixtures.refi_demo import FLAGS, demo_with_flags

Q = f"{{{PROJECT_NS}}}"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
NOT_IN_FILE_NAMES = set('\\/:*?"<>|')


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    study, path = demo_with_flags(tmp_path_factory.mktemp("qualcoder"))
    archive = zipfile.ZipFile(path)
    root = ET.fromstring(archive.read("project.qde"))
    yield study, archive, root
    archive.close()


@pytest.fixture(scope="module")
def schema():
    import xmlschema

    from test_export import XSD

    return xmlschema.XMLSchema(str(XSD))


def users_of(root):
    return {u.get("guid"): u.get("name") for u in root.iter(f"{Q}User")}


def codes_of(root):
    return {c.get("guid"): c for c in root.iter(f"{Q}Code")}


def test_the_demo_export_is_valid_against_the_refi_schema(demo, schema):
    _, archive, _ = demo
    schema.validate(archive.read("project.qde").decode("utf-8"))


def test_qualcoder_reads_project_qde_and_source_files_from_a_folder_named_sources(demo):
    """refi.py opens the .qde at the zip's top level and reads 'internal://X' from sources/X
    (or Sources/X); the specification (8.1, 8.3) spells the folder 'sources'."""
    _, archive, root = demo
    names = set(archive.namelist())
    assert "project.qde" in names
    assert all(n == "project.qde" or n.startswith("sources/") for n in names)
    for source in root.iter(f"{Q}TextSource"):
        path = source.get("plainTextPath")
        assert path.startswith("internal://")  # refi.py splits on 'internal:/'
        assert "sources/" + path.removeprefix("internal://") in names


def test_qualcoder_reads_project_origin(demo):
    """refi.py calls origin.upper() when the project has no basePath: a missing origin stops it."""
    _, _, root = demo
    assert root.get("origin", "").startswith("annotator ")
    assert root.get("basePath") is None


def test_qualcoder_finds_every_element_in_the_qda_xml_1_0_namespace(demo):
    _, _, root = demo
    assert {element.tag.split("}")[0] + "}" for element in root.iter()} == {Q}


def test_qualcoder_reads_user_guid_and_name(demo):
    _, _, root = demo
    users = list(root.iter(f"{Q}User"))
    assert all(u.get("guid") and u.get("name") for u in users)
    assert len({u.get("guid") for u in users}) == len({u.get("name") for u in users}) == len(users)
    assert {"ana", "ben", "chen", "final", "lead"} <= {u.get("name") for u in users}


def test_qualcoder_takes_the_codebooks_first_child_as_codes(demo):
    """refi.py: codes = list(CodeBook)[0]."""
    _, _, root = demo
    assert list(root.find(f"{Q}CodeBook"))[0].tag == f"{Q}Codes"


def test_qualcoder_reads_code_name_guid_iscodable_color_and_description(demo):
    study, _, root = demo
    codebook = MergedStore(study.merged_path, readonly=True).codebook
    top = list(root.find(f"{Q}CodeBook/{Q}Codes"))
    assert [c.get("name") for c in top] == [d.name for d in codebook.dimensions]
    assert all(c.get("isCodable") == "false" for c in top)  # a category in QualCoder
    inner = [c for folder in top for c in folder.iter(f"{Q}Code") if c is not folder]
    assert len(inner) == sum(len(list(d.walk())) for d in codebook.dimensions)
    for code in inner:
        assert code.get("guid") and code.get("name") and code.get("isCodable") == "true"
        assert re.fullmatch(r"#[0-9A-F]{6}", code.get("color"))  # refi.py maps it to its own palette
    definitions = {c.name: c.definition for d in codebook.dimensions for c in d.walk()}
    for code in inner:
        description = code.find(f"{Q}Description")
        if definitions[code.get("name")]:
            assert description.text.startswith(definitions[code.get("name")])
    # A sensible palette: each theme its own colour, its sub-themes shades of it.
    challenge = top[1]
    themes = challenge.findall(f"{Q}Code")
    assert len({t.get("color") for t in themes}) == len(themes)
    for theme in themes:
        for child in theme.findall(f"{Q}Code"):
            assert child.get("color") != theme.get("color")
            assert all(int(child.get("color")[i:i + 2], 16) >= int(theme.get("color")[i:i + 2], 16) for i in (1, 3, 5))


def test_qualcoder_keeps_one_code_per_name_and_one_category_per_name(demo):
    """code_name.name and code_cat.name are unique in QualCoder: a second code with the same name
    is merged into the first, and its codings lose their code."""
    _, _, root = demo
    codes = list(root.iter(f"{Q}Code"))
    codable = Counter(c.get("name") for c in codes if c.get("isCodable") == "true")
    categories = Counter(c.get("name") for c in codes if c.get("isCodable") == "false")
    assert max(codable.values()) == 1 and max(categories.values()) == 1


def test_qualcoder_reads_variables_with_unique_names_and_sets_as_attributes_named_after_them(demo):
    """attribute_type.name is unique: variables, and sets (read as file attributes), must not share a name."""
    _, _, root = demo
    variables = list(root.iter(f"{Q}Variable"))
    assert all(v.get("guid") and v.get("name") and v.get("typeOfVariable") for v in variables)
    names = [v.get("name") for v in variables] + [s.get("name") for s in root.iter(f"{Q}Set")]
    assert len(names) == len(set(names))
    assert {"item", "url", "author", "labels", "state reason", "updated at", "comment count"} <= set(names)


def test_qualcoder_uses_the_source_name_as_a_file_name(demo):
    """refi.py copies each text source to documents/<name>.txt (and prefixes a repeated name)."""
    _, _, root = demo
    names = [s.get("name") for s in root.iter(f"{Q}TextSource")]
    assert len(names) == len(set(names)) == 44
    for name in names:
        assert not set(name) & NOT_IN_FILE_NAMES, name
        assert len((name + ".txt").encode("utf-8")) <= 255
        assert name == name.strip() and not name.endswith(".")
        assert re.match(r"^[A-Za-z0-9-]+_[A-Za-z0-9._-]+#\d+( |$)", name), name  # owner_repo#N title


def test_qualcoder_reads_the_source_date_from_textsource_creationdatetime(demo):
    """refi.py: the source's date is @creationDateTime (else @modifiedDateTime, else now): the issue's creation."""
    _, _, root = demo
    for source in root.iter(f"{Q}TextSource"):
        values = {v[0].get("targetGUID"): v[1].text for v in source.findall(f"{Q}VariableValue")}
        created = next(v.get("guid") for v in root.iter(f"{Q}Variable") if v.get("name") == "created at")
        assert source.get("creationDateTime") == values[created]
        assert DATETIME.match(source.get("creationDateTime"))


def test_qualcoder_reads_the_source_text_as_utf8_and_shifts_windows_line_endings(demo):
    """refi.py replaces '\\n' by '\\n ' in a file with '\\r\\n' (positions then drift): we write '\\n' only."""
    _, archive, _ = demo
    for name in archive.namelist():
        if name.startswith("sources/"):
            assert b"\r" not in archive.read(name)
            archive.read(name).decode("utf-8")


def test_qualcoder_reads_positions_over_the_text_as_read(demo):
    _, archive, root = demo
    for source in root.iter(f"{Q}TextSource"):
        text = archive.read("sources/" + source.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
        for selection in source.findall(f"{Q}PlainTextSelection"):
            assert (int(selection.get("startPosition")), int(selection.get("endPosition"))) == (0, len(text))


def test_qualcoder_reads_the_coder_from_plaintextselection_creatinguser(demo):
    """refi.py: owner = PlainTextSelection@creatingUser (else @modifyingUser, else 'default');
    a Coding's own creatingUser is not read. So one selection per coder and item."""
    _, _, root = demo
    users = users_of(root)
    for source in root.iter(f"{Q}TextSource"):
        owners = []
        for selection in source.findall(f"{Q}PlainTextSelection"):
            owner = selection.get("creatingUser")
            assert owner in users
            owners.append(owner)
            assert all(c.get("creatingUser") == owner for c in selection.findall(f"{Q}Coding"))
        assert len(owners) == len(set(owners))


def test_qualcoder_reads_the_coding_date_from_plaintextselection_creationdatetime(demo):
    """refi.py takes the date from PlainTextSelection@creationDateTime (else now); REFI carries
    it on every Coding too. Ours: the time the coder gave each code, from the session."""
    study, _, root = demo
    users = users_of(root)
    with SessionStore(study.session_path("ana"), readonly=True) as ana:
        given = {(i, d, c): at for i, d, c, at in ana.db.execute("select item_id, dimension, code, at from labels")}
    codes = codes_of(root)
    checked = 0
    for source in root.iter(f"{Q}TextSource"):
        item_id = next(v[1].text for v in source.findall(f"{Q}VariableValue") if v[1].text and "#" in v[1].text)
        for selection in source.findall(f"{Q}PlainTextSelection"):
            assert DATETIME.match(selection.get("creationDateTime"))
            times = []
            for coding in selection.findall(f"{Q}Coding"):
                assert DATETIME.match(coding.get("creationDateTime"))
                times.append(coding.get("creationDateTime"))
                if users[selection.get("creatingUser")] == "ana":
                    code = codes[coding.find(f"{Q}CodeRef").get("targetGUID")]
                    matches = [at for (i, _, c), at in given.items() if i == item_id
                               and c in {x.id for d in MergedStore(study.merged_path, readonly=True).codebook.dimensions
                                         for x in d.walk() if x.name == code.get("name")}]
                    assert coding.get("creationDateTime") in matches
                    checked += 1
            if times:
                assert selection.get("creationDateTime") <= min(times)
    assert checked > 20


def test_qualcoder_takes_a_codings_first_child_as_its_coderef(demo):
    _, _, root = demo
    codes = codes_of(root)
    for coding in root.iter(f"{Q}Coding"):
        first = list(coding)[0]
        assert first.tag == f"{Q}CodeRef" and first.get("targetGUID") in codes
        assert codes[first.get("targetGUID")].get("isCodable") == "true"


def test_qualcoder_reads_a_selections_description_as_the_coders_memo(demo):
    """refi.py: PlainTextSelection/Description is the memo of its codings; a selection without
    Coding becomes an annotation with that memo. Notes only linked by NoteRef never arrive."""
    study, _, root = demo
    users = users_of(root)
    with MergedStore(study.merged_path, readonly=True) as merged:
        memos = {(i, c): t for i, by in merged.memos().items() for c, t in by.items()}
    assert memos
    found = {}
    for source in root.iter(f"{Q}TextSource"):
        item_id = next(v[1].text for v in source.findall(f"{Q}VariableValue") if v[1].text and "#" in v[1].text)
        for selection in source.findall(f"{Q}PlainTextSelection"):
            description = selection.find(f"{Q}Description")
            if description is not None and users[selection.get("creatingUser")] != "final":
                found[(item_id, users[selection.get("creatingUser")])] = description.text
    assert found == memos


def test_qualcoder_needs_a_date_on_every_note_and_a_selection_in_every_annotation_note(demo):
    """refi.py stops on a Note without creationDateTime or modifiedDateTime, and takes a Note
    as an annotation only if it holds PlainTextContent and its own PlainTextSelection."""
    _, _, root = demo
    referenced = {r.get("targetGUID") for r in root.iter(f"{Q}NoteRef")}
    for note in root.iter(f"{Q}Note"):
        assert note.get("creationDateTime") or note.get("modifiedDateTime")
        if note.get("guid") in referenced:
            assert note.find(f"{Q}PlainTextContent") is not None and note.find(f"{Q}PlainTextSelection") is not None


def test_qualcoder_reads_variable_values_by_variableref_and_a_typed_value(demo):
    _, _, root = demo
    variables = {v.get("guid"): v.get("typeOfVariable") for v in root.iter(f"{Q}Variable")}
    for value in root.iter(f"{Q}VariableValue"):
        ref, typed = list(value)
        assert ref.tag == f"{Q}VariableRef" and ref.get("targetGUID") in variables
        assert typed.tag == f"{Q}{variables[ref.get('targetGUID')]}Value" and typed.text


def test_qualcoder_reads_sets_of_sources_the_flags_are_sets(demo):
    study, _, root = demo
    sources = {s.get("guid") for s in root.iter(f"{Q}TextSource")}
    sets = {s.get("name"): [m.get("targetGUID") for m in s.findall(f"{Q}MemberSource")] for s in root.iter(f"{Q}Set")}
    expected = Counter()
    for coder, by_position in FLAGS.items():
        for flags in by_position.values():
            expected.update(f"{flag}: {coder}" for flag in flags)
    assert {name: len(members) for name, members in sets.items()} == dict(expected)
    assert all(m in sources for members in sets.values() for m in members)


def test_qualcoder_drops_a_code_whose_guid_is_a_case_guid(demo):
    """refi.py (clean_up_case_codes_and_case_text) deletes a Code whose guid equals a Case's."""
    _, _, root = demo
    cases = {c.get("guid") for c in root.iter(f"{Q}Case")}
    assert cases and not cases & set(codes_of(root))


def test_qualcoder_reads_the_project_description_as_the_project_memo(demo):
    study, _, root = demo
    description = root.find(f"{Q}Description")
    assert description is not None
    assert description.text == MergedStore(study.merged_path, readonly=True).codebook.description


def test_final_codes_are_the_final_users_with_each_decisions_rationale(demo):
    _, _, root = demo
    users = users_of(root)
    finals = [s for s in root.iter(f"{Q}PlainTextSelection") if users[s.get("creatingUser")] == "final"]
    assert finals
    explained = [s for s in finals if s.find(f"{Q}Description") is not None]
    assert explained
    for selection in explained:
        assert "decided by lead" in selection.find(f"{Q}Description").text
        assert "demo: decided against the codebook's definitions" in selection.find(f"{Q}Description").text
        assert users[selection.get("modifyingUser")] == "lead"


def qualcoder_text_codings(root):
    """The rows QualCoder's importer makes from text codings: (source, code name, pos0, pos1,
    owner, memo); a row repeating (code, source, positions, owner) is refused, as its
    code_text table's unique constraint does."""
    users = users_of(root)
    codes = codes_of(root)
    kept, dropped = {}, 0
    for source in root.iter(f"{Q}TextSource"):
        for selection in source.findall(f"{Q}PlainTextSelection"):
            owner = users.get(selection.get("creatingUser") or selection.get("modifyingUser"), "default")
            description = selection.find(f"{Q}Description")
            memo = description.text if description is not None else ""
            for coding in selection.findall(f"{Q}Coding"):
                code = codes[list(coding)[0].get("targetGUID")].get("name")
                key = (source.get("name"), code, selection.get("startPosition"), selection.get("endPosition"), owner)
                if key in kept:
                    dropped += 1
                else:
                    kept[key] = memo
    return kept, dropped


def test_every_coding_arrives_in_qualcoder_under_its_own_coder(demo):
    study, _, root = demo
    kept, dropped = qualcoder_text_codings(root)
    assert dropped == 0
    with MergedStore(study.merged_path, readonly=True) as merged:
        codebook = merged.codebook
        names = {(d.id, c.id): c.name for d in codebook.dimensions for c in d.walk()}
        expected = Counter()
        for item_id, by_coder in merged.codings().items():
            for coder, by_dimension in by_coder.items():
                expected[coder] += sum(len(codes) for codes in by_dimension.values())
        got = Counter(owner for (*_, owner) in kept)
        assert {c: got[c] for c in merged.coders()} == dict(expected)
        finals = sum(len(codes) for by in merged.final_labels().values() for codes in by.values())
        assert got["final"] == finals
        # Every one of the demo's codings (269: the issue found 174 of them dropped) is kept.
        assert sum(got.values()) == len(list(root.iter(f"{Q}Coding"))) == sum(expected.values()) + finals >= 250
        assert "default" not in got
        assert set(names.values()) >= {code for (_, code, *_) in kept}
