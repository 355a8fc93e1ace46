"""Screens of the coding TUI: the coding screen and its modal dialogs (typed by their result)."""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from annotator.errors import UserError
from annotator.coding.session import SessionStore, StoreFull
from annotator.codebook.model import Code, Dimension
from annotator.textsafe import clean
from annotator.tui.chord import Chord
from annotator.tui.messages import (ChangeUndone, FlagToggled, ItemShown, LabelRecorded, MemoSaved,
                                    SaveFailed)
from annotator.tui.widgets import (CodebookPanel, ItemBody, ItemHeader, MemoLine, ProgressLine,
                                   StatusLine)

MARKDOWN_LIMIT = 30_000  # rendered Markdown is slow on large text (see field notes)
WIDE_COLUMNS = 110  # from this width on, the codebook panel gets wider
IDLE_CAP_SECONDS = 600  # time on one item beyond this is counted as a break, not coding


_KEY_NAMES = {
    "right": "→", "left": "←", "up": "↑", "down": "↓", "backspace": "Backspace", "escape": "Esc",
    "enter": "Enter", "tab": "Tab", "shift+tab": "Shift+Tab", "pageup": "PgUp", "pagedown": "PgDn",
    "home": "Home", "end": "End", "space": "Space", "slash": "/", "plus": "+",
}


def key_name(key: str) -> str:
    """A Textual key name as the coder types it: 'question_mark' -> '?', 'f1' -> 'F1'."""
    from textual.keys import key_to_character

    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    if key.startswith("f") and key[1:].isdigit():
        return key.upper()
    if key.startswith("ctrl+"):
        return "Ctrl+" + key[5:]
    return key_to_character(key) or key


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]], codebook_help: Text) -> None:
        super().__init__()
        self.keys = keys
        self.codebook_help = codebook_help

    def compose(self) -> ComposeResult:
        text = Text("Keys\n", style="bold underline")
        width = 20
        for keys, what in self.keys:
            text.append(f"  {keys:<{width}}", style="bold cyan")
            if len(keys) > width:  # a long key list gets its own line
                text.append("\n" + " " * (width + 2))
            text.append(f" {what}\n")
        with VerticalScroll(id="help-box"):
            yield Static(text)
            yield Static(self.codebook_help)
            yield Static(Text("Esc closes this help.", style="dim"))


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text (a memo, an item to go to). Enter saves, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(Text(self.title_text, style="bold"))
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(Text("Enter saves · Esc cancels", style="dim"))

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MarkdownScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f7,q", "dismiss", "Close")]

    def __init__(self, body: str) -> None:
        super().__init__()
        body = clean(body)
        if len(body) > MARKDOWN_LIMIT:
            body = body[:MARKDOWN_LIMIT] + f"\n\n*(cut at {MARKDOWN_LIMIT:,} characters; the text view shows all)*"
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="markdown-box"):
            # Imported here: markdown-it costs ~40 ms at every start, and few items need it.
            from textual.widgets import Markdown

            yield Markdown(self.body)


_HELP = {
    "help": "this help", "next_item": "next item", "previous_item": "previous item",
    "next_uncoded": "next uncoded item", "previous_uncoded": "previous uncoded item",
    "undo": "undo the last change", "memo": "write a memo on the item",
    "flag('unsure')": "flag unsure (toggle)", "flag('skip')": "flag skip (toggle; counts as done)",
    "go_to": "go to an item by number or title words", "markdown": "show the body as Markdown",
    "whole_text": "show the whole text of a long item (the view cuts at 100,000 characters)",
    "app.quit": "quit (everything is already saved)", "scroll": "scroll the body",
}


