"""The merge report: agreement per dimension and round, before and after reconciliation.

``build_report(merged)`` returns one plain dict (the stable JSON of `annotator merge --format
json`, documented in docs/merge-json.md); ``render_table``, ``render_markdown``,
``render_csv`` and ``render_json`` present it. Every coefficient comes from
annotator.agreement.coefficients; this module only chooses what to compute on which items.

What is computed on what:
- A coder's codes for an item count once the coder finished the item (every dimension asked
  has a code; skipped items are left out). Items a coder has not finished are missing ratings.
- A dimension with ``requires`` (challenge: only for PTM-related items) is compared on the
  items where it was asked of the coder: a coder who judged an item not PTM-related is a
  missing rating for its challenges, not an empty set.
- Rounds: each round on its own and "all" together.
- Levels: "codes" as coded, "themes" with every code rolled up to its top-level theme (for a
  single-choice dimension only when its codes are nested).
- After reconciliation: how many disagreements are decided, and each coder's agreement with
  the final codes.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from annotator import __version__
from annotator.agreement import coefficients as agreement
from annotator.agreement.merge import AUTO, MergedStore, Unit, paused_gc
from annotator.coding.session import now
from annotator.codebook.model import Dimension

REPORT_FORMAT = "annotator-merge-report"
REPORT_VERSION = 1
ALL = "all"
NO_ROUND = "(no round)"
SHOWN_DISAGREEMENTS = 25  # in the table and Markdown; the JSON and CSV hold all


# --- building --------------------------------------------------------------------------------


def _round_key(unit: Unit) -> str:
    return unit.round if unit.round is not None else NO_ROUND


def _strip(result: dict | None) -> dict | None:
    """An agreement result without its item lists (the report lists disagreements once)."""
    if result is None:
        return None
    return {key: value for key, value in result.items() if key != "disagreements"}


def _rollup(dimension: Dimension) -> dict[str, str]:
    return {code.id: dimension.theme_of(code.id) for code in dimension.walk()}


def _hierarchical(dimension: Dimension) -> bool:
    return any(code.children for code in dimension.codes)


def _ratings(units: list[Unit]) -> dict[str, dict[str, frozenset]]:
    return {u.item_id: {c: codes for c, codes in u.codes.items() if codes is not None} for u in units}


def dimension_agreement(dimension: Dimension, units: list[Unit]) -> dict:
    """The coefficients of one dimension on some units (one round, or all)."""
    ratings = _ratings(units)
    codes = [code.id for code in dimension.walk()]
    rollup = _rollup(dimension)
    themes = [code.id for code in dimension.codes]
    if dimension.multi:
        result = agreement.multi_label_agreement(ratings, codes, rollup)
        code_level, theme_level = result["codes"], result["themes"]
        coders, n_items, n_multi = result["coders"], result["n_items"], result["n_items_multi_coded"]
    else:
        code_level = agreement.single_choice_agreement(ratings, codes)
        theme_level = None
        if _hierarchical(dimension):
            theme_ratings = {item: {coder: frozenset(rollup.get(c, c) for c in s) for coder, s in by_coder.items()}
                             for item, by_coder in ratings.items()}
            theme_level = _strip(agreement.single_choice_agreement(theme_ratings, themes))
        coders, n_items, n_multi = code_level["coders"], code_level["n_items"], code_level["n_items_multi_coded"]
    return {"coders": coders, "n_items": n_items, "n_items_multi_coded": n_multi,
            "codes": _strip(code_level), "themes": _strip(theme_level)}


def _after(dimension: Dimension, units: list[Unit], decisions: dict, merged: MergedStore,
           applies: dict[tuple[str, str], bool | None], decided_codes: dict[tuple[str, str], frozenset]) -> dict:
    """Reconciliation state and each coder's agreement with the final codes. (applies:
    merged.applicable of each unit; decided_codes: each decision's codes, frozen.)"""
    applicable = [u for u in units if applies[(u.item_id, u.dimension)] is not False]
    disagreeing = [u for u in applicable if not u.agreed]
    decided = [u for u in applicable if (u.item_id, u.dimension) in decisions]
    methods = Counter(decisions[(u.item_id, u.dimension)]["method"].split(":")[0] for u in decided)
    stale = sum(merged.is_stale(u, decisions[(u.item_id, u.dimension)]) for u in decided)
    coders = sorted({c for u in applicable for c, codes in u.codes.items() if codes is not None})
    codes = [code.id for code in dimension.walk()]
    versus = []
    for coder in coders:
        pairs = [(u.codes[coder], decided_codes[(u.item_id, u.dimension)])
                 for u in decided if u.codes.get(coder) is not None]
        if dimension.multi:
            record = agreement.pairwise_agreement([[mine, final] for mine, final in pairs])
        else:
            record = agreement.cohen_kappa([next(iter(m), None) for m, _ in pairs],
                                           [next(iter(f), None) for _, f in pairs], codes)
            record.pop("confusion_matrix", None)
        versus.append({"coder": coder, **record})
    n_decided_disagreements = sum((u.item_id, u.dimension) in decisions for u in disagreeing)
    return {
        "units": len(applicable),
        "agreed": len(applicable) - len(disagreeing),
        "disagreements": len(disagreeing),
        "decided": n_decided_disagreements,
        "undecided": len(disagreeing) - n_decided_disagreements,
        "final": len(decided),
        "auto": sum(decisions[(u.item_id, u.dimension)]["decided_by"] == AUTO for u in decided),
        "stale": stale,
        "by_method": dict(sorted(methods.items())),
        "coders_vs_final": versus,
    }


