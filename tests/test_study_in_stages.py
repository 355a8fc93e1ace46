"""The model study's two stages, end to end through the command line, at its shape.

A generated corpus of 31 repositories and 8,373 issues; a Cochran-sized screening sample
stratified by repository; two coders in rounds 100, 100 and the rest (a share of it double
coded) whose screening codes are generated at a designed kappa (about 0.6 in the first round,
0.8 after) and imported into their assigned sessions; reconciliation; a thematic stage over the
relevant items; the report and the methods paragraph. The test checks the per-round kappa
against the design and every number of the methods paragraph against the study's files.
"""

from __future__ import annotations

import csv
import json
import random
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotator.agreement.merge import MergedStore
from annotator.cli import cli
from annotator.codebook.model import load_codebook
from annotator.study import Study

from tests.fixtures.designed import corpus_csv, designed_screening

DESIGN = {"calibration-1": 0.6, "calibration-2": 0.8, "main": 0.8}


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def rounds_of(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("select id, round from items order by position"))


def write_labels(path: Path, dimension: str, codes: dict[str, list[str] | str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "dimension", "codes"])
        for item, value in codes.items():
            writer.writerow([item, dimension, value if isinstance(value, str) else ";".join(value)])
    return path


def json_report(output: str) -> dict:
    return json.loads(output[output.index("{"):])


def test_the_model_study_in_two_stages(tmp_path):
    root = tmp_path / "study"
    rng = random.Random(2025)
    run("init", str(root))
    study = Study(root)
    corpus_file, sizes = corpus_csv(tmp_path / "corpus.csv", repos=31, total=8373)
    run("import", str(corpus_file), "--study", str(root))

    # --- stage 1: screening ----------------------------------------------------------------
    run("sample", "--study", str(root), "--stage", "screening", "--stratify", "repo", "--seed", "42",
        "--name", "screening")
    run("assign", "screening", "--study", str(root), "--stage", "screening", "--coders", "ana,ben",
        "--rounds", "100,100,rest", "--overlap", "all,all,0.3")
    sessions = root / "sessions" / "screening"
    ana_rounds, ben_rounds = rounds_of(sessions / "ana.db"), rounds_of(sessions / "ben.db")
    assert len(set(ana_rounds) | set(ben_rounds)) == 368  # Cochran for 8,373 at 95 % / 5 %
    ana, ben, designed = {}, {}, {}
    for round_name, target in DESIGN.items():
        shared = sorted(i for i, r in ana_rounds.items() if r == round_name and ben_rounds.get(i) == round_name)
        first, second, designed[round_name] = designed_screening(shared, target, rng)
        ana.update(first)
        ben.update(second)
    for coder, mine, rounds in (("ana", ana, ana_rounds), ("ben", ben, ben_rounds)):
        for item in rounds:  # the items only this coder has
            if item not in mine:
                mine[item] = "ptm" if rng.random() < 0.1 else "not-ptm"
        run("import-labels", str(write_labels(tmp_path / f"{coder}.csv", "relevance", mine)), "--coder", coder,
            "--study", str(root), "--stage", "screening")
    report = json_report(run("merge", "--study", str(root), "--stage", "screening", "--format", "json"))
    relevance = report["dimensions"][0]
    assert relevance["id"] == "relevance" and len(report["dimensions"]) == 1
    measured = {r: relevance["rounds"][r]["codes"]["cohen"]["value"] for r in DESIGN}
    for round_name, target in DESIGN.items():
        assert measured[round_name] == pytest.approx(designed[round_name], abs=0.01)
        assert measured[round_name] == pytest.approx(target, abs=0.01 if round_name != "main" else 0.03)
    assert relevance["rounds"]["all"]["n_items_multi_coded"] == 250  # every screened double-coded item

    # Reconciliation: alternately take ana's and ben's code.
    with MergedStore(root / "merged" / "screening.db") as merged:
        for index, unit in enumerate(u for u in merged.queue() if merged.decision(u.item_id, u.dimension) is None):
            coder = ("ana", "ben")[index % 2]
            merged.decide(unit.item_id, unit.dimension, unit.codes[coder], decided_by="lead",
                          method=f"coder:{coder}", rationale="settled in the team meeting")
        relevant = sorted(i for i, d in merged.final_labels().items() if d["relevance"] == {"ptm"})

    # --- stage 2: thematic coding of the relevant items ---------------------------------------
    run("sample", "--study", str(root), "--stage", "thematic", "--all", "--seed", "1", "--name", "thematic")
    run("assign", "thematic", "--study", str(root), "--stage", "thematic", "--coders", "ana,ben",
        "--rounds", "10,rest", "--overlap", "all,0.5")
    leaves = [c.id for c in load_codebook(study.taxonomy_path).dimension("challenge").leaves()]
    truth = {item: sorted(rng.sample(leaves, rng.choice((1, 1, 2)))) for item in relevant}
    for coder in ("ana", "ben"):
        mine = {}
        for item in rounds_of(root / "sessions" / "thematic" / f"{coder}.db"):
            codes = list(truth[item])
            if coder == "ben" and rng.random() < 0.25:
                codes = sorted(set(codes[1:]) | {rng.choice(leaves)})
            mine[item] = codes
        run("import-labels", str(write_labels(tmp_path / f"{coder}-themes.csv", "challenge", mine)), "--coder",
            coder, "--study", str(root), "--stage", "thematic")
    themes_report = json_report(run("merge", "--study", str(root), "--stage", "thematic", "--format", "json"))
    with MergedStore(root / "merged" / "thematic.db") as merged:
        for unit in [u for u in merged.queue() if merged.decision(u.item_id, u.dimension) is None]:
            union = set().union(*(codes for codes in unit.codes.values() if codes))
            merged.decide(unit.item_id, unit.dimension, union, decided_by="lead", method="union", rationale="")
    status = run("status", "--study", str(root))
    assert "Next: annotator report" in status.replace("\n", " ")

    run("report", "--study", str(root), "--no-figures")
    methods = run("methods", "--study", str(root))
    check_methods(methods, root, sizes, relevant, measured, relevance, themes_report)


