"""The coding screen's Bindings, made from the headless key map (annotator/keymap.py)."""

from __future__ import annotations

from textual.binding import Binding

from annotator.keymap import CODING_KEYS, Key

_KEY_NAMES = {
    "right": "→", "left": "←", "up": "↑", "down": "↓", "backspace": "Backspace", "escape": "Esc",
    "enter": "Enter", "tab": "Tab", "shift+tab": "Shift+Tab", "pageup": "PgUp", "pagedown": "PgDn",
    "home": "Home", "end": "End", "space": "Space", "slash": "/", "plus": "+",
    "shift+right": "Shift+→", "shift+left": "Shift+←",
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


def bindings(keys: tuple[Key, ...] = CODING_KEYS) -> list[Binding]:
    return [Binding(",".join(key.keys), key.action, key.label, show=key.footer is not None,
                    key_display=key.display, priority=key.priority) for key in keys]


def key_help(keys: tuple[Key, ...] = CODING_KEYS) -> list[tuple[str, str]]:
    """(keys as typed, what they do) for the help screen, one line per action."""
    lines: dict[str, tuple[list[str], str]] = {}
    for key in keys:
        if key.action == "cancel_chord":
            continue  # listed with the chord keys
        names, what = lines.setdefault(key.help, ([], key.help))
        names.extend(key_name(name) for name in key.keys)
    return [(" / ".join(names), what) for names, what in lines.values()]
