"""The coding screen: one item at a time (header, body and comments), the codebook, memo, progress.

Its keys come from annotator/keymap.py (via annotator/tui/keys.py); its dialogs are in
prompts.py, reading.py and item_list.py. It calls the store by intent and writes no SQL.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from annotator.errors import UserError
from annotator.coding.session import SessionStore, StoreFull
from annotator.codebook.model import Code, Dimension
from annotator.tui.chord import Chord
from annotator.tui.keys import bindings, key_help
from annotator.tui.messages import (ChangeUndone, FlagToggled, ItemShown, LabelRecorded, MemoSaved,
                                    SaveFailed)
from annotator.tui.widgets import (CodebookPanel, DefinitionPane, ItemBody, ItemHeader, KeyFooter, MemoLine,
                                   ProgressLine, StatusLine, TooSmall)
from annotator.tui.words import describe_undo, find, go_to_hint

WIDE_COLUMNS = 110  # from this width on, the codebook panel gets wider
SMALLEST = (80, 24)  # the screen is laid out for this size and up
IDLE_CAP_SECONDS = 600  # time on one item beyond this is counted as a break, not coding


class CodingScreen(Screen):
    """One item at a time: header, body and comments, codebook, memo, progress."""

    BINDINGS = bindings()

    def __init__(self, store: SessionStore, earlier=None) -> None:
        super().__init__()
        self.store = store
        self.earlier = earlier  # an earlier stage's final codes (EarlierCodes), shown under the header
        self.item_id: str | None = None
        self.item: dict = {}
        self.chord = Chord()
        self._shown_at = time.monotonic()
        self._ids = store.item_ids()
        self._index = {item_id: index for index, item_id in enumerate(self._ids)}  # not ids.index per key
        self.sitting_start = store.last_event_id()  # undo reaches before it only when confirmed
        self.active_code: str | None = None  # the code last chosen: the panel keeps its theme in view
        self.matches: list[str] = []  # the last search's items, for next / previous match

    def compose(self) -> ComposeResult:
        yield ProgressLine(id="progress")
        yield ItemHeader(id="item-header")
        yield Static(id="earlier-stage", markup=False)
        with Horizontal(id="main"):
            yield ItemBody(id="body")
            with Vertical(id="side"):
                yield CodebookPanel(id="codebook")
                yield DefinitionPane(id="definition")
        yield MemoLine(id="memo")
        yield StatusLine(id="status")
        yield KeyFooter(compact=True, show_command_palette=False)
        yield TooSmall(id="too-small")

    def on_resize(self, event) -> None:
        # A wide terminal gives the codebook room for whole code names (see app.tcss).
        width, height = event.size
        self.set_class(width >= WIDE_COLUMNS, "-wide")
        small = width < SMALLEST[0] or height < SMALLEST[1]
        self.set_class(small, "-too-small")
        if small:
            self.query_one(TooSmall).show_size(width, height, SMALLEST)

    def first_item(self) -> str | None:
        """Where the screen opens (model order overrides it: annotator/tui/screening.py)."""
        return self.store.resume_item()

    def on_mount(self) -> None:
        self.set_class(self.earlier is not None, "-earlier-stage")  # one line more, only then
        start = self.first_item()
        progress = self.store.progress()
        if start is None:
            self.query_one(StatusLine).say("This session has no items. Assign some with `annotator assign`.")
            return
        self.show_item(start)
        if progress.coded:
            self.query_one(StatusLine).say(
                f"Welcome back: {progress.coded} of {progress.total} coded; resuming at {start}.")
        else:
            self.query_one(StatusLine).say("Press a code's key to code this item; F1 shows every key.")

    # --- showing ---------------------------------------------------------------------------

    def show_item(self, item_id: str) -> None:
        self.query_one(StatusLine).say("")
        self._leave_item()
        self.item_id = item_id
        self.item = self.store.item(item_id)
        self.chord.clear()
        self.active_code = None
        self.query_one(ItemBody).show_item(self.item)
        if self.earlier is not None:
            self.query_one("#earlier-stage", Static).update(Text(self.earlier.line_for(item_id), style="dim"),
                                                            layout=False)  # one row (app.tcss): no layout pass
        self.refresh_item()
        self._show_memo(item_id)
        self._save(lambda: self.store.record_view(item_id, 0.0))
        self._shown_at = time.monotonic()
        self.post_message(ItemShown(item_id))

    def refresh_item(self) -> None:
        """Repaint what depends on the item's labels and flags (after every committed change)."""
        if self.item_id is None:
            return
        position = self._index[self.item_id] + 1
        self.query_one(ItemHeader).show_item(self.item, position, len(self._ids),
                                             self.store.flags_for(self.item_id))
        self.query_one(CodebookPanel).show_codes(self.store.asked_codebook, self.store.labels_for(self.item_id),
                                                 self.chord.path or None, self.chord.dimension, self.active_code)
        # The definition of the theme being chosen, else of the code last chosen, in the rows the
        # codes leave free (the codes come first: every saved one stays on screen).
        room = self.query_one("#side").size.height - self.query_one(CodebookPanel).needed
        shown = self.chord.path[-1] if self.chord else self._active()
        self.query_one(DefinitionPane).show_code(shown, min(room, 9))
        progress = self.store.progress()
        self.query_one(ProgressLine).show_progress(self.store.coder, progress.coded, progress.total,
                                                   progress.pace, progress.seconds_left)

    # The item's quotes as the memo line counts them: a key press on an item without any reads
    # no quotes to say which went with a code.
    _quotes_shown = 0

    def _show_memo(self, item_id: str) -> None:
        self._quotes_shown = len(self.store.quotes_for(item_id))
        self.query_one(MemoLine).show_memo(self.store.memo(item_id), self._quotes_shown)

    def _active(self) -> Code | None:
        for dimension in self.store.codebook.dimensions:
            if self.active_code in dimension.by_id:
                return dimension.by_id[self.active_code]
        return None

    def _leave_item(self) -> None:
        if self.item_id is not None:
            spent = min(time.monotonic() - self._shown_at, IDLE_CAP_SECONDS)
            self._save(lambda: self.store.record_view(self.item_id, spent))

    def _save(self, change):
        """Run a store write; on failure say so and report nothing as saved."""
        try:
            return True, change()
        except StoreFull as error:
            # Short enough for one line at 80 columns: the coder must read all of it.
            self.query_one(StatusLine).say("NOT SAVED: the disk is full. Saved codes are safe; free space, retry.",
                                           error=True)
            self.post_message(SaveFailed(str(error)))
            return False, None
        except UserError as error:
            message = str(error).replace(f"{self.store.path}: ", "").replace(f"{self.store.path} ", "the session ")
            self.query_one(StatusLine).say(f"NOT SAVED: {message}", error=True)
            self.post_message(SaveFailed(str(error)))
            return False, None

    # --- coding keys ----------------------------------------------------------------------

    def top_level_codes(self) -> list[tuple[str, Code]]:
        """Where a chord starts: the top-level codes of every dimension (one screen)."""
        return [(dimension.id, code) for dimension in self.store.asked_codebook.dimensions for code in dimension.codes]

    def on_key(self, event) -> None:
        if self.item_id is None:
            return
        if self.chord and event.key == "enter":
            event.stop()
            self.apply_code(*self.chord.finish())
            return
        character = event.character or ""
        if not character.isalnum():
            return  # the screen's own keys (F-keys, arrows, punctuation) go to the bindings
        event.stop()
        starting = not self.chord
        under = self.chord.path[-1].name if self.chord else None
        pressed = self.chord.press(character, self.top_level_codes())
        if pressed.kind == "unknown":
            self.query_one(StatusLine).say(f"'{character}' is not a code under {under}; Esc cancels." if under
                                           else f"No code has the key '{character}'. F1 lists them.")
            return
        if starting and not self._asked(self.store.asked_codebook.dimension(pressed.dimension)):
            self.chord.clear()
            return
        if pressed.kind == "chord":
            self.refresh_item()
            if starting:
                self.query_one(StatusLine).say("Press a sub-code's key; Enter codes the theme itself; Esc cancels.")
        else:
            self.apply_code(pressed.dimension, pressed.code)

    def _asked(self, dimension: Dimension) -> bool:
        """Whether the item asks for this dimension (its `requires` are met); say why not."""
        labels = self.store.labels_for(self.item_id)
        if dimension.applies(labels) or labels.get(dimension.id):  # codes already there can come off
            return True
        needed = [self.store.asked_codebook.dimension(other).by_id[c].name
                  for other, codes in dimension.requires.items() for c in codes]
        self.query_one(StatusLine).say(f"{dimension.name} is asked only for items coded {' or '.join(needed)}.")
        return False

    def apply_code(self, dimension_id: str, code: Code) -> None:
        item_id = self.item_id
        self.chord.clear()
        quoted = self._quotes_shown  # a code taken off takes its quotes
        ok, result = self._save(lambda: self.store.record_label_in_context(item_id, dimension_id, code.id))
        if ok:
            present, dropped = result
            self.active_code = code.id
            # Shown as saved only now: the store returned after the commit.
            said = f"saved: {'+' if present else '−'} {code.name}"
            if dropped:
                codebook = self.store.codebook
                names = ", ".join(codebook.dimension(d).by_id[c].name for d, c in dropped)
                said += f"; removed (no longer asked): {names}"
            gone = quoted - len(self.store.quotes_for(item_id)) if quoted else 0
            if gone:
                said += f"; {gone} quote{'' if gone == 1 else 's'} removed with {'them' if dropped else 'it'}"
                self._show_memo(item_id)
            if dropped or gone:
                said += ". ⌫ undoes both"
            self.query_one(StatusLine).say(said)
            self.post_message(LabelRecorded(item_id, dimension_id, code.id, present))
        self.refresh_item()

    # --- actions ---------------------------------------------------------------------------

    def action_cancel_chord(self) -> None:
        if self.chord:
            self.chord.clear()
            self.refresh_item()
            self.query_one(StatusLine).say("cancelled")

    def _move(self, step: int) -> None:
        if self.item_id is None:
            return
        index = self._index[self.item_id] + step
        if 0 <= index < len(self._ids):
            self.show_item(self._ids[index])
        else:
            self.query_one(StatusLine).say("That is the last item." if step > 0 else "That is the first item.")

    def action_next_item(self) -> None:
        self._move(+1)

    def action_previous_item(self) -> None:
        self._move(-1)

    def action_next_uncoded(self, backwards: bool = False) -> None:
        if self.item_id is None:
            return
        target = self.store.next_uncoded(after=self.item_id, backwards=backwards)
        if target is None:
            self.query_one(StatusLine).say("Every item is coded. F10 quits; arrows review.")
        elif target == self.item_id:
            self.query_one(StatusLine).say("This is the only uncoded item.")
        else:
            self.show_item(target)

    def action_previous_uncoded(self) -> None:
        self.action_next_uncoded(backwards=True)

    def action_undo(self) -> None:
        events = self.store.undoable_events()
        if not events:
            self.query_one(StatusLine).say("Nothing to undo.")
            return
        if events[0]["id"] <= self.sitting_start:
            from annotator.tui.screens.prompts import ConfirmScreen  # the dialogs load when first used

            def answer(yes: bool | None) -> None:
                if yes:
                    self._undo(events)
                else:
                    self.query_one(StatusLine).say("Not undone: that change is from an earlier sitting.")

            what = describe_undo(events, self.store.codebook)
            self.app.push_screen(ConfirmScreen(Text("Undo a change from an earlier sitting?", style="bold"),
                                               f"{what} (saved {events[0]['at'][:16].replace('T', ' ')})"), answer)
            return
        self._undo(events)

    def _undo(self, events: list[dict]) -> None:
        here = self.item_id
        ok, event = self._save(self.store.undo)
        if not ok or event is None:
            return
        if event["item_id"] != self.item_id:
            self.show_item(event["item_id"])
        else:
            self._show_memo(self.item_id)
            self.refresh_item()
        self.query_one(StatusLine).say(describe_undo(events, self.store.codebook, here=here))
        self.post_message(ChangeUndone(event["item_id"], event["kind"]))

    def action_flag(self, flag: str) -> None:
        if self.item_id is None:
            return
        item_id = self.item_id
        ok, on = self._save(lambda: self.store.toggle_flag(item_id, flag))
        if ok:
            self.query_one(StatusLine).say(f"saved: {'flagged' if on else 'unflagged'} {flag}")
            self.post_message(FlagToggled(item_id, flag, on))
            self.refresh_item()

    def action_memo(self) -> None:
        if self.item_id is None:
            return
        from annotator.tui.screens.prompts import TextPrompt

        item_id = self.item_id

        def save(text: str | None) -> None:
            if text is None:
                return
            ok, _ = self._save(lambda: self.store.set_memo(item_id, text.strip()))
            if ok:
                self._show_memo(item_id)
                self.query_one(StatusLine).say("saved: memo")
                self.post_message(MemoSaved(item_id, text.strip()))

        self.app.push_screen(TextPrompt("Memo for this item", self.store.memo(item_id)), save)

    def action_go_to(self) -> None:
        from annotator.tui.screens.prompts import TextPrompt

        def go(query: str | None) -> None:
            if not query or not query.strip():
                return
            matches, meaning = find(self.store, query)
            self.matches = matches
            if not matches:
                self.query_one(StatusLine).say(f"No item matches {meaning}.")
                return
            self._show_match(0, meaning)

        self.app.push_screen(TextPrompt("Go to an item", placeholder="#123 or 12 or words",
                                        hint=go_to_hint(self.store)), go)

    def _show_match(self, index: int, meaning: str = "a match") -> None:
        self.show_item(self.matches[index])
        if len(self.matches) > 1:
            self.query_one(StatusLine).say(f"{meaning}: match {index + 1} of {len(self.matches)}; "
                                           "Ctrl+n / > next, Ctrl+p / < previous")

    def action_next_match(self, step: int = 1) -> None:
        if not self.matches:
            self.query_one(StatusLine).say("No search yet: F5 or / searches.")
            return
        here = self.matches.index(self.item_id) if self.item_id in self.matches else -step
        self._show_match((here + step) % len(self.matches))

    def action_previous_match(self) -> None:
        self.action_next_match(-1)

    def action_item_list(self) -> None:
        from annotator.tui.screens.item_list import ItemListScreen, item_rows

        def go(item_id: str | None) -> None:
            if item_id is not None and item_id != self.item_id:
                self.show_item(item_id)

        self.app.push_screen(ItemListScreen(item_rows(self.store), self.item_id), go)

    def action_quote(self) -> None:
        """Mark lines as a quote, then pick the code it is evidence for (one of the item's)."""
        if self.item_id is None:
            return
        from annotator.tui.screens.quote import CodePicker, QuoteScreen

        item_id = self.item_id
        codebook = self.store.codebook
        codes = [(d.id, c, d.by_id[c].name if c in d.by_id else c)
                 for d in codebook.dimensions for c in sorted(self.store.labels_for(item_id).get(d.id, ()))]
        if not codes:
            self.query_one(StatusLine).say("Code the item first: a quote is evidence for one of its codes.")
            return

        def save(passage, code) -> None:
            if code is None:
                self.query_one(StatusLine).say("no quote saved")
                return
            ok, _ = self._save(lambda: self.store.add_quote(item_id, code[0], code[1], *passage))
            if ok:
                name = next(name for d, c, name in codes if (d, c) == code)
                self.query_one(StatusLine).say(f"saved: quote ({passage[2] - passage[1]} characters) for {name}")
                self._show_memo(item_id)

        def marked(passage) -> None:
            if passage is None:
                return
            if len(codes) == 1:
                save(passage, codes[0][:2])
            else:
                self.app.push_screen(CodePicker(codes), lambda code: save(passage, code))

        self.app.push_screen(QuoteScreen(self.item), marked)

    def action_help(self) -> None:
        from annotator.tui.screens.prompts import HelpScreen

        self.app.push_screen(HelpScreen(self.key_help(), self.codebook_help()))

    def key_help(self) -> list[tuple[str, str]]:
        """Every key of this screen (from the key map it is built from, so no dead key is listed)."""
        keys = [("code key", "code it (again: take it off, multi-label)"),
                ("theme key, sub-key", "code a sub-theme (a chord of two keys)"),
                ("Enter", "in a chord: code the theme itself"),
                ("Esc", "in a chord: cancel it")]
        return keys + key_help() + [("Ctrl+q", "quit")]

    def action_whole_text(self) -> None:
        if self.item_id is not None:
            self.query_one(ItemBody).show_item(self.item, whole=True)

    def action_new_code(self) -> None:
        """Add a code to the session's codebook (proposed to the team) and apply it to this item."""
        if self.item_id is None:
            return
        from annotator.revision.proposals import propose_code
        from annotator.tui.new_code import NewCodeScreen

        item_id = self.item_id
        dimension_id, theme_id = (self.chord.dimension, self.chord.path[0].id) if self.chord else (None, None)
        self.chord.clear()
        self.refresh_item()
        self.query_one(StatusLine).say("")

        def save(new) -> None:
            if new is None:
                self.query_one(StatusLine).say("no code added")
                return
            ok, code = self._save(lambda: propose_code(self.store, new))
            if not ok:
                return
            dimension = self.store.asked_codebook.dimension(new.dimension)
            self.refresh_item()
            if item_id == self.item_id and self._asked(dimension):
                self.apply_code(dimension.id, code)  # says "saved" once committed
            else:
                self.query_one(StatusLine).say(f"added code {code.name}; not applied: {dimension.name} "
                                               "is not asked for this item")

        self.app.push_screen(NewCodeScreen(self.store.codebook, dimension_id, theme_id), save)

    def action_markdown(self) -> None:
        if self.item_id is not None:
            from annotator.tui.screens.reading import MarkdownScreen

            self.app.push_screen(MarkdownScreen(self.item))

    def action_scroll(self, where: str) -> None:
        body = self.query_one(ItemBody)
        if where in ("left", "right"):
            body.scroll_to(x=max(body.scroll_x + (8 if where == "right" else -8), 0), animate=False)
            return
        {"up": body.scroll_up, "down": body.scroll_down, "pageup": body.scroll_page_up,
         "pagedown": body.scroll_page_down, "home": body.scroll_home, "end": body.scroll_end}[where](animate=False)

    def codebook_help(self) -> Text:
        text = Text("Codes\n", style="bold underline")
        for dimension in self.store.asked_codebook.dimensions:
            text.append(f"{dimension.name} ({'several' if dimension.multi else 'one'} per item)\n", style="bold")

            def add(codes, prefix, depth):
                for code in codes:
                    if code.retired:
                        continue
                    text.append(f"  {'  ' * depth}{prefix + code.key:<4}", style="bold cyan")
                    text.append(code.name)
                    if code.definition:
                        text.append(f" - {code.definition}", style="dim")
                    text.append("\n")
                    add(code.children, prefix + code.key, depth + 1)

            add(dimension.codes, "", 0)
        return text

    def on_unmount(self) -> None:
        self._leave_item()
