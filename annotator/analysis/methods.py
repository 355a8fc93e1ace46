"""A methods paragraph written from the study's own records, every number with its source.

``methods_facts(study)`` gathers the numbers (corpus and samples from corpus.db; coders, rounds,
agreement per round and the reconciliation from merged.db; the codebook the merge used) and
``methods_markdown(facts)`` writes them as plain Markdown: a few paragraphs ready to paste into
a paper, each number followed by a reference [n] to a list saying which file, table and
computation it comes from. Nothing is typed in by hand, so the paragraph cannot drift from the
data; re-run ``annotator methods`` after every change.

Agreement per round is computed here from merged.db with annotator.agreement.coefficients (the same
functions ``annotator merge`` reports with): single-choice dimensions give Cohen's kappa (the
mean of the pairwise kappas with more than two coders) and Krippendorff's alpha; multi-label
dimensions the macro-averaged per-code kappa and Krippendorff's alpha with the MASI distance.
"""

from __future__ import annotations

import re
from collections import Counter

from annotator.errors import UserError
from annotator.textsafe import md_escape


class _Sources:
    """Numbered sources: ``ref(text)`` returns a mark that ``number`` turns into "[n]", numbered
    in the order the marks appear in the final text (sentences are built inside out)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        # NUL never survives clean_line, so no name from the data can look like a mark.
        return f"\x00{self.texts.index(text)}\x00"

    def number(self, text: str) -> tuple[str, list[str]]:
        """The text with marks as [1], [2]... in reading order, and the sources in that order."""
        order: list[int] = []
        for found in re.finditer("\x00(\\d+)\x00", text):
            if int(found.group(1)) not in order:
                order.append(int(found.group(1)))
        numbered = re.sub("\x00(\\d+)\x00", lambda m: f"[{order.index(int(m.group(1))) + 1}]", text)
        return numbered, [self.texts[i] for i in order]


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _listing(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _value(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def _stated(name: str, value: float | None, band: str | None = None, why: str | None = None) -> str:
    """'Cohen's kappa = 0.61 (substantial)', or in words why it has no value (never '= undefined')."""
    if value is None:
        return f"{name} could not be computed" + (f" ({why})" if why else "")
    return f"{name} = {value:.2f}" + (f" ({band})" if band else "")


# --- gathering --------------------------------------------------------------------------------

def corpus_facts(study) -> dict:
    """Corpus size, repositories, dates and every sample with its parameters (corpus.db)."""
    from annotator.collect.corpus import CorpusStore

    if not study.corpus_path.is_file():
        return {"available": False}
    with CorpusStore(study.corpus_path) as store:
        stats = store.stats()
        samples = []
        for row in stats["samples"]:
            sample = store.sample(row["name"])
            members = store.sample_members(row["name"], include_replaced=True)
            samples.append({
                "name": sample["name"], "seed": sample["seed"], "rule": sample["rule"],
                "size": sample["size"], "frame_size": sample["frame_size"],
                "params": sample["params"], "created_at": sample["created_at"],
                "replaced": sum(1 for m in members if m["replaced_by"]),
            })
    total = stats["total"]
    return {"available": True, "items": total["items"], "repositories": len(stats["repos"]),
            "open": total["open"], "closed": total["closed"],
            "first_created": total["first_created"], "last_created": total["last_created"],
            "samples": samples}


def _agreement_line(dimension: dict, entry: dict) -> dict:
    """The headline coefficients of one dimension in one round, from the merge report."""
    codes = entry["codes"]
    line = {"dimension": dimension["id"], "multi": dimension["kind"] == "multi",
            "items": entry["n_items_multi_coded"], "coders": entry["coders"]}
    if line["multi"]:
        line.update(kappa=codes["macro_kappa"]["value"], kappa_band=codes["macro_kappa"]["band"],
                    percent=codes["exact_set"]["percent_agreement"],
                    alpha=codes["masi_alpha"]["value"], kappa_why=codes["macro_kappa"].get("undefined"),
                    alpha_why=codes["masi_alpha"].get("undefined"))
    else:
        line.update(kappa=codes["cohen"]["value"], kappa_band=codes["cohen"]["band"],
                    percent=codes["cohen"]["percent_agreement"],
                    alpha=codes["krippendorff"]["value"], kappa_why=codes["cohen"].get("undefined"),
                    alpha_why=codes["krippendorff"].get("undefined"))
    return line


