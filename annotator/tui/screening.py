"""The coding screen in model order: the next item is the one the model ranks highest, and a
line says how many relevant items were found, how many probably remain, and what the stopping
rule says. The model trains in a worker thread (annotator.screening.order); this screen only
notifies it after each saved decision and reads the newest published state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from annotator.screening.order import ModelOrder, ScreeningState
from annotator.tui.screens import CodingScreen
from annotator.tui.widgets import ProgressLine, StatusLine

REFRESH_SECONDS = 0.5  # how often the line looks for a newer ranking


def screening_text(state: ScreeningState | None, error: str | None = None) -> Text:
    """One line, at most ~78 columns: found, estimate left (95 % interval), stopping verdict."""
    if error:
        return Text(f" model stopped: {error}"[:78], style="bold red")
    if state is None:
        return Text(" model order: training on your first decisions…", style="dim")
    ranking = state.ranking
    text = Text.assemble((" ", ""), (f"{state.relevant_found} relevant found", "bold"))
    interval = ranking.remaining_interval()
    if not ranking.trained:
        text.append(" · ranks once one relevant and one irrelevant are coded", style="dim")
        return text
    if interval is not None:
        text.append(f" · ~{ranking.remaining_estimate:.0f} left ({interval[0]}–{interval[1]})")
    if state.stop:
        text.append(f" · stop: rule met (recall ≥ {state.recall_bound:.0%})", style="bold green")
    else:
        text.append(f" · recall ≥ {state.recall_bound:.0%} proven", style="dim")
    return text


class ScreeningLine(Static):
    DEFAULT_CSS = """
    ScreeningLine {
        height: 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show_state(self, state: ScreeningState | None, error: str | None = None) -> None:
        self.update(screening_text(state, error))


class ScreeningScreen(CodingScreen):
    """CodingScreen whose 'next uncoded' (Tab, and where it opens) follows the model."""

    def __init__(self, store, ordering: ModelOrder) -> None:
        super().__init__(store)
        self.ordering = ordering
        self._rounds = {item_id: None for item_id in self._ids}
        self._shown_trainings = -1
        self._told_stop = False

    def compose(self):
        for widget in super().compose():
            yield widget
            if isinstance(widget, ProgressLine):
                yield ScreeningLine(id="screening")

    def on_mount(self) -> None:
        self._rounds = dict(self.store.db.execute("select id, round from items").fetchall())
        super().on_mount()
        # After the first paint: the worker's first job (TF-IDF of every item) shares the GIL.
        self.call_after_refresh(self.ordering.start)
        self.set_interval(REFRESH_SECONDS, self.refresh_screening)
        self.refresh_screening()

    def refresh_screening(self) -> None:
        if self.ordering.trainings != self._shown_trainings or self.ordering.error:
            self._shown_trainings = self.ordering.trainings
            state = self.ordering.state
            self.query_one(ScreeningLine).show_state(state, self.ordering.error)
            if state is not None and state.stop and not self._told_stop:
                self._told_stop = True  # once per sitting: the line keeps saying it
                self.notify(f"The stopping rule is met after {state.read} items: {self.ordering.rule.describe()}. "
                            "You may stop screening (F10), or read on.", title="Screening", markup=False,
                            timeout=10)

    # After every change of a decision, the worker retrains when it can (notify never waits).
    def apply_code(self, dimension_id, code) -> None:
        super().apply_code(dimension_id, code)
        self.ordering.notify()

    def _undo(self, events: list[dict]) -> None:  # after the confirmation, when one is asked
        super()._undo(events)
        self.ordering.notify()

    def action_flag(self, flag: str) -> None:
        super().action_flag(flag)
        self.ordering.notify()

    def action_next_uncoded(self, backwards: bool = False) -> None:
        if self.item_id is None or backwards:
            return super().action_next_uncoded(backwards)
        target = self.ordering.next_item(self._ids, self._rounds, self.store.coded_ids(), self.item_id)
        if target is None:
            self.query_one(StatusLine).say("Every item is coded. F10 quits; arrows review.")
        else:
            self.show_item(target)

    def first_item(self) -> str | None:
        last = self.store.meta("last_item")
        if last in self._rounds and not self.store.is_coded(last):
            return last
        return self.ordering.next_item(self._ids, self._rounds, self.store.coded_ids())

    def on_unmount(self) -> None:
        self.ordering.stop()
        super().on_unmount()
