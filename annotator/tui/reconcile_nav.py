"""The reconcile screen's way around the queue: go to an item (g) and filter what is in view (f):
undecided, stale (the coders changed their codes, or a codebook change could not carry the
decision over), one dimension, or one code. A mixin of ReconcileScreen (annotator/tui/reconcile.py),
which holds the queue, the decisions and the unit on screen."""

from __future__ import annotations

from annotator.agreement.merge import Unit
from annotator.tui.screens import TextPrompt

FILTERS = ("undecided", "stale", "dimension", "code")


class QueueNavigation:
    filter: str = ""  # "", "undecided", "stale", "dimension=ID", "code=ID"

    def passes(self, unit: Unit) -> bool:
        """Whether the filter (`f`) keeps a unit in view."""
        kind, _, value = self.filter.partition("=")
        if not kind:
            return True
        if kind == "undecided":
            return not self.is_decided(unit)
        if kind == "stale":
            return self.key_of(unit) in self.stale or self.merged.is_stale(unit, self.decisions.get(self.key_of(unit)))
        if kind == "dimension":
            return unit.dimension == value
        if kind == "code":
            return any(value in (codes or ()) for codes in unit.codes.values())
        return True

    def action_goto(self) -> None:
        if self.editing is not None:
            return

        def go(text: str | None) -> None:
            text = (text or "").strip()
            if not text:
                return
            if text.isdigit() and 1 <= int(text) <= len(self.queue):
                self.show_unit(self.queue[int(text) - 1])
                self.say("")
                return
            found = next((u for u in self.queue if u.item_id == text), None)
            if found is None:
                self.say(f"{text} is not in the queue{' (filter: ' + self.filter + ')' if self.filter else ''}.",
                         error=True)
                return
            self.show_unit(found)
            self.say("")

        self.app.push_screen(TextPrompt("Go to which item? (owner/repo#N, or its number in the queue)", ""), go)

    def action_filter(self) -> None:
        if self.editing is not None:
            return

        def apply(text: str | None) -> None:
            if text is None:
                return
            text = text.strip()
            kind, _, value = text.partition("=")
            if text and kind not in FILTERS:
                self.say(f"unknown filter '{text}': undecided, stale, dimension=ID or code=ID.", error=True)
                return
            if kind in ("dimension", "code") and not value:
                self.say(f"say which {kind}: {kind}=ID.", error=True)
                return
            self.filter = text
            self.refresh_queue()
            if not self.queue:
                self.say(f"nothing matches '{text}'; f with an empty filter shows everything.", error=True)
                self.unit = None
                self.paint_progress()
                return
            self.show_unit(self.next_undecided(None) or self.queue[0])
            self.say(f"filter: {text or 'none'} ({len(self.queue)} in view)")

        self.app.push_screen(TextPrompt("Filter: undecided, stale, dimension=ID, code=ID (empty: everything)",
                                        self.filter), apply)