def merged_facts(study) -> dict:
    """Coders, rounds, agreement per round and how the disagreements were settled (merged.db).

    Agreement and the reconciliation totals come from the merge report
    (annotator.agreement.report.agreement_report: what ``annotator merge --format json`` prints);
    the split of the decisions by who took them and how is read from the decisions table.
    """
    from annotator.agreement.merge import AUTO, MergedStore
    from annotator.agreement.report import ALL, agreement_report

    if not study.merged_path.is_file():
        return {"available": False}
    with MergedStore(study.merged_path, readonly=True) as merged:
        codebook = merged.codebook
        merge_report = agreement_report(merged)
        units = merged.units()
        decisions = merged.decisions()
        final_codes = merged.finals(units, decisions)  # (item, dimension) -> final codes
        applicable = {(u.item_id, u.dimension): merged.applicable(u, final_codes) for u in units}

    keys = list(merge_report["dimensions"][0]["rounds"]) if merge_report["dimensions"] else []
    if len(keys) == 2:  # one round and "all": say it once
        keys = [ALL]
    agreement = []
    for key in keys:
        lines = [_agreement_line(dimension, dimension["rounds"][key])
                 for dimension in merge_report["dimensions"]
                 if dimension["rounds"][key]["n_items_multi_coded"]]
        agreement.append({"round": "all rounds" if key == ALL else key, "key": key,
                          "dimensions": lines})

    # How each decision was taken: automatically (all coders agreed, or one coder only), or
    # by a person (which method).
    settled: Counter = Counter()
    people: set[str] = set()
    for unit in units:
        decision = decisions.get((unit.item_id, unit.dimension))
        if decision is None or applicable.get((unit.item_id, unit.dimension)) is False:
            continue
        method, by = decision["method"] or "", decision["decided_by"]
        if by == AUTO:
            settled["single coder" if method.startswith("coder:") else "agreed"] += 1
            continue
        people.add(by)
        # Only decisions on disagreements count as reconciling one ("N of M" never N > M);
        # a person's decision where the coders agree confirms the agreement.
        if unit.agreed or method == "agreed":
            settled["confirmed agreement"] += 1
        elif method.startswith("coder:"):
            settled["one coder's codes"] += 1
        elif method.startswith(("csv:", "rule:")):
            settled["in bulk"] += 1
        else:
            settled[method] += 1
    totals = merge_report["reconciliation"]
    return {
        "available": True,
        "codebook": codebook,
        "coders": [{"coder": r["coder"], "items": r["items"], "coded": r["coded"]}
                   for r in merge_report["coders"]],
        "rounds": [r for r in merge_report["rounds"] if r["round"] != ALL],
        "double_coded": merge_report["items"]["double_coded"],
        "agreement": agreement,
        "units": totals["units"],
        "disagreements": totals["disagreements"],
        "undecided": totals["undecided"],
        "settled": dict(settled),
        "reconcilers": sorted(people),
    }


def methods_facts(study, report: dict | None = None) -> dict:
    """Everything the methods paragraph states. ``report`` (from analysis.report.study_report) adds
    the screening result and the theme counts."""
    from annotator.analysis.stage_methods import stage_facts

    if not study.merged_path.is_file() and not study.corpus_path.is_file():
        raise UserError(f"{study.root}: no corpus.db and no merged.db: nothing to describe yet. "
                        "Collect issues (`annotator fetch` / `annotator import`), code and merge first.")
    from annotator.screening.status import screening_facts

    stages = stage_facts(study)  # a study in stages: one merged file per stage
    merged = {"available": False} if stages is not None else merged_facts(study)
    return {"corpus": corpus_facts(study), "merged": merged, "stages": stages, "report": report,
            "screening": screening_facts(study)}


# --- writing ----------------------------------------------------------------------------------

