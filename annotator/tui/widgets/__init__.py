"""Widgets of the coding screen, one role per module. Issue text always goes in as rich Text."""

from annotator.tui.widgets.codebook_panel import CodebookPanel, DefinitionPane
from annotator.tui.widgets.item_view import ItemBody, ItemHeader, break_long_lines, item_text, wrap_prose
from annotator.tui.widgets.lines import KeyFooter, MemoLine, ProgressLine, StatusLine, TooSmall

__all__ = ["CodebookPanel", "DefinitionPane", "ItemBody", "ItemHeader", "KeyFooter", "MemoLine", "ProgressLine",
           "StatusLine", "TooSmall", "break_long_lines", "item_text", "wrap_prose"]
