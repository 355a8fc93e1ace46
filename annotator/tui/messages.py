"""Events the coding screen posts after the store has committed a change."""

from __future__ import annotations

from textual.message import Message


class LabelRecorded(Message):
    """A code was added to or removed from an item, and committed."""

    def __init__(self, item_id: str, dimension: str, code: str, present: bool) -> None:
        super().__init__()
        self.item_id = item_id
        self.dimension = dimension
        self.code = code
        self.present = present


class FlagToggled(Message):
    def __init__(self, item_id: str, flag: str, on: bool) -> None:
        super().__init__()
        self.item_id = item_id
        self.flag = flag
        self.on = on


class MemoSaved(Message):
    def __init__(self, item_id: str, text: str) -> None:
        super().__init__()
        self.item_id = item_id
        self.text = text


class ChangeUndone(Message):
    def __init__(self, item_id: str, kind: str) -> None:
        super().__init__()
        self.item_id = item_id
        self.kind = kind


class ItemShown(Message):
    """A new item is on screen (posted after it is painted into the widgets)."""

    def __init__(self, item_id: str) -> None:
        super().__init__()
        self.item_id = item_id


class SaveFailed(Message):
    """The store refused a change (disk full...): nothing was shown as saved."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class DecisionSaved(Message):
    """A unit's final codes were committed (or withdrawn: codes None)."""

    def __init__(self, item_id: str, dimension: str, codes: list[str] | None, method: str | None) -> None:
        super().__init__()
        self.item_id = item_id
        self.dimension = dimension
        self.codes = codes
        self.method = method


class UnitShown(Message):
    """The reconcile screen shows a new item and dimension."""

    def __init__(self, item_id: str, dimension: str) -> None:
        super().__init__()
        self.item_id = item_id
        self.dimension = dimension
