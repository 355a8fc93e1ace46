"""The agreement report (annotator merge) for people and programs: a rich table for the
terminal, Markdown, CSV (one row per coefficient) and JSON, from the report model of
annotator.agreement.report.agreement_report. Every piece of data goes into rich as Text, never
markup, and into Markdown through md_escape."""

from __future__ import annotations

import csv
import io
import json

from annotator.agreement.report import ALL
from annotator.render.markdown import md_escape, md_table

SHOWN_DISAGREEMENTS = 25  # in the table and Markdown; the JSON and CSV hold all


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


def is_kappa(record: dict | None) -> bool:
    """Landis & Koch's bands are for kappa: alpha and raw agreement are shown without them."""
    return bool(record) and "kappa" in (record.get("coefficient") or "")


def fmt_record(record: dict | None) -> str:
    if record is None:
        return "-"
    if record.get("value") is None:
        return "undefined"
    band = f" {record['band']}" if record.get("band") and is_kappa(record) else ""
    return f"{record['value']:.2f}{band}"


def items_note(record: dict | None, default: int | None) -> str:
    """' (n=7)' when a coefficient was computed on other items than the row's 2+ column."""
    if not record or record.get("n_items") is None or record.get("n_items") == default:
        return ""
    return f" (n={record['n_items']})"


LEGEND = [
    "items: items any coder finished; 2+: items finished by two or more coders, the items each "
    "coefficient is computed on unless (n=...) gives its own number (Fleiss' kappa needs every coder "
    "on an item).",
    "κ: Cohen's kappa (with three or more coders the mean of the pairwise kappas); for a multi-label "
    "dimension κ is the macro mean of the per-code kappas (each code present or absent), "
    "α MASI Krippendorff's alpha with the MASI distance, exact: the share of items where the coders' "
    "code sets are identical; κ thm, α thm: the same with every code rolled up to its theme.",
    "%agr: raw percent agreement; done: disagreements decided of all disagreements.",
    "Landis & Koch's bands (slight, fair, moderate, substantial, almost perfect) are given for kappa only.",
]


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
    """json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False), the same text, written
    faster: with indent, json.dumps runs its pure-Python encoder, a second of a large study's
    merge. Here the report's plain types are written directly (strings by json's own C
    escaper); anything else goes back to json.dumps."""
    out: list[str] = []
    _json_value(report, out, "\n")
    return "".join(out)


_escape = json.encoder.encode_basestring  # ensure_ascii=False: json's C function when present


def _json_value(value, out: list[str], newline: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_escape(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        out.append(float.__repr__(value))
    elif kind is dict and all(type(key) is str for key in value):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            out.append(separator + _escape(key) + ": ")
            _json_value(item, out, inner)
            separator = "," + inner
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            out.append(separator)
            _json_value(item, out, inner)
            separator = "," + inner
        out.append(newline + "]")
    else:  # subclasses, other keys: json's own rules, indented to this depth
        text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
        out.append(text.replace("\n", newline))


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


def _md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    return md_table(header, rows).split("\n") + [""]


def render_markdown(report: dict) -> str:
    lines = ["# Agreement report", ""]
    lines.append(f"Merged {len(report['coders'])} sessions into {md_escape(report['merged'])}; codebook "
                 f"\"{md_escape(report['codebook']['name'])}\" ({report['codebook']['hash']}).")
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
        lines += [f"- {md_escape(note)}" for note in notes] + [""]
    for dimension in report["dimensions"]:
        lines.append(f"## {md_escape(dimension['name'])} (`{dimension['id']}`, {'multi-label' if dimension['kind'] == 'multi' else 'single-choice'})")
        lines.append("")
        rounds = dimension["rounds"]
        first = next(iter(rounds.values()))
        labels = [label for label, _, _ in headline(dimension, first)]
        rows = []
        for key, entry in rounds.items():
            cells = [key, entry["n_items"], entry["n_items_multi_coded"]]
            for _, _, record in headline(dimension, entry):
                cells.append(f"{fmt_record(record)} ({_pa(record)}){items_note(record, entry['n_items_multi_coded'])}")
            rows.append(cells)
        lines += _md_table(["Round", "Items", "2+ coders", *[f"{label} (% agr.)" for label in labels]], rows)
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
        if after["coders_vs_final"] and all(v["value"] is None for v in after["coders_vs_final"]):
            lines.append("Agreement with the final codes: not measured yet (no decision taken by a person).")
            lines.append("")
        else:
            lines += _md_table(["Coder", "vs final", "% agr.", "items"],
                               [[v["coder"], fmt_record(v) if v["coefficient"] != "exact_set_agreement" else fmt(v["value"]),
                                 _pa(v), v["n_items"]] for v in after["coders_vs_final"]])
    lines += ["Columns:", ""] + [f"- {line}" for line in LEGEND] + [""]
    notes = _undefined_notes(report)
    if notes:
        lines.append("## Undefined coefficients")
        lines.append("")
        lines += [f"- {md_escape(note)}" for note in notes]
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
    band = (f" {_SHORT_BANDS.get(record['band'], record['band'])}"
            if with_band and record.get("band") and is_kappa(record) else "")
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
                style = ("dim" if record is None or record.get("value") is None
                         else _BAND_STYLES.get(record.get("band"), "") if is_kappa(record) else "")
                cells.append(Text(_cell(record, with_pa=False, with_band=False)
                                  + items_note(record, entry["n_items_multi_coded"]), style=style))
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
        if versus and all(v["value"] is None for v in versus):
            out.append(Text("agreement with the final codes: not measured yet (no decision taken by a person)",
                            style="dim"))
        elif versus:
            out.append(Text("agreement with the final codes: " + "; ".join(
                f"{v['coder']} {fmt(v['value'])} ({v['n_items']} items)" for v in versus), style="dim"))
    out += [Text(""), Text("Colours are the Landis & Koch bands, for kappa only: green substantial or better, "
                           "yellow fair or moderate, red slight or poor.", style="dim")]
    out += [Text(line, style="dim") for line in LEGEND]
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
