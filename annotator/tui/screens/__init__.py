"""Screens of the coding TUI, one per module: the coding screen and its dialogs.

The dialogs load when first named (``from annotator.tui.screens import HelpScreen`` works as
ever): the start of the coding screen does not wait for the item list's table and the rest.
"""

from annotator.tui.keys import key_name
from annotator.tui.screens.coding import CodingScreen

_DIALOGS = {"ConfirmScreen": "prompts", "HelpScreen": "prompts", "TextPrompt": "prompts",
            "ItemListScreen": "item_list", "MarkdownScreen": "reading"}

__all__ = ["CodingScreen", "ConfirmScreen", "HelpScreen", "ItemListScreen", "MarkdownScreen", "TextPrompt",
           "key_name"]


def __getattr__(name: str):
    if name in _DIALOGS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_DIALOGS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
