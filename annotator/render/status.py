"""`annotator status` as rich renderables: one block per stage, then the next command."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text


def _kappa(value) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def render_status(status) -> Group:
    parts: list = [Text(f"Study {status.root}: {status.corpus_items:,} items in the corpus", style="bold")]
    for number, stage in enumerate(status.stages, start=1):
        head = Text(f"\n{number}. {stage.id}" if not stage.implicit else "\nthe study (one stage)", style="bold")
        head.append(f"  asks {', '.join(stage.asks)}", style="")
        if stage.of:
            head.append(f" of {' and '.join(stage.of)} (after {stage.after})", style="")
        head.append("  done" if stage.done else "", style="green")
        parts.append(head)
        if stage.samples:
            parts.append(Text("   samples: " + ", ".join(
                f"{s['name']} ({s['size']:,} items{'' if s['assigned'] else ', not assigned'})" for s in stage.samples)))
        if stage.coders:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
            table.add_column("coder")
            table.add_column("coded", justify="right")
            rounds = list(dict.fromkeys(r for c in stage.coders for r in c.rounds))
            for name in rounds:
                table.add_column(name, justify="right")
            for coder in stage.coders:
                cells = [Text(coder.coder), Text(f"{coder.coded:,}/{coder.items:,}")]
                for name in rounds:
                    done, total = coder.rounds.get(name, (0, 0))
                    cells.append(Text(f"{done:,}/{total:,}" if total else "–"))
                table.add_row(*cells)
            parts.append(table)
        if stage.merged:
            merged = Text(f"   merged: {stage.merged}" + (" (older than the sessions: merge again)" if stage.merge_stale else ""))
            parts.append(merged)
            for block in stage.rounds:
                lines = [f"{line['dimension']} {'mean κ' if line['multi'] else 'κ'} {_kappa(line['kappa'])}"
                         f" ({line['items']:,} items)" for line in block["agreement"]]
                parts.append(Text(f"   agreement, {block['round']}: " + "; ".join(lines)))
            parts.append(Text(f"   disagreements: {stage.disagreements:,}, open: {stage.undecided:,}"))
        if stage.next:
            parts.append(Text(f"   next: {stage.next}", style="cyan"))
    parts.append(Text(f"\nNext: {status.next}", style="bold cyan"))
    return Group(*parts)
