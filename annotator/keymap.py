"""The coding screen's own keys, in one place and without Textual.

annotator/tui/keys.py turns these into Textual Bindings; the codebook's check (a code's key may
never be one of these, see annotator/codebook/model.py) reads RESERVED_KEYS and
RESERVED_CHARACTERS from here. So the screen and the check cannot drift apart.

Every letter and digit belongs to the codebook: the screen's keys are function keys, arrows,
punctuation and a few Ctrl keys that arrive over SSH and tmux (see the field notes).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    keys: tuple[str, ...]  # Textual key names; the first is the main one
    action: str
    label: str  # the footer's word for it
    help: str  # the help screen's line (and the codebook check's "is the screen's own key (...)")
    footer: int | None = None  # footer rank: a narrow footer shows the lowest ranks; None: never
    display: str | None = None  # how the footer shows the key
    priority: bool = False  # before any focused widget (Tab would move the focus otherwise)


CODING_KEYS: tuple[Key, ...] = (
    Key(("f1", "question_mark"), "help", "Help", "this help", footer=1, display="F1"),
    Key(("right", "right_square_bracket"), "next_item", "Next", "next item", footer=2, display="→"),
    Key(("left", "left_square_bracket"), "previous_item", "Prev", "previous item", footer=3, display="←"),
    Key(("tab",), "next_uncoded", "Uncoded", "next uncoded item", footer=4, display="Tab", priority=True),
    Key(("shift+tab",), "previous_uncoded", "Prev uncoded", "previous uncoded item", priority=True),
    Key(("backspace", "f9"), "undo", "Undo", "undo the last change of this sitting", footer=5, display="⌫"),
    Key(("f2", "apostrophe"), "memo", "Memo", "write a memo on the item", footer=7, display="F2"),
    Key(("f3", "exclamation_mark"), "flag('unsure')", "Unsure", "flag unsure (toggle)", footer=8, display="F3"),
    Key(("f4", "tilde"), "flag('skip')", "Skip", "flag skip (toggle; counts as done)", footer=9, display="F4"),
    Key(("f5", "slash"), "go_to", "Go to", "go to item: #N issue, N position, or words",
        footer=10, display="F5"),
    Key(("ctrl+n", "greater_than_sign"), "next_match", "Next match", "next match of the last search"),
    Key(("ctrl+p", "less_than_sign"), "previous_match", "Prev match", "previous match of the last search"),
    Key(("f6", "plus"), "new_code", "New code", "add a new code and apply it to this item", footer=12,
        display="F6"),
    Key(("f7",), "markdown", "Markdown", "show the body and comments as Markdown", footer=13, display="F7"),
    Key(("f8",), "whole_text", "Whole", "show the whole text of a long item (cut at 100,000 characters)",
        footer=14, display="F8"),
    Key(("f12", "ctrl+l"), "item_list", "Items", "list of items with their status; filter and jump",
        footer=15, display="F12"),
    Key(("quotation_mark", "ctrl+o"), "quote", "Quote", "quote lines of the body or a comment as evidence for a code",
        footer=16, display='"'),
    Key(("f10",), "app.quit", "Quit", "quit (everything is already saved)", footer=6, display="F10"),
    Key(("escape",), "cancel_chord", "Cancel", "in a chord: cancel it"),
    Key(("up",), "scroll('up')", "", "scroll the body"),
    Key(("down",), "scroll('down')", "", "scroll the body"),
    Key(("pageup",), "scroll('pageup')", "", "scroll the body"),
    Key(("pagedown",), "scroll('pagedown')", "", "scroll the body"),
    Key(("home",), "scroll('home')", "", "scroll the body"),
    Key(("end",), "scroll('end')", "", "scroll the body"),
    Key(("shift+right",), "scroll('right')", "", "scroll the body sideways (long code lines)"),
    Key(("shift+left",), "scroll('left')", "", "scroll the body sideways (long code lines)"),
)

# Enter is read by the screen itself (in a chord: code the theme itself), not by a binding.
_UNBOUND = {"enter": "code the theme itself (in a chord)"}

# Textual key name -> what the key does on the coding screen; no codebook key may take one.
RESERVED_KEYS: dict[str, str] = {**{name: key.help for key in CODING_KEYS for name in key.keys}, **_UNBOUND}

# The characters the punctuation keys type (a codebook gives its keys as characters).
_CHARACTERS = {
    "question_mark": "?", "right_square_bracket": "]", "left_square_bracket": "[", "apostrophe": "'",
    "exclamation_mark": "!", "tilde": "~", "slash": "/", "plus": "+", "greater_than_sign": ">",
    "less_than_sign": "<", "quotation_mark": '"',
}
RESERVED_CHARACTERS: dict[str, str] = {char: RESERVED_KEYS[name] for name, char in _CHARACTERS.items()
                                       if name in RESERVED_KEYS}


def footer_keys(width: int, keys: tuple[Key, ...] = CODING_KEYS) -> list[Key]:
    """The keys a footer of ``width`` columns shows, in the screen's order: the lowest ranks that
    fit (each takes its key, a space, its label and a gap, as the compact footer draws it)."""
    ranked = sorted((key for key in keys if key.footer is not None), key=lambda key: key.footer)
    chosen, used = [], 0
    for key in ranked:
        cost = len(key.display or key.keys[0]) + 1 + len(key.label) + 1
        if used + cost > width:
            break
        chosen.append(key)
        used += cost
    return [key for key in keys if key in chosen]