SETTLED_WORDS = [
    ("one coder's codes", "by taking one coder's codes"),
    ("union", "by taking the union of the coders' codes"),
    ("intersection", "by taking their intersection"),
    ("edited", "by editing the codes"),
    ("in bulk", "in bulk (a filled-in table or a rule)"),
]


def _sample_sentence(sample: dict, src: _Sources) -> str:
    params = sample["params"] or {}
    rule = params.get("size_rule") or {}
    where = params.get("where") or []
    table = f"corpus.db, table samples, row name = '{sample['name']}'"
    frame = (f"from a sampling frame of {_plural(sample['frame_size'], 'issue')} "
             f"{src.ref(table + ', column frame_size')}")
    if where:
        frame += " (" + " and ".join(md_escape(w) for w in where) + ")"
    if rule.get("rule") == "cochran":
        from annotator.sampling.size import as_percent

        how = (f"whose size follows Cochran's formula with the finite population correction for "
               f"{as_percent(rule.get('confidence', 0.95))} confidence and a {as_percent(rule.get('margin', 0.05))} "
               f"margin of error {src.ref(table + ', column params: size_rule')}")
    elif rule.get("rule") == "size":
        how = f"of a fixed size {src.ref(table + ', column params: size_rule')}"
    else:
        how = f"taking the whole frame {src.ref(table + ', column params: size_rule')}"
    from annotator.sampling.draw import ALLOCATION_RULE

    strata = (f", stratified by repository ({ALLOCATION_RULE})"
              f" {src.ref(table + ', column params: stratify, allocation')}"
              if params.get("stratify") else "")
    text = (f"Sample '{md_escape(sample['name'])}' holds "
            f"{_plural(sample['size'], 'issue')} {src.ref(table + ', column size')}, drawn "
            f"{frame}, {how}{strata}, with the random seed {sample['seed']} "
            f"{src.ref(table + ', column seed')}, so that it can be drawn again.")
    if sample["replaced"]:
        replaced = (f"corpus.db, table sample_members: rows of sample '{sample['name']}' with "
                    "replaced_by set")
        text += (f" {_plural(sample['replaced'], 'member')} found irrelevant "
                 f"{'was' if sample['replaced'] == 1 else 'were'} replaced by the next issues of "
                 f"the same stratum {src.ref(replaced)}.")
    return text


def _corpus_paragraph(corpus: dict, src: _Sources) -> str:
    if not corpus.get("available"):
        return ""
    dates = ""
    if corpus["first_created"]:
        first, last = corpus["first_created"][:10], corpus["last_created"][:10]
        dates = (f", opened {'on ' + first if first == last else f'between {first} and {last}'} "
                 f"{src.ref('corpus.db, table items: min(created_at), max(created_at)')}")
    closed = "corpus.db, table items: count(*) WHERE state = 'closed'"
    text = (f"The corpus holds {_plural(corpus['items'], 'issue')} "
            f"{src.ref('corpus.db, table items: count(*)')} from "
            f"{_plural(corpus['repositories'], 'repository', 'repositories')} "
            f"{src.ref('corpus.db, table items: count(DISTINCT repo)')}{dates}; "
            f"{corpus['closed']:,} of them are closed "
            f"{src.ref(closed)}.")
    for sample in corpus["samples"]:
        text += " " + _sample_sentence(sample, src)
    return text