def _decided_codes(decisions: dict) -> dict[tuple[str, str], frozenset]:
    return {key: frozenset(decision["codes"]) for key, decision in decisions.items()}


def _disagreement_entry(unit: Unit, dimension: Dimension, item: dict, decision: dict | None,
                        applies: bool | None, rollup: dict[str, str], hierarchical: bool) -> dict:
    # rollup and hierarchical come from the caller: the same for every unit of a dimension.
    theme_sets = {frozenset(rollup.get(c, c) for c in (codes or ())) for codes in unit.codes.values()}
    return {
        "item_id": unit.item_id,
        "round": unit.round,
        "title": item.get("title") or "",
        "dimension": unit.dimension,
        "codes": {coder: (sorted(codes) if codes is not None else None) for coder, codes in sorted(unit.codes.items())},
        "themes_agree": len(theme_sets) == 1 if hierarchical else None,
        "applies": applies,
        "decision": None if decision is None else {
            "codes": sorted(decision["codes"]), "method": decision["method"],
            "decided_by": decision["decided_by"], "at": decision["at"], "rationale": decision["rationale"],
        },
    }


def build_report(merged: MergedStore) -> dict:
    """The whole report as a JSON-ready dict (see docs/merge-json.md)."""
    with paused_gc():
        return _build_report(merged)