def check_methods(methods: str, root: Path, sizes: dict[str, int], relevant: list[str], measured: dict,
                  relevance: dict, themes_report: dict) -> None:
    """Every number of the methods paragraph is true of the study's files."""
    body = methods.split("Sources of the numbers:")[0]
    corpus = sqlite3.connect(root / "corpus.db")
    closed = corpus.execute("select count(*) from items where state = 'closed'").fetchone()[0]
    first, last = corpus.execute("select min(created_at), max(created_at) from items").fetchone()
    screening_db = sqlite3.connect(root / "merged" / "screening.db")
    thematic_db = sqlite3.connect(root / "merged" / "thematic.db")

    def facts(db) -> dict:
        rounds = dict(db.execute("select round, items from rounds"))
        double = db.execute("select count(*) from (select item_id from assignments where status = 'coded'"
                            " group by item_id having count(*) >= 2)").fetchone()[0]
        decisions = db.execute("select method, decided_by from decisions").fetchall()
        return {"items": db.execute("select count(*) from items").fetchone()[0], "rounds": rounds,
                "double": double,
                "agreed": sum(1 for m, by in decisions if by == "auto" and m == "agreed"),
                "single": sum(1 for m, by in decisions if by == "auto" and m.startswith("coder:")),
                "by_lead": sum(1 for m, by in decisions if by == "lead")}

    screening, thematic = facts(screening_db), facts(thematic_db)
    report = json.loads((root / "reports" / "report.json").read_text(encoding="utf-8"))

    # The sentences, with numbers computed from the files here.
    assert f"The corpus holds {sum(sizes.values()):,} issues" in body
    assert f"from {len(sizes)} repositories" in body
    assert f"between {first[:10]} and {last[:10]}" in body and f"{closed:,} of them are closed" in body
    assert "Sample 'screening' holds 368 issues" in body and "sampling frame of 8,373 issues" in body
    assert f"Sample 'thematic' holds {len(relevant)} issues" in body
    assert f"Stage 1, 'screening', asked 'PTM-related?' of {screening['items']} issues" in body
    assert screening["items"] == 368 and thematic["items"] == len(relevant)
    assert f"Stage 2, 'thematic', asked 'Challenge' of {len(relevant)} issues" in body
    assert ("'calibration-1' (100 issues), 'calibration-2' (100 issues) and 'main' "
            f"({screening['rounds']['main']} issues)") in body
    assert f"{screening['double']} issues were coded independently by two or more coders" in body
    for round_name, kappa in measured.items():
        n = relevance["rounds"][round_name]["n_items_multi_coded"]
        assert f"In round '{round_name}': 'PTM-related?' Cohen's kappa = {kappa:.2f}" in body
        assert re.search(rf"In round '{round_name}': 'PTM-related\?' Cohen's kappa = {kappa:.2f} \([a-z ]+\), "
                         rf"\d+% agreement, Krippendorff's alpha = -?\d\.\d\d over {n} issues", body)
    disagreements = sum(1 for row in screening_db.execute("select basis from decisions where decided_by = 'lead'"))
    assert f"{screening['agreed']} had the same codes from every coder" in body
    assert f"{screening['single']} were coded by one coder only" in body
    assert f"The coders disagreed on {disagreements}" in body and f"lead reconciled them, {disagreements} by taking" in body
    assert f"{len(relevant)} of the 368 screened issues were judged PTM-related" in body
    assert report["population"]["relevant"] == len(relevant) and report["population"]["screened"] == 368

    # And no other number: every number in the text is one of those computed above.
    agreement_numbers = set()
    for dimension_report in (relevance, themes_report["dimensions"][0]):
        for entry in dimension_report["rounds"].values():
            codes = entry["codes"]
            for key in ("cohen", "krippendorff", "macro_kappa", "masi_alpha", "exact_set"):
                value = codes.get(key, {}).get("value") if key in codes else None
                if value is not None:
                    agreement_numbers.add(f"{value:.2f}")
                percent = codes.get(key, {}).get("percent_agreement") if key in codes else None
                if percent is not None:
                    agreement_numbers.add(f"{percent:.0%}")
            agreement_numbers.add(str(entry["n_items_multi_coded"]))
    frequencies = report["frequencies"]
    expected = {
        "1", "2", "3",  # stage numbers, dimensions, rounds
        f"{sum(sizes.values()):,}", str(len(sizes)), f"{closed:,}", "368", "42", "95%", "5%",
        str(len(relevant)), str(thematic["items"]),
        *[str(n) for n in screening["rounds"].values()], *[str(n) for n in thematic["rounds"].values()],
        str(screening["double"]), str(thematic["double"]),
        str(screening["agreed"]), str(screening["single"]), str(screening["by_lead"]),
        str(thematic["agreed"]), str(thematic["single"]), str(thematic["by_lead"]),
        str(disagreements), str(themes_report["reconciliation"]["disagreements"]),
        str(frequencies["instances"]), str(frequencies["coded_items"]), str(len(frequencies["themes"])),
        str(len(frequencies["sub_themes"])), "7", "32",  # the codebook's themes and sub-themes
        *agreement_numbers,
    }
    text = re.sub(r"\[\d+\]", "", body)  # source marks
    text = re.sub(r"(?<![A-Za-z])'[^']*'", "''", text)  # quoted names (rounds, samples, codebook), not Koch's
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "", text)  # dates, checked above
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?%?", text)
    unexplained = sorted({n.rstrip(",") for n in numbers} - expected)
    assert unexplained == [], f"numbers in the methods paragraph not found in the files: {unexplained}\n{body}"