def _coding_paragraph(merged: dict, src: _Sources) -> str:
    codebook = merged["codebook"]
    coders = [md_escape(c["coder"]) for c in merged["coders"]]
    dims = []
    for dimension in codebook.dimensions:
        codes = [c for c in dimension.walk() if not c.retired]  # retired codes are not the codebook's
        themes = [c for c in codes if c.parent is None]
        deeper = len(codes) - len(themes)
        kind = "multi-label" if dimension.multi else "single-choice"
        what = (f"{_plural(len(themes), 'theme')} and {_plural(deeper, 'sub-theme')}"
                if deeper else _plural(len(themes), 'code'))
        dims.append(f"'{md_escape(dimension.name)}' ({kind}, {what})")
    text = (f"{_plural(len(coders), 'coder')} ({_listing(coders)}) "
            f"{src.ref('merged.db, table coders')} coded the issues with the codebook "
            f"'{md_escape(codebook.name)}' {src.ref('merged.db, table codebook (the YAML the merge checked every code against)')}"
            f", which has {_plural(len(dims), 'dimension')}: {_listing(dims)}.")
    if merged["rounds"]:
        rounds = [f"'{md_escape(r['round'])}' ({_plural(r['items'] or 0, 'issue')})"
                  for r in merged["rounds"]]
        text += (f" Coding went in {_plural(len(rounds), 'round')}: {_listing(rounds)} "
                 f"{src.ref('merged.db, table rounds')}.")
    double = "merged.db, table assignments: items with two or more rows of status 'coded'"
    text += (f" {_plural(merged['double_coded'], 'issue')} "
             f"{'was' if merged['double_coded'] == 1 else 'were'} coded independently by two or "
             f"more coders {src.ref(double)}.")
    return text


def _agreement_paragraph(merged: dict, src: _Sources) -> str:
    codebook = merged["codebook"]
    sentences = []
    for block in merged["agreement"]:
        parts = []
        for line in block["dimensions"]:
            name = md_escape(codebook.dimension(line["dimension"]).name)
            where = (f"annotator merge --format json (annotator.agreement.report.agreement_report "
                     f"over merged.db): dimensions[{line['dimension']}].rounds[{block['key']}]")
            if line["multi"]:
                how = ("codes.macro_kappa, codes.masi_alpha, codes.exact_set (macro mean of the "
                       "per-code Cohen's kappas on present/absent; Krippendorff's alpha, MASI distance)")
                parts.append(
                    f"'{name}' " + _stated("mean per-code kappa", line["kappa"], line["kappa_band"],
                                           line.get("kappa_why"))
                    + ", " + _stated("Krippendorff's alpha (MASI)", line["alpha"], None, line.get("alpha_why"))
                    + (f", exact-set agreement {line['percent']:.0%}"
                       if line["percent"] is not None else "")
                    + f" over {_plural(line['items'], 'issue')} {src.ref(where + '; ' + how)}")
            else:
                how = ("codes.cohen (mean of the pairwise kappas with more than two coders), "
                       "codes.krippendorff (nominal)")
                kappa = "Cohen's kappa" if len(line["coders"]) <= 2 else "mean pairwise Cohen's kappa"
                parts.append(
                    f"'{name}' " + _stated(kappa, line["kappa"], line["kappa_band"], line.get("kappa_why"))
                    + (f", {line['percent']:.0%} agreement" if line["percent"] is not None else "")
                    + ", " + _stated("Krippendorff's alpha", line["alpha"], None, line.get("alpha_why"))
                    + f" over {_plural(line['items'], 'issue')} {src.ref(where + '; ' + how)}")
        if parts:
            label = ("Over all rounds" if block["round"] == "all rounds"
                     else f"In round '{md_escape(block['round'])}'")
            sentences.append(f"{label}: " + "; ".join(parts) + ".")
    if not sentences:
        return ("No issue was coded by two or more coders, so no agreement can be reported "
                f"{src.ref('merged.db, table assignments')}.")
    return ("Agreement was measured on the issues coded by two or more coders "
            "(Landis and Koch's bands in parentheses). " + " ".join(sentences))


