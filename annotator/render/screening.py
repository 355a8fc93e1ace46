"""What `annotator screen status` and `annotator screen simulate` print (rich; text is Text,
never markup)."""

from __future__ import annotations


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _n(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def print_status(rows: list[dict], console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    if not rows:
        console.print(Text("No screening sessions yet: assign the screening stage and code in model order "
                           "(`annotator code --order model`)."))
        return
    table = Table(title="Screening", title_justify="left")
    for column, justify in (("coder", "left"), ("order", "left"), ("items", "right"), ("read", "right"),
                            ("relevant", "right"), ("left (est.)", "right"), ("recall (est.)", "right"),
                            ("recall ≥ (proven)", "right"), ("stop?", "left")):
        table.add_column(column, justify=justify)
    for row in rows:
        interval = row["remaining_interval"]
        left = "-" if row["remaining_estimate"] is None else f"~{row['remaining_estimate']:.0f} ({interval[0]}–{interval[1]})"
        table.add_row(Text(row["coder"]), Text(row["order"]), _n(row["items"]), _n(row["read"]),
                      _n(row["relevant_found"]), left, _pct(row["estimated_recall"]), _pct(row["recall_bound"]),
                      Text("yes" if row["stop"] else "not yet", style="bold green" if row["stop"] else ""))
    console.print(table)
    first = rows[0]
    console.print(Text(f"Stopping rule: {first['rule']}."))
    console.print(Text(f"'recall ≥ (proven)': the highest recall the hypergeometric test rejects falling short of, "
                       f"at {first['confidence']:.0%} confidence, treating the items read last as a sample of those "
                       "left (conservative in model order). 'left (est.)': the model's expected number of relevant "
                       "items among the unread ones, with a 95 % interval from its probabilities."))


def print_simulation(summary: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    console.print(Text(f"Simulated screening: {summary['items']:,} items, {summary['relevant']:,} relevant, "
                       f"model {summary['model']}, {summary['initial']} random items first, retrained every "
                       f"{summary['batch']} items, {summary['seeds']} seed(s)."))
    table = Table(title="Items read to reach a recall (median over seeds; range)", title_justify="left")
    for column in ("", "model order", "range", "share of items"):
        table.add_column(column, justify="right" if column else "left")
    for key, label in (("read_at_90", "90 % recall"), ("read_at_95", "95 % recall"),
                       ("read_at_100", "100 % recall"), ("random_read_at_95", "95 %, random order")):
        value, spread = summary[key], summary[f"{key}_range"]
        table.add_row(label, _n(value), "-" if spread is None else f"{spread[0]:,}–{spread[1]:,}",
                      _pct(None if value is None else value / summary["items"]))
    console.print(table)
    wss, spread = summary["wss_at_95"], summary["wss_at_95_range"]
    console.print(Text("WSS@95 (work saved over sampling at 95 % recall): "
                       + ("-" if wss is None else f"{wss:.3f} (range {spread[0]:.3f}–{spread[1]:.3f}; "
                                                  f"random order {summary['random_wss_at_95']:.3f})")))
    if summary["stopped_at"] is None:
        console.print(Text(f"Stopping rule: {summary['stopping_rule']}; it never fired before the end."))
    else:
        console.print(Text(f"Stopping rule: {summary['stopping_rule']}; it fired after {_n(summary['stopped_at'])} "
                           f"items (fired in {summary['stopped_in']} of {summary['seeds']} seeds), recall then "
                           f"{_pct(summary['recall_at_stop'])} (range {_pct(summary['recall_at_stop_range'][0])}–"
                           f"{_pct(summary['recall_at_stop_range'][1])})."))
    curve = summary["recall_curve"]
    marks = [p for p in curve if p["read"] in {curve[min(len(curve) - 1, k * len(curve) // 10)]["read"] for k in range(1, 11)}]
    table = Table(title="Recall curve (median)", title_justify="left")
    for column in ("items read", "model order", "random order"):
        table.add_column(column, justify="right")
    for point in marks:
        table.add_row(f"{point['read']:,}", _pct(point["recall"]), _pct(point["random_recall"]))
    console.print(table)