class CodingScreen(Screen):
    """One item at a time: header, body and comments, codebook, memo, progress."""

    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", key_display="F1"),
        Binding("right,right_square_bracket", "next_item", "Next", key_display="→"),
        Binding("left,left_square_bracket", "previous_item", "Prev", key_display="←"),
        Binding("tab", "next_uncoded", "Uncoded", key_display="Tab", priority=True),
        Binding("shift+tab", "previous_uncoded", "Prev uncoded", show=False, priority=True),
        Binding("backspace,f9", "undo", "Undo", key_display="⌫"),
        Binding("f2,apostrophe", "memo", "Memo", key_display="F2"),
        Binding("f3,exclamation_mark", "flag('unsure')", "Unsure", key_display="F3"),
        Binding("f4,tilde", "flag('skip')", "Skip", show=False),
        Binding("f5,slash", "go_to", "Go to", show=False),
        Binding("f7", "markdown", "Markdown", show=False),
        Binding("f6,plus", "new_code", "add a new code and apply it to this item", show=False),
        Binding("f8", "whole_text", "Whole text", show=False),
        Binding("f10", "app.quit", "Quit", key_display="F10"),
        Binding("escape", "cancel_chord", "Cancel", show=False),
        Binding("up", "scroll('up')", show=False),
        Binding("down", "scroll('down')", show=False),
        Binding("pageup", "scroll('pageup')", show=False),
        Binding("pagedown", "scroll('pagedown')", show=False),
        Binding("home", "scroll('home')", show=False),
        Binding("end", "scroll('end')", show=False),
    ]

    def __init__(self, store: SessionStore) -> None:
        super().__init__()
        self.store = store
        self.item_id: str | None = None
        self.item: dict = {}
        self.chord = Chord()
        self._shown_at = time.monotonic()
        self._ids = store.item_ids()

    def compose(self) -> ComposeResult:
        yield ProgressLine(id="progress")
        yield ItemHeader(id="item-header")
        with Horizontal(id="main"):
            yield ItemBody(id="body")
            yield CodebookPanel(id="codebook")
        yield MemoLine(id="memo")
        yield StatusLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self, event) -> None:
        # A wide terminal gives the codebook room for whole code names (see app.tcss).
        self.set_class(event.size.width >= WIDE_COLUMNS, "-wide")

    def on_mount(self) -> None:
        start = self.store.resume_item()
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
        self.query_one(ItemBody).show_item(self.item)
        self.refresh_item()
        self.query_one(MemoLine).show_memo(self.store.memo(item_id))
        self._save(lambda: self.store.record_view(item_id, 0.0))
        self._shown_at = time.monotonic()
        self.post_message(ItemShown(item_id))

    def refresh_item(self) -> None:
        """Repaint what depends on the item's labels and flags (after every committed change)."""
        if self.item_id is None:
            return
        position = self._ids.index(self.item_id) + 1
        self.query_one(ItemHeader).show_item(self.item, position, len(self._ids),
                                             self.store.flags_for(self.item_id))
        self.query_one(CodebookPanel).show_codes(self.store.codebook, self.store.labels_for(self.item_id),
                                                 self.chord.path or None, self.chord.dimension)
        progress = self.store.progress()
        self.query_one(ProgressLine).show_progress(self.store.coder, progress.coded, progress.total,
                                                   progress.pace, progress.seconds_left)

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
        return [(dimension.id, code) for dimension in self.store.codebook.dimensions for code in dimension.codes]

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
        if starting and not self._asked(self.store.codebook.dimension(pressed.dimension)):
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
        needed = [self.store.codebook.dimension(other).by_id[c].name
                  for other, codes in dimension.requires.items() for c in codes]
        self.query_one(StatusLine).say(f"{dimension.name} is asked only for items coded {' or '.join(needed)}.")
        return False

    def apply_code(self, dimension_id: str, code: Code) -> None:
        item_id = self.item_id
        self.chord.clear()
        ok, present = self._save(lambda: self.store.record_label(item_id, dimension_id, code.id))
        if ok:
            # Shown as saved only now: record_label returned after the commit.
            self.query_one(StatusLine).say(f"saved: {'+' if present else '−'} {code.name}")
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
        index = self._ids.index(self.item_id) + step
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
        ok, event = self._save(self.store.undo)
        if not ok:
            return
        if event is None:
            self.query_one(StatusLine).say("Nothing to undo.")
            return
        if event["item_id"] != self.item_id:
            self.show_item(event["item_id"])
        else:
            self.query_one(MemoLine).show_memo(self.store.memo(self.item_id))
            self.refresh_item()
        what = event["kind"].replace("code.", "code ").replace("flag.", "flag ")
        self.query_one(StatusLine).say(f"undone: {what} {event['code'] or ''}".rstrip())
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
        item_id = self.item_id

        def save(text: str | None) -> None:
            if text is None:
                return
            ok, _ = self._save(lambda: self.store.set_memo(item_id, text.strip()))
            if ok:
                self.query_one(MemoLine).show_memo(self.store.memo(item_id))
                self.query_one(StatusLine).say("saved: memo")
                self.post_message(MemoSaved(item_id, text.strip()))

        self.app.push_screen(TextPrompt("Memo for this item", self.store.memo(item_id)), save)

    def action_go_to(self) -> None:
        def go(query: str | None) -> None:
            if not query:
                return
            matches = self.store.find_items(query)
            if not matches:
                self.query_one(StatusLine).say(f"No item matches {query!r}.")
                return
            self.show_item(matches[0])
            if len(matches) > 1:
                self.query_one(StatusLine).say(f"{len(matches)} items match; showing the first.")

        self.app.push_screen(TextPrompt("Go to item: its number, owner/repo#N, or words of the title",
                                        placeholder="#12"), go)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_help(), self.codebook_help()))

    def key_help(self) -> list[tuple[str, str]]:
        """Every key of this screen (from its bindings, so the help never lists a dead key)."""
        keys = [("code key", "code it (again: take it off, multi-label)"),
                ("theme key, sub-key", "code a sub-theme (a chord of two keys)"),
                ("Enter", "in a chord: code the theme itself"),
                ("Esc", "in a chord: cancel it")]
        by_action: dict[str, list[str]] = {}
        descriptions: dict[str, str] = {}
        for binding in self.BINDINGS:
            if binding.action == "cancel_chord":
                continue
            action = binding.action if not binding.action.startswith("scroll") else "scroll"
            by_action.setdefault(action, []).extend(key_name(k.strip()) for k in binding.key.split(","))
            descriptions.setdefault(action, _HELP.get(action, binding.description))
        keys += [(" / ".join(names), descriptions[action]) for action, names in by_action.items()]
        keys.append(("Ctrl+q", "quit"))
        return keys

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
            dimension = self.store.codebook.dimension(new.dimension)
            self.refresh_item()
            if item_id == self.item_id and self._asked(dimension):
                self.apply_code(dimension.id, code)  # says "saved" once committed
            else:
                self.query_one(StatusLine).say(f"added code {code.name}; not applied: {dimension.name} "
                                               "is not asked for this item")

        self.app.push_screen(NewCodeScreen(self.store.codebook, dimension_id, theme_id), save)

    def action_markdown(self) -> None:
        if self.item_id is not None:
            self.app.push_screen(MarkdownScreen(self.item.get("body") or ""))

    def action_scroll(self, where: str) -> None:
        body = self.query_one(ItemBody)
        {"up": body.scroll_up, "down": body.scroll_down, "pageup": body.scroll_page_up,
         "pagedown": body.scroll_page_down, "home": body.scroll_home, "end": body.scroll_end}[where](animate=False)

    def codebook_help(self) -> Text:
        text = Text("Codes\n", style="bold underline")
        for dimension in self.store.codebook.dimensions:
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
