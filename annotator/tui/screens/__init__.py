"""Screens of the coding TUI, one per module: the coding screen and its dialogs."""

from annotator.tui.keys import key_name
from annotator.tui.screens.coding import CodingScreen
from annotator.tui.screens.item_list import ItemListScreen
from annotator.tui.screens.prompts import ConfirmScreen, HelpScreen, TextPrompt
from annotator.tui.screens.reading import MarkdownScreen

__all__ = ["CodingScreen", "ConfirmScreen", "HelpScreen", "ItemListScreen", "MarkdownScreen", "TextPrompt",
           "key_name"]
