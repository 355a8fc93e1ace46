"""The reconcile TUI: decide every disagreement, one item and dimension at a time.

Shows the issue (the coding screen's ItemHeader and ItemBody), each coder's codes and memo
side by side, and the final decision. Keys: a digit takes that coder's codes, u the union,
i the intersection, e edits (the codebook keys toggle codes, as when coding; Enter saves),
F2 writes the rationale, arrows move, Tab jumps to the next undecided. Every decision is
committed (with who, when, how and why) before the screen shows it as decided.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from annotator.errors import UserError
from annotator.agreement.merge import AUTO, MergedStore, Unit
from annotator.codebook.model import Code, Codebook, Dimension
from annotator.textsafe import clean_line
from annotator.tui.chord import Chord
from annotator.tui.messages import DecisionSaved, UnitShown
from annotator.tui.quotes_view import coder_quotes, quotes_text
from annotator.tui.reconcile_nav import QueueNavigation
from annotator.tui.screens import TextPrompt
from annotator.tui.widgets import CodebookPanel, ItemBody, ItemHeader, StatusLine

MAX_CODERS_BY_DIGIT = 9


KEYS_HELP = (
    ("1 … 9", "take that coder's codes"),
    ("u", "the union of the coders' codes"),
    ("i", "the intersection (the codes every coder gave)"),
    ("e", "edit: the codebook keys toggle codes, Enter saves, Esc cancels"),
    ("F2 / '", "write the rationale for this decision"),
    ("⌫ / F9", "withdraw this decision (it stays in the log)"),
    ("→ ] / ← [", "next / previous in the queue"),
    ("Tab", "next undecided"),
    ("g", "go to an item (its id, or its number in the queue)"),
    ("f", "filter: undecided, stale, dimension=ID, code=ID (empty: everything)"),
    ("↑ ↓ PgUp PgDn", "scroll the issue"),
    ("F1 / ?", "this help"),
    ("F10 / ctrl+q", "quit (every decision is already saved)"),
)


class ReconcileHelp(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        text = Text("Reconcile: keys\n", style="bold underline")
        for keys, what in KEYS_HELP:
            text.append(f"  {keys:<16}", style="bold cyan")
            text.append(what + "\n")
        text.append("\nDecisions are saved at once with your name, the time, the method and the rationale.\n"
                    "Items where every coder agrees are final on their own (unless --no-auto-agree).",
                    style="dim")
        with VerticalScroll(id="help-box"):
            yield Static(text)
            yield Static(Text("Esc closes this help.", style="dim"))


class CoderColumn(Static):
    """One coder's codes and memo for the unit on screen."""


class DecisionColumn(Static):
    """The final decision (or the draft while editing)."""


def code_label(dimension: Dimension, code_id: str) -> str:
    """A code's name with its theme: 'Model Usage › Loading'."""
    if code_id not in dimension.by_id:
        return f"{code_id} (not in the codebook)"
    return " › ".join(code.name for code in dimension.path_of(code_id))