def _build_report(merged: MergedStore) -> dict:
    codebook = merged.codebook
    units = merged.units()
    decisions = merged.decisions()
    finals = merged.finals(units, decisions)
    statuses = merged.statuses()
    titles = dict(merged.db.execute("select id, title from items").fetchall())

    named = merged.rounds()
    keys = list(named)
    if any(u.round is None for u in units) and named:
        keys.append(NO_ROUND)
    keys.append(ALL)

    # Each unit's applicability, once: every round of its dimension and its disagreement ask it.
    applies = {(u.item_id, u.dimension): merged.applicable(u, finals) for u in units}
    decided_codes = _decided_codes(decisions)
    by_dimension: dict[str, list[Unit]] = {}
    for unit in units:
        by_dimension.setdefault(unit.dimension, []).append(unit)

    dimensions = []
    disagreements = []
    for dimension in codebook.dimensions:
        mine = by_dimension.get(dimension.id, [])
        by_round: dict[str, list[Unit]] = {}
        for unit in mine:
            by_round.setdefault(_round_key(unit), []).append(unit)
        per_round = {}
        for key in keys:
            chosen = mine if key == ALL else by_round.get(key, [])
            entry = dimension_agreement(dimension, chosen)
            entry["after"] = _after(dimension, chosen, decisions, merged, applies, decided_codes)
            per_round[key] = entry
        dimensions.append({
            "id": dimension.id, "name": dimension.name, "kind": dimension.kind,
            "requires": dimension.requires,
            "codes": [code.id for code in dimension.walk()],
            "themes": [code.id for code in dimension.codes] if (dimension.multi or _hierarchical(dimension)) else None,
            "rounds": per_round,
        })
        rollup, hierarchical = _rollup(dimension), _hierarchical(dimension)
        for unit in mine:
            if not unit.agreed:
                disagreements.append(_disagreement_entry(
                    unit, dimension, {"title": titles.get(unit.item_id)},
                    decisions.get((unit.item_id, unit.dimension)), applies[(unit.item_id, unit.dimension)],
                    rollup, hierarchical))

    coded_by = Counter()
    incomplete = []
    uncoded = skipped = 0
    for item_id in merged.item_ids():
        by_coder = statuses.get(item_id, {})
        coded_by[sum(s == "coded" for s in by_coder.values())] += 1
        for coder, status in sorted(by_coder.items()):
            if status == "incomplete":
                incomplete.append({"item_id": item_id, "coder": coder})
            uncoded += status == "uncoded"
            skipped += status == "skipped"
    round_rows = []
    item_rounds = merged.item_rounds()
    for key in keys[:-1]:
        ids = [i for i, r in item_rounds.items() if (r if r is not None else NO_ROUND) == key]
        round_rows.append({"round": key, "items": len(ids),
                           "double_coded": sum(sum(s == "coded" for s in statuses.get(i, {}).values()) >= 2 for i in ids)})

    all_after = [d["rounds"][ALL]["after"] for d in dimensions]
    methods: Counter = Counter()
    for after in all_after:
        methods.update(after["by_method"])
    checks = json.loads(merged.meta("checks") or "{}")
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "annotator_version": __version__,
        "generated_at": now(),
        "merged": str(merged.path),
        "merged_at": merged.meta("merged_at"),
        "codebook": {"name": codebook.name, "hash": codebook.hash},
        "checks": {
            "mismatch_allowed": merged.meta("mismatch_allowed") == "1",
            "codebook_differences": checks.get("codebook_differences", []),
            "item_differences": checks.get("item_differences", []),
            "warnings": checks.get("warnings", []),
        },
        "coders": merged.coder_rows(),
        "items": {
            "total": len(item_rounds),
            "coded_by": {str(k): coded_by[k] for k in sorted(coded_by)},
            "double_coded": sum(v for k, v in coded_by.items() if k >= 2),
            "incomplete": incomplete,
            "uncoded": uncoded,
            "skipped": skipped,
        },
        "rounds": round_rows,
        "dimensions": dimensions,
        "reconciliation": {
            key: sum(a[key] for a in all_after)
            for key in ("units", "agreed", "disagreements", "decided", "undecided", "final", "auto", "stale")
        } | {"by_method": dict(sorted(methods.items()))},
        "disagreements": disagreements,
    }


# --- shared presentation helpers -------------------------------------------------------------


def headline(dimension: dict, entry: dict) -> list[tuple[str, str, dict | None]]:
    """The coefficients a summary shows for one dimension and round: (label, short label, record)."""
    codes, themes = entry["codes"], entry["themes"]
    if dimension["kind"] == "multi":
        rows = [("macro κ (codes)", "κ", codes["macro_kappa"]), ("MASI α (codes)", "α MASI", codes["masi_alpha"]),
                ("exact set (codes)", "exact", codes["exact_set"])]
        if themes:
            rows += [("macro κ (themes)", "κ thm", themes["macro_kappa"]),
                     ("MASI α (themes)", "α thm", themes["masi_alpha"])]
        return rows
    pairwise = len(entry["coders"]) > 2
    rows = [("mean pairwise κ" if pairwise else "Cohen κ", "mean κ" if pairwise else "κ", codes["cohen"]),
            ("Fleiss κ", "Fleiss κ", codes["fleiss"]), ("Krippendorff α", "α", codes["krippendorff"])]
    if themes:
        rows.append(("Cohen κ (themes)", "κ thm", themes["cohen"]))
    return rows


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_record(record: dict | None) -> str:
    if record is None:
        return "-"
    if record.get("value") is None:
        return "undefined"
    band = f" {record['band']}" if record.get("band") else ""
    return f"{record['value']:.2f}{band}"


def _pa(record: dict | None) -> str:
    if not record or record.get("percent_agreement") is None:
        return "-"
    return f"{100 * record['percent_agreement']:.0f}%"


def _undefined_notes(report: dict) -> list[str]:
    notes = []
    for dimension in report["dimensions"]:
        for key, entry in dimension["rounds"].items():
            for label, _, record in headline(dimension, entry):
                if record is not None and record.get("value") is None and record.get("undefined"):
                    notes.append(f"{dimension['id']} / {key} / {label}: undefined: {record['undefined']}")
    return notes


def _codes_text(codes: list[str] | None) -> str:
    if codes is None:
        return "(not asked)"
    return ", ".join(codes) if codes else "(none)"


# --- JSON ------------------------------------------------------------------------------------


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)


