"""F12: every item of the session with its status, filtered, to jump to one (result: its id)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from annotator.coding.session import SessionStore
from annotator.textsafe import clean_line

# filter name -> (key, what the coder sees)
FILTERS = {
    "all": ("f1", "all"), "uncoded": ("f5", "uncoded"), "coded": ("f6", "coded"),
    "unsure": ("f3", "unsure"), "skip": ("f4", "skipped"), "memo": ("f2", "has memo"),
}


@dataclass
class Row:
    id: str
    position: int
    title: str
    coded: bool
    flags: set[str]
    memo: bool
    codes: list[str]  # code names

    def status(self) -> str:
        return "coded" if self.coded else "—"

    def marks(self) -> str:
        return ("?" if "unsure" in self.flags else " ") + ("S" if "skip" in self.flags else " ") + \
            ("M" if self.memo else " ")

    def keep(self, kind: str, words: list[str]) -> bool:
        if kind == "uncoded" and self.coded or kind == "coded" and not self.coded:
            return False
        if kind in ("unsure", "skip") and kind not in self.flags or kind == "memo" and not self.memo:
            return False
        haystack = " ".join([self.id, self.title, *self.codes]).lower()
        return all(word in haystack for word in words)


def item_rows(store: SessionStore) -> list[Row]:
    labels, memos, flags = store.current_state()
    coded = store.coded_ids()
    names = {(d.id, c.id): c.name for d in store.codebook.dimensions for c in d.walk()}
    codes: dict[str, list[str]] = {}
    for (item_id, dimension), ids in labels.items():
        codes.setdefault(item_id, []).extend(names.get((dimension, c), c) for c in sorted(ids))
    return [Row(s["id"], s["position"], clean_line(s["title"]), s["id"] in coded, flags.get(s["id"], set()),
                bool(memos.get(s["id"])), codes.get(s["id"], [])) for s in store.item_summaries()]


class ItemListScreen(ModalScreen[str | None]):
    """Type words (of a title, an id or a code name) to narrow the list; F-keys pick a status."""

    BINDINGS = [
        Binding("escape,f12", "close", "Close"),
        *[Binding(key, f"status('{name}')", label) for name, (key, label) in FILTERS.items()],
        Binding("down", "cursor(1)", show=False, priority=True),
        Binding("up", "cursor(-1)", show=False, priority=True),
        Binding("pagedown", "cursor(10)", show=False, priority=True),
        Binding("pageup", "cursor(-10)", show=False, priority=True),
    ]

    def __init__(self, rows: list[Row], current: str | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.current = current
        self.kind = "all"
        self.shown: list[Row] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="list-box"):
            yield Static(id="list-title")
            yield Input(placeholder="words of a title, an id or a code name", id="list-filter")
            yield DataTable(id="list-table", cursor_type="row", zebra_stripes=True)
            keys = " · ".join(f"{key.upper()} {label}" for key, label in FILTERS.values())
            yield Static(Text(f"{keys} · ↑↓ Enter: go · Esc", style="dim"), id="list-keys")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("pos", "item", "status", "?SM", "title / codes")
        self.refill()

    def refill(self) -> None:
        words = self.query_one(Input).value.lower().split()
        self.shown = [row for row in self.rows if row.keep(self.kind, words)]
        table = self.query_one(DataTable)
        table.clear()
        for row in self.shown:
            codes = "; ".join(clean_line(name) for name in row.codes)
            table.add_row(Text(str(row.position)), Text(row.id), Text(row.status()), Text(row.marks()),
                          Text(row.title + (f" [{codes}]" if codes else "")), key=row.id)
        label = FILTERS[self.kind][1]
        self.query_one("#list-title", Static).update(
            Text(f"Items: {len(self.shown)} of {len(self.rows)} ({label})", style="bold"))
        ids = [row.id for row in self.shown]
        if self.current in ids:
            table.move_cursor(row=ids.index(self.current), animate=False)

    @on(Input.Changed)
    def narrow(self) -> None:
        self.refill()

    @on(Input.Submitted)
    def go(self) -> None:
        table = self.query_one(DataTable)
        if self.shown and 0 <= table.cursor_row < len(self.shown):
            self.dismiss(self.shown[table.cursor_row].id)

    @on(DataTable.RowSelected)
    def chosen(self, event: DataTable.RowSelected) -> None:
        self.dismiss(event.row_key.value)

    def action_status(self, kind: str) -> None:
        self.kind = kind
        self.refill()

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, min(table.cursor_row + step, len(self.shown) - 1)), animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