class ReconcileScreen(QueueNavigation, Screen):
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", key_display="F1"),
        Binding("1", "take(1)", "Coder", key_display="1-9"),
        *[Binding(str(n), f"take({n})", show=False) for n in range(2, MAX_CODERS_BY_DIGIT + 1)],
        Binding("u", "union", "Union"),
        Binding("i", "intersection", "Common"),
        Binding("e", "edit", "Edit"),
        Binding("f2,apostrophe", "rationale", "Why", key_display="F2"),
        Binding("tab", "next_undecided", "Next open", key_display="Tab", priority=True),
        Binding("g", "goto", "Go to", show=False),
        Binding("f", "filter", "Filter", show=False),
        Binding("f10", "app.quit", "Quit", key_display="F10"),
        Binding("right,right_square_bracket", "move(1)", "Next", show=False),
        Binding("left,left_square_bracket", "move(-1)", "Prev", show=False),
        Binding("backspace,f9", "withdraw", "Withdraw", show=False),
        Binding("escape", "cancel", show=False),
        Binding("up", "scroll('up')", show=False),
        Binding("down", "scroll('down')", show=False),
        Binding("pageup", "scroll('pageup')", show=False),
        Binding("pagedown", "scroll('pagedown')", show=False),
        Binding("home", "scroll('home')", show=False),
        Binding("end", "scroll('end')", show=False),
    ]

    def __init__(self, merged: MergedStore, *, decided_by: str, include_all: bool = False,
                 auto_agree: bool = True) -> None:
        super().__init__()
        self.merged = merged
        self.decided_by = decided_by
        self.include_all = include_all
        self.auto_agree = auto_agree
        self.codebook: Codebook = merged.codebook
        self.coders = merged.coders()
        self.queue: list[Unit] = []
        self.units: list[Unit] = []
        self.decisions: dict[tuple[str, str], dict] = {}
        self.unit: Unit | None = None
        self.item: dict = {}
        self.editing: set[str] | None = None  # the draft codes while editing
        self.edit_start = ""  # what the draft started from, said in the edit box
        self.chord = Chord()
        self.pending_rationale: dict[tuple[str, str], str] = {}
        self.filter = ""  # what `f` keeps in view: "", "undecided", "stale", "dimension=ID", "code=ID"
        self.extra: list[Unit] = []  # units the open queue adds (annotator/agreement/queue.py)
        self.stale: dict[tuple[str, str], str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="rc-progress")
        yield ItemHeader(id="item-header")
        with Horizontal(id="rc-main"):
            yield ItemBody(id="body")
            yield CodebookPanel(id="rc-codebook")
        yield Static(id="rc-dimension")
        with Horizontal(id="rc-coders"):
            for coder in self.coders:
                yield CoderColumn(classes="rc-coder")
            yield DecisionColumn(id="rc-decision")
        yield StatusLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    # --- the queue ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.query_one(ItemBody).can_focus = False  # every key belongs to reconciling
        self.query_one("#rc-codebook").display = False
        self.refresh_queue()
        if not self.queue:
            self.say("Nothing to reconcile: every coder agrees on every item. F10 quits.")
            self.paint_progress()
            return
        first = self.next_undecided(None)
        if first is None:
            self.show_unit(self.queue[0])
            self.say(f"All {len(self.queue)} decided. Arrows review them; F10 quits.")
        else:
            self.show_unit(first)
            done = self.decided_count()
            self.say(f"Resuming: {done} of {len(self.queue)} decided." if done else
                     "Take a coder's codes (1-9), the union (u), the intersection (i), or edit (e). F1: help.")

    def refresh_queue(self, changed: tuple[str, str] | None = None) -> None:
        """Recompute the queue. The coders' codes never change here, only decisions: read them
        all once, then only the one just changed (a large study has tens of thousands)."""
        if changed is None:
            from annotator.agreement.queue import open_queue, stale_keys

            self.units = self.merged.units()
            self.decisions = self.merged.decisions()
            self.stale = stale_keys(self.merged)
            self.extra = [n.unit for n in open_queue(self.merged, auto_agree=self.auto_agree)
                          if n.reason in ("no-codes", "unclear", "retired")]
        else:
            decision = self.merged.decision(*changed)
            if decision is None:
                self.decisions.pop(changed, None)
            else:
                self.decisions[changed] = decision
        queue = self.merged.queue(include_all=self.include_all, auto_agree=self.auto_agree,
                                  units=self.units, decisions=self.decisions)
        seen = {self.key_of(u) for u in queue}
        queue += [u for u in self.extra if self.key_of(u) not in seen]
        self.queue = [u for u in queue if self.passes(u)]

    def key_of(self, unit: Unit) -> tuple[str, str]:
        return unit.item_id, unit.dimension

    def index_of(self, unit: Unit | None) -> int:
        if unit is None:
            return -1
        for index, candidate in enumerate(self.queue):
            if self.key_of(candidate) == self.key_of(unit):
                return index
        return -1

    def is_decided(self, unit: Unit) -> bool:
        return self.merged.counts_as_decided(self.decisions.get(self.key_of(unit)), auto_agree=self.auto_agree)

    def decided_count(self) -> int:
        return sum(self.is_decided(unit) for unit in self.queue)

    def next_undecided(self, after: Unit | None) -> Unit | None:
        start = self.index_of(after)
        order = self.queue[start + 1:] + self.queue[:start + 1]
        return next((unit for unit in order if not self.is_decided(unit)), None)

    # --- painting ----------------------------------------------------------------------------

    def say(self, message: str, error: bool = False) -> None:
        self.query_one(StatusLine).say(message, error=error)

    def dimension(self) -> Dimension:
        return self.codebook.dimension(self.unit.dimension)

    def show_unit(self, unit: Unit) -> None:
        new_item = self.unit is None or unit.item_id != self.unit.item_id
        self.unit = unit
        self.editing = None
        self.chord.clear()
        self.query_one("#rc-codebook").display = False
        if new_item:
            self.item = self.merged.item(unit.item_id)
            self.query_one(ItemBody).show_item(self.item)
        self.paint()
        self.post_message(UnitShown(unit.item_id, unit.dimension))

    def paint_progress(self) -> None:
        text = Text.assemble((" reconcile ", "bold reverse"), f" as {clean_line(self.decided_by)}  ")
        total = len(self.queue)
        done = self.decided_count()
        text.append(f"{done}/{total} decided")
        if total and done == total:
            text.append(" ✓", style="bold green")
        position = self.index_of(self.unit)
        if position >= 0:
            text.append(f" · {position + 1} of {total}")
        self.query_one("#rc-progress", Static).update(text)

    def paint(self) -> None:
        self.paint_progress()
        if self.unit is None:
            return
        unit = self.unit
        dimension = self.dimension()
        flags = set().union(set(), *self.merged.flags_for(unit.item_id).values())
        position = self.index_of(unit) + 1
        self.query_one(ItemHeader).show_item(self.item, position, len(self.queue), flags)
        how = "several codes" if dimension.multi else "one code"
        line = Text.assemble((f" {dimension.name} ", "bold reverse"), f" ({how})  ")
        line.append("coders agree" if unit.agreed else "coders disagree",
                    style="green" if unit.agreed else "bold yellow")
        decision = self.decisions.get(self.key_of(unit))
        if self.merged.is_stale(unit, decision):
            line.append("  the coders changed their codes since this decision", style="bold red")
        elif decision is None and self.key_of(unit) in self.stale:
            line.append(f"  stale: {self.stale[self.key_of(unit)]}", style="bold red")
        self.query_one("#rc-dimension", Static).update(line)
        memos = self.merged.memos_for(unit.item_id)
        given = [codes for codes in unit.codes.values() if codes]
        common = frozenset.intersection(*given) if given else frozenset()
        quotes = coder_quotes(self.merged, unit.item_id)
        for number, (coder, column) in enumerate(zip(self.coders, self.query(CoderColumn)), start=1):
            text = self.coder_text(number, coder, dimension, common, memos.get(coder, ""))
            shown = quotes_text(quotes.get(coder, []), dimension)
            if shown.plain:
                text.append("" if text.plain.endswith("\n") else "\n").append_text(shown)
            column.update(text)
        self.query_one(DecisionColumn).update(self.decision_text(dimension, decision))
        if self.editing is not None:
            panel = self.query_one(CodebookPanel)
            shown = dataclasses.replace(dimension, requires={})
            panel.show_codes(Codebook(name=self.codebook.name, dimensions=[shown]), {dimension.id: self.editing},
                             self.chord.path or None, dimension.id)

    def coder_text(self, number: int, coder: str, dimension: Dimension, common: frozenset, memo: str) -> Text:
        text = Text(no_wrap=False, overflow="fold")
        key = str(number) if number <= MAX_CODERS_BY_DIGIT else " "
        text.append(f" {key} ", style="bold reverse cyan")
        text.append(f" {clean_line(coder)}\n", style="bold")
        if coder not in self.unit.codes:
            text.append("did not code this item\n", style="dim")
        else:
            codes = self.unit.codes[coder]
            if codes is None:
                text.append("not asked (its condition did not hold)\n", style="dim")
            elif not codes:
                text.append("(no codes)\n", style="dim")
            for code in sorted(codes or (), key=lambda c: code_label(dimension, c)):
                # Codes the others did not give stand out: they are the disagreement.
                style = "" if code in common else "bold yellow"
                text.append("● " + code_label(dimension, code) + "\n", style=style)
        if memo:
            text.append("memo: ", style="italic dim")
            text.append(clean_line(memo), style="italic")
        return text

    def decision_text(self, dimension: Dimension, decision: dict | None) -> Text:
        text = Text(no_wrap=False, overflow="fold")
        if self.editing is not None:
            text.append(" editing \n", style="bold reverse magenta")
            text.append(f"started from {self.edit_start}\n", style="dim")
            for code in sorted(self.editing, key=lambda c: code_label(dimension, c)):
                text.append("● " + code_label(dimension, code) + "\n", style="bold magenta")
            if not self.editing:
                text.append("(no codes)\n", style="dim")
            text.append("Enter saves · Esc cancels", style="dim")
            return text
        if decision is None or not self.merged.counts_as_decided(decision, auto_agree=self.auto_agree):
            text.append(" final: open \n", style="bold reverse yellow")
        else:
            text.append(" final ", style="bold reverse green")
            text.append("\n")
        if decision is not None:
            for code in sorted(decision["codes"], key=lambda c: code_label(dimension, c)):
                text.append("● " + code_label(dimension, code) + "\n", style="bold green")
            if not decision["codes"]:
                text.append("(no codes)\n", style="dim")
            who = "automatically" if decision["decided_by"] == AUTO else f"by {clean_line(decision['decided_by'])}"
            text.append(f"{decision['method']} {who}\n", style="dim")
            if decision.get("rationale"):
                text.append("why: ", style="italic dim")
                text.append(clean_line(decision["rationale"]), style="italic")
        pending = self.pending_rationale.get(self.key_of(self.unit)) if self.unit else None
        if pending and (decision is None or decision.get("rationale") != pending):
            text.append("why (saved with the decision): ", style="italic dim")
            text.append(clean_line(pending), style="italic")
        return text

    # --- deciding ----------------------------------------------------------------------------

    def decide(self, codes, method: str) -> None:
        unit = self.unit
        if unit is None:
            return
        dimension = self.dimension()
        codes = set(codes)
        if not dimension.multi and len(codes) != 1:
            self.say(f"'{dimension.name}' takes exactly one code: take one coder's code (1-9) or edit (e).",
                     error=True)
            return
        key = self.key_of(unit)
        decision = self.decisions.get(key)
        rationale = self.pending_rationale.get(key)
        if rationale is None and decision is not None and decision["decided_by"] != AUTO:
            rationale = decision.get("rationale")  # changing the codes keeps the reason written
        try:
            self.merged.decide(unit.item_id, unit.dimension, codes, decided_by=self.decided_by, method=method,
                               rationale=rationale, basis=unit.basis())
        except UserError as error:
            self.say(f"NOT SAVED: {error}", error=True)
            return
        self.pending_rationale.pop(key, None)
        self.post_message(DecisionSaved(unit.item_id, unit.dimension, sorted(codes), method))
        shown = ", ".join(code_label(dimension, c) for c in sorted(codes)) or "no codes"
        self.refresh_queue(key)
        following = self.next_undecided(unit)
        if following is None:
            self.paint()
            self.say(f"saved: {shown} ({method}). All {len(self.queue)} decided ✓ F10 quits.")
            return
        self.show_unit(following)
        self.say(f"saved: {shown} ({method}) for {unit.item_id}; ← goes back to it (F2 writes its rationale)")

    def action_take(self, number: int) -> None:
        if self.unit is None or self.editing is not None:
            return
        if number > len(self.coders):
            self.say(f"There is no coder {number}; this study has {len(self.coders)}.", error=True)
            return
        coder = self.coders[number - 1]
        if coder not in self.unit.codes:
            self.say(f"{coder} did not code this item; take another coder's codes or edit (e).", error=True)
            return
        self.decide(self.unit.codes[coder] or (), f"coder:{coder}")

    def _given(self) -> list[frozenset]:
        """The codes of every coder who was asked this dimension (at least one empty set)."""
        return [codes for codes in self.unit.codes.values() if codes is not None] or [frozenset()]

    def action_union(self) -> None:
        if self.unit is not None and self.editing is None:
            self.decide(frozenset().union(*self._given()), "union")

    def action_intersection(self) -> None:
        if self.unit is not None and self.editing is None:
            self.decide(frozenset.intersection(*self._given()), "intersection")

    def action_edit(self) -> None:
        if self.unit is None or self.editing is not None:
            return
        decision = self.decisions.get(self.key_of(self.unit))
        # Start from the decision, else from the codes every coder gave: and say which.
        if decision is not None:
            self.editing = set(decision["codes"])
            self.edit_start = "the decision"
        else:
            self.editing = set(frozenset.intersection(*self._given()))
            self.edit_start = ("the codes every coder gave" if self.editing
                               else "no codes (the coders share none)")
        self.chord.clear()
        self.query_one("#rc-codebook").display = True
        self.paint()
        self.say(f"Editing, from {self.edit_start}: press a code's key to add or remove it; Enter saves, Esc cancels.")

    def action_cancel(self) -> None:
        if self.chord:
            self.chord.clear()
            self.paint()
            self.say("cancelled")
        elif self.editing is not None:
            self.editing = None
            self.query_one("#rc-codebook").display = False
            self.paint()
            self.say("edit cancelled; nothing saved")

    def on_key(self, event) -> None:
        """While editing, letters and digits are the codebook's keys (as on the coding screen)."""
        if self.editing is None or self.unit is None:
            return
        if event.key == "enter":
            event.stop()
            if self.chord:
                self.toggle(self.chord.finish()[1])
            else:
                self.save_edit()
            return
        character = event.character or ""
        if not character.isalnum():
            return
        event.stop()
        dimension = self.dimension()
        where = f"under {self.chord.path[-1].name}" if self.chord else f"in {dimension.name}"
        pressed = self.chord.press(character, [(dimension.id, code) for code in dimension.codes])
        if pressed.kind == "unknown":
            self.say(f"No code {where} has the key '{character}'. Esc cancels.", error=True)
        elif pressed.kind == "chord":
            self.paint()
            self.say(f"{pressed.code.name}: press a sub-code's key, Enter for the theme itself, Esc to cancel.")
        else:
            self.toggle(pressed.code)

    def toggle(self, code: Code) -> None:
        self.chord.clear()
        if code.id in self.editing:
            self.editing.discard(code.id)
        elif self.dimension().multi:
            self.editing.add(code.id)
        else:
            self.editing = {code.id}
        self.paint()
        self.say(f"draft: {'+' if code.id in self.editing else '−'} {code.name} (Enter saves)")

    def save_edit(self) -> None:
        codes = set(self.editing)
        dimension = self.dimension()
        if not dimension.multi and len(codes) != 1:
            self.say(f"'{dimension.name}' takes exactly one code: press one code's key, then Enter.", error=True)
            return
        self.editing = None
        self.query_one("#rc-codebook").display = False
        self.decide(codes, "edited")
        if self.editing is None and self.unit is not None:
            self.paint()

    def action_rationale(self) -> None:
        if self.unit is None:
            return
        key = self.key_of(self.unit)
        decision = self.decisions.get(key)
        current = self.pending_rationale.get(key) or (decision or {}).get("rationale") or ""
        if decision is not None and decision["decided_by"] == AUTO:
            current = self.pending_rationale.get(key, "")

        def save(text: str | None) -> None:
            if text is None:
                return
            text = text.strip()
            decision = self.decisions.get(key)
            if decision is not None and decision["decided_by"] != AUTO:
                try:
                    self.merged.set_rationale(*key, text, by=self.decided_by)
                except UserError as error:
                    self.say(f"NOT SAVED: {error}", error=True)
                    return
                self.refresh_queue(key)
                self.say("saved: rationale")
            else:
                self.pending_rationale[key] = text
                self.say("rationale noted; it is saved with the decision you take next")
            self.paint()

        title = f"Why this decision on {self.unit.item_id}, {self.dimension().name}? (the rationale)"
        self.app.push_screen(TextPrompt(title, current), save)

    def action_withdraw(self) -> None:
        if self.unit is None or self.editing is not None:
            return
        try:
            withdrawn = self.merged.withdraw(self.unit.item_id, self.unit.dimension, by=self.decided_by)
        except UserError as error:
            self.say(f"NOT SAVED: {error}", error=True)
            return
        if not withdrawn:
            self.say("This item has no decision to withdraw.")
            return
        self.post_message(DecisionSaved(self.unit.item_id, self.unit.dimension, None, None))
        self.refresh_queue(self.key_of(self.unit))
        self.paint()
        self.say("decision withdrawn (kept in the log)")

    # --- moving ------------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        if self.unit is None or self.editing is not None:
            return
        index = self.index_of(self.unit) + step
        if 0 <= index < len(self.queue):
            self.show_unit(self.queue[index])
            self.say("")
        else:
            self.say("That is the last one." if step > 0 else "That is the first one.")

    def action_next_undecided(self) -> None:
        if self.unit is None or self.editing is not None:
            return
        following = self.next_undecided(self.unit)
        if following is None:
            self.say(f"All {len(self.queue)} decided ✓ F10 quits.")
        elif self.key_of(following) == self.key_of(self.unit):
            self.say("This is the only one left.")
        else:
            self.show_unit(following)
            self.say("")

    def action_help(self) -> None:
        self.app.push_screen(ReconcileHelp())

    def action_scroll(self, where: str) -> None:
        body = self.query_one(ItemBody)
        {"up": body.scroll_up, "down": body.scroll_down, "pageup": body.scroll_page_up,
         "pagedown": body.scroll_page_down, "home": body.scroll_home, "end": body.scroll_end}[where](animate=False)


class ReconcileApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "annotator reconcile"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, merged: MergedStore, *, decided_by: str, include_all: bool = False,
                 auto_agree: bool = True) -> None:
        super().__init__()
        self.merged = merged
        self.options = {"decided_by": decided_by, "include_all": include_all, "auto_agree": auto_agree}

    def on_mount(self) -> None:
        self.push_screen(ReconcileScreen(self.merged, **self.options))


def build_reconcile_app(merged: MergedStore, *, decided_by: str, include_all: bool = False,
                        auto_agree: bool = True) -> ReconcileApp:
    """The app for the CLI and the tests. With auto_agree, agreed items are made final first."""
    if not decided_by:
        raise UserError("who is deciding? Pass --as NAME (or set ANNOTATOR_CODER).")
    if auto_agree:
        merged.auto_agree()
    return ReconcileApp(merged, decided_by=decided_by, include_all=include_all, auto_agree=auto_agree)


def run_reconcile_tui(path: Path, *, decided_by: str | None, include_all: bool = False,
                      auto_agree: bool = True) -> None:
    merged = MergedStore(path)
    try:
        build_reconcile_app(merged, decided_by=decided_by or "", include_all=include_all,
                            auto_agree=auto_agree).run()
    finally:
        merged.close()