# --- CSV: one row per coefficient -----------------------------------------------------------

CSV_COLUMNS = ("dimension", "round", "level", "category", "coders", "coefficient", "value", "undefined",
               "band", "percent_agreement", "n_items", "prevalence", "positive_agreement",
               "negative_agreement", "a", "b", "c", "d")


def csv_rows(report: dict) -> list[dict]:
    rows = []

    def add(dimension, key, level, record, category="", coders="", **extra):
        rows.append({"dimension": dimension["id"], "round": key, "level": level, "category": category,
                     "coders": coders, "coefficient": record.get("coefficient"), "value": record.get("value"),
                     "undefined": record.get("undefined") or "", "band": record.get("band") or "",
                     "percent_agreement": record.get("percent_agreement"), "n_items": record.get("n_items"),
                     **extra})

    for dimension in report["dimensions"]:
        for key, entry in dimension["rounds"].items():
            for level in ("codes", "themes"):
                result = entry[level]
                if result is None:
                    continue
                if dimension["kind"] == "multi":
                    for name in ("macro_kappa", "masi_alpha", "exact_set"):
                        add(dimension, key, level, result[name])
                    for category in result["per_category"]:
                        counts = {name: category[name] for name in ("prevalence", "positive_agreement",
                                                                      "negative_agreement", "a", "b", "c", "d")}
                        add(dimension, key, level, category["kappa"], category["id"], **counts)
                        add(dimension, key, level, category["alpha"], category["id"], **counts)
                else:
                    add(dimension, key, level, result["cohen"])
                    for pair in result["pairwise"]:
                        add(dimension, key, level, pair, coders="|".join(pair["coders"]))
                    add(dimension, key, level, result["fleiss"])
                    add(dimension, key, level, result["krippendorff"])
            for versus in entry["after"]["coders_vs_final"]:
                record = dict(versus)
                record["coefficient"] = f"{versus['coefficient']} vs final"
                add(dimension, key, "after", record, coders=versus["coder"])
    return rows


def render_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


# --- Markdown --------------------------------------------------------------------------------