def _reconciliation_paragraph(merged: dict, src: _Sources) -> str:
    settled = merged["settled"]
    where = "merged.db, table decisions: count(*) by method and decided_by"
    totals = "annotator merge --format json: reconciliation"
    text = (f"Of {_plural(merged['units'], 'coding decision')} (an issue in a dimension) "
            f"{src.ref(totals + '.units')}, "
            f"{settled.get('agreed', 0):,} had the same codes from every coder and were accepted as "
            f"they were {src.ref(where + ', method agreed, decided_by auto')}")
    if settled.get("single coder"):
        text += (f", and {settled['single coder']:,} were coded by one coder only "
                 f"{src.ref(where + ', method coder:NAME, decided_by auto')}")
    text += (f". The coders disagreed on {merged['disagreements']:,} "
             f"{src.ref(totals + '.disagreements')}")
    resolved = [(settled[key], words) for key, words in SETTLED_WORDS if settled.get(key)]
    people = [md_escape(p) for p in merged["reconcilers"]]
    if resolved:
        settled_by_people = sum(n for n, _ in resolved)
        which = "them" if settled_by_people == merged["disagreements"] else f"{settled_by_people:,} of them"
        text += (f"; {_listing(people)} reconciled {which}, "
                 + _listing([f"{n:,} {words}" for n, words in resolved])
                 + f" {src.ref(where + ', decided_by a person, on units the coders disagreed on')}")
    if settled.get("confirmed agreement"):
        text += (f"; {settled['confirmed agreement']:,} agreements were confirmed by a person "
                 f"{src.ref(where + ', decided_by a person, on units the coders agreed on')}")
    text += "."
    if merged["undecided"]:
        text += (f" {_plural(merged['undecided'], 'disagreement')} "
                 f"{'is' if merged['undecided'] == 1 else 'are'} not reconciled yet and "
                 f"{'is' if merged['undecided'] == 1 else 'are'} left out of the analysis "
                 f"{src.ref(totals + '.undecided')}.")
    return text


def _result_paragraph(report: dict, src: _Sources) -> str:
    pop = report["population"]
    freq = report["frequencies"]
    roles = report["roles"]
    source = "annotator report: merged.db decisions (final codes) joined with corpus.db items; reports/report.json, population"
    text = ""
    if roles["screening"]:
        text = (f"After reconciliation, {pop['relevant']:,} of the {pop['screened']:,} screened "
                f"issues were judged {_listing(roles['relevant_names'])} {src.ref(source)}. ")
    theme_source = "annotator report: reports/themes.csv and sub_themes.csv (annotator.analysis.statistics.frequency_table)"
    text += (f"Thematic coding found {_plural(freq['instances'], 'challenge instance')} in "
             f"{_plural(freq['coded_items'], 'issue')}, falling in "
             f"{_plural(len(freq['themes']), 'theme')} and {_plural(len(freq['sub_themes']), 'sub-theme')} "
             f"of the codebook {src.ref(theme_source)}; an issue with several challenges counts "
             f"in each of them.")
    return text


def methods_markdown(facts: dict) -> str:
    """The methods paragraph(s) with numbered sources, as plain Markdown."""
    src = _Sources()
    paragraphs = []
    corpus = _corpus_paragraph(facts["corpus"], src)
    if corpus:
        paragraphs.append(corpus)
    merged = facts["merged"]
    if facts.get("stages") is not None:
        from annotator.analysis.stage_methods import stage_paragraphs

        paragraphs += stage_paragraphs(facts["stages"], facts["corpus"].get("samples", []), src)
    elif merged.get("available"):
        paragraphs += [_coding_paragraph(merged, src), _agreement_paragraph(merged, src),
                       _reconciliation_paragraph(merged, src)]
    else:
        paragraphs.append("The coders' sessions are not merged yet (no merged.db): coders, "
                          "agreement and reconciliation cannot be described.")
    if facts.get("screening"):  # screening in model order (annotator/screening/status.py)
        from annotator.screening.status import screening_paragraph

        paragraphs.append(screening_paragraph(facts["screening"], src.ref))
    if facts.get("report"):
        result_src = src
        if facts.get("stages"):  # the final codes come from every stage's merged file
            from annotator.analysis.stage_methods import StageSources

            result_src = StageSources(src, " and ".join(entry["file"] for entry in facts["stages"]))
        paragraphs.append(_result_paragraph(facts["report"], result_src))
    body, sources = src.number("\n\n".join(paragraphs))
    lines = ["## Method (generated by annotator from the study's records)", "", body, "",
             "Sources of the numbers:", ""]
    lines += [f"{n}. {text}" for n, text in enumerate(sources, start=1)]
    return "\n".join(lines) + "\n"


def methods_paragraph(study, report: dict | None = None) -> str:
    return methods_markdown(methods_facts(study, report))