def _md(text: object) -> str:
    """A table cell: pipes escaped, one line."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(report: dict) -> str:
    lines = ["# Agreement report", ""]
    lines.append(f"Merged {len(report['coders'])} sessions into `{_md(report['merged'])}`; codebook "
                 f"\"{_md(report['codebook']['name'])}\" ({report['codebook']['hash']}).")
    lines.append("")
    lines += _md_table(["Coder", "Items", "Coded", "Incomplete", "Not coded", "Skipped"],
                       [[c["coder"], c["items"], c["coded"], c["incomplete"], c["uncoded"], c["skipped"]]
                        for c in report["coders"]])
    items = report["items"]
    lines.append(f"{items['total']} items; {items['double_coded']} coded by two or more coders; "
                 f"{len(items['incomplete'])} incomplete codings.")
    lines.append("")
    checks = report["checks"]
    notes = checks["warnings"] + checks["codebook_differences"] + checks["item_differences"]
    notes += ["merged with --allow-mismatch"] if checks["mismatch_allowed"] else []
    if notes:
        lines += [f"- {_md(note)}" for note in notes] + [""]
    for dimension in report["dimensions"]:
        lines.append(f"## {_md(dimension['name'])} (`{dimension['id']}`, {'multi-label' if dimension['kind'] == 'multi' else 'single-choice'})")
        lines.append("")
        rounds = dimension["rounds"]
        first = next(iter(rounds.values()))
        labels = [label for label, _, _ in headline(dimension, first)]
        rows = []
        for key, entry in rounds.items():
            cells = [key, entry["n_items"], entry["n_items_multi_coded"]]
            for _, _, record in headline(dimension, entry):
                cells.append(f"{fmt_record(record)} ({_pa(record)})")
            rows.append(cells)
        lines += _md_table(["Round", "Items", "2+ coders", *[f"{l} (% agr.)" for l in labels]], rows)
        entry = rounds[ALL]
        if dimension["kind"] == "multi":
            for level in ("codes", "themes"):
                result = entry[level]
                if not result:
                    continue
                lines.append(f"Per {'code' if level == 'codes' else 'theme'} (all rounds):")
                lines.append("")
                lines += _md_table(
                    ["Code", "κ", "α", "% agr.", "prevalence", "pos. agr.", "neg. agr.", "a", "b", "c", "d"],
                    [[c["id"], fmt_record(c["kappa"]), fmt(c["alpha"]["value"]), _pa(c), fmt(c["prevalence"]),
                      fmt(c["positive_agreement"]), fmt(c["negative_agreement"]), c["a"], c["b"], c["c"], c["d"]]
                     for c in result["per_category"]])
        else:
            for pair in entry["codes"]["pairwise"]:
                matrix = pair["confusion_matrix"]
                lines.append(f"Confusion matrix, {pair['coders'][0]} (rows) × {pair['coders'][1]} (columns), all rounds: "
                             f"κ {fmt_record(pair)}")
                lines.append("")
                lines += _md_table(["", *matrix["labels"]],
                                   [[label, *row] for label, row in zip(matrix["labels"], matrix["rows"])])
        after = entry["after"]
        lines.append(f"Reconciliation: {after['decided']} of {after['disagreements']} disagreements decided, "
                     f"{after['undecided']} open; {after['final']} items final.")
        lines.append("")
        if after["coders_vs_final"]:
            lines += _md_table(["Coder", "vs final", "% agr.", "items"],
                               [[v["coder"], fmt_record(v) if v["coefficient"] != "exact_set_agreement" else fmt(v["value"]),
                                 _pa(v), v["n_items"]] for v in after["coders_vs_final"]])
    notes = _undefined_notes(report)
    if notes:
        lines.append("## Undefined coefficients")
        lines.append("")
        lines += [f"- {_md(note)}" for note in notes]
        lines.append("")
    disagreements = report["disagreements"]
    lines.append(f"## Disagreements ({len(disagreements)})")
    lines.append("")
    shown = disagreements[:SHOWN_DISAGREEMENTS]
    coders = [c["coder"] for c in report["coders"]]
    lines += _md_table(["Item", "Round", "Dimension", *coders, "Final"],
                       [[d["item_id"], d["round"] or "", d["dimension"],
                         *[_codes_text(d["codes"].get(c)) if c in d["codes"] else "" for c in coders],
                         _codes_text(d["decision"]["codes"]) + f" ({d['decision']['method']})" if d["decision"] else "open"]
                        for d in shown])
    if len(disagreements) > len(shown):
        lines.append(f"... and {len(disagreements) - len(shown)} more (all of them in --format json or csv).")
        lines.append("")
    return "\n".join(lines)


# --- the terminal table (rich; every piece of data as Text, never markup) ---------------------

_SHORT_BANDS = {"poor": "poor", "slight": "slight", "fair": "fair", "moderate": "mod.",
                "substantial": "subst.", "almost perfect": "a.perf."}


_BAND_STYLES = {"poor": "red", "slight": "red", "fair": "yellow", "moderate": "yellow",
                "substantial": "green", "almost perfect": "green"}


def _cell(record: dict | None, with_pa: bool = True, with_band: bool = True) -> str:
    if record is None:
        return "-"
    if record.get("value") is None:
        return "undef."
    band = f" {_SHORT_BANDS.get(record['band'], record['band'])}" if with_band and record.get("band") else ""
    pa = f" {_pa(record)}" if with_pa and record.get("coefficient") != "exact_set_agreement" else ""
    return f"{record['value']:.2f}{band}{pa}"


def render_table(report: dict):
    """A rich Group for the terminal. Code names, coder names and titles go in as Text."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    def table(columns: list[str], right_from: int = 1) -> Table:
        # Numbers keep their width; only the first column (a round, a code) gives way.
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for i, column in enumerate(columns):
            if i == 0:
                t.add_column(Text(column), overflow="fold", min_width=8)
            else:
                t.add_column(Text(column), justify="right" if i >= right_from else "left", no_wrap=True,
                             min_width=max(len(column), 4))
        return t

    def row(t: Table, cells: list[object]) -> None:
        t.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in cells])

    def title(text: str) -> Text:
        return Text(text, style="bold")

    out = []
    coders = table(["coder", "items", "coded", "incomplete", "not coded", "skipped"])
    for c in report["coders"]:
        row(coders, [c["coder"], c["items"], c["coded"], c["incomplete"], c["uncoded"], c["skipped"]])
    out += [title("Coders"), coders]
    items = report["items"]
    out.append(Text(f"{items['total']} items; {items['double_coded']} coded by two or more coders; "
                    f"{len(items['incomplete'])} incomplete codings. Codebook {report['codebook']['hash']}."))
    checks = report["checks"]
    for line in checks["warnings"] + checks["codebook_differences"] + checks["item_differences"]:
        out.append(Text("! " + line, style="yellow"))
    for dimension in report["dimensions"]:
        rounds = dimension["rounds"]
        first = next(iter(rounds.values()))
        labels = [short for _, short, _ in headline(dimension, first)]
        multi = dimension["kind"] == "multi"
        kind = "multi-label" if multi else "single-choice"
        # Multi-label: the exact-set column is the raw agreement (a macro mean of per-code
        # agreement would mostly count codes both coders left out).
        t = table(["round", "items", "2+", *labels, *([] if multi else ["%agr"]), "done"])
        for key, entry in rounds.items():
            cells = [key, entry["n_items"], entry["n_items_multi_coded"]]
            shown = headline(dimension, entry)
            for _, _, record in shown:
                style = "dim" if record is None or record.get("value") is None else _BAND_STYLES.get(record.get("band"), "")
                cells.append(Text(_cell(record, with_pa=False, with_band=False), style=style))
            if not multi:
                cells.append(_pa(shown[0][2]))
            after = entry["after"]
            cells.append(f"{after['decided']}/{after['disagreements']}")
            row(t, cells)
        out += [Text(""), title(f"{dimension['name']} ({dimension['id']}, {kind})"), t]
        entry = rounds[ALL]
        if multi:
            per = table(["code", "κ", "α", "prev.", "pos.", "neg.", "a/b/c/d"])
            unused = []
            for c in entry["codes"]["per_category"]:
                if c["a"] + c["b"] + c["c"] == 0:
                    unused.append(c["id"])
                    continue
                row(per, [c["id"], _cell(c["kappa"], with_pa=False, with_band=False), fmt(c["alpha"]["value"]),
                          fmt(c["prevalence"]), fmt(c["positive_agreement"]), fmt(c["negative_agreement"]),
                          f"{c['a']}/{c['b']}/{c['c']}/{c['d']}"])
            out += [title(f"{dimension['id']}: per code, all rounds"), per]
            if unused:
                out.append(Text(f"{len(unused)} codes nobody used: " + ", ".join(unused), style="dim"))
        else:
            for pair in entry["codes"]["pairwise"]:
                matrix = pair["confusion_matrix"]
                cm = table(["", *matrix["labels"]])
                for label, counts in zip(matrix["labels"], matrix["rows"]):
                    row(cm, [label, *counts])
                out += [title(f"{dimension['id']}: {pair['coders'][0]} (rows) x {pair['coders'][1]} (columns), "
                              f"all rounds, kappa {fmt_record(pair)}"), cm]
        versus = entry["after"]["coders_vs_final"]
        if versus:
            out.append(Text("agreement with the final codes: " + "; ".join(
                f"{v['coder']} {fmt(v['value'])} ({v['n_items']} items)" for v in versus), style="dim"))
    out += [Text(""), Text("Colours are the Landis & Koch bands: green substantial or better, yellow fair or "
                           "moderate, red slight or poor.", style="dim")]
    notes = _undefined_notes(report)
    out += [Text(note, style="dim") for note in notes]
    disagreements = report["disagreements"]
    rec = report["reconciliation"]
    out.append(Text(""))
    out.append(Text(f"{len(disagreements)} disagreements; {rec['decided']} decided, {rec['undecided']} open "
                    "(annotator reconcile decides them).", style="bold"))
    # One line each (wrapping as needed): a table of three coders' code lists is unreadable at 80 columns.
    for d in disagreements[:SHOWN_DISAGREEMENTS]:
        line = Text.assemble((d["item_id"], "bold"), f" ({d['round'] or '-'}) ", (d["dimension"], "cyan"), ": ")
        line.append(" · ".join(f"{coder} {_codes_text(codes)}" for coder, codes in d["codes"].items()))
        if d["decision"]:
            line.append(f" → {_codes_text(d['decision']['codes'])} ({d['decision']['method']})", style="green")
        else:
            line.append(" → open", style="yellow")
        out.append(line)
    if len(disagreements) > SHOWN_DISAGREEMENTS:
        out.append(Text(f"... and {len(disagreements) - SHOWN_DISAGREEMENTS} more (--format json or csv lists all).",
                        style="dim"))
    return Group(*out)


def render(report: dict, fmt_name: str) -> str | list:
    if fmt_name == "json":
        return render_json(report)
    if fmt_name == "markdown":
        return render_markdown(report)
    if fmt_name == "csv":
        return render_csv(report)
    return render_table(report)
