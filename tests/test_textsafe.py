"""clean_map (annotator/textsafe.py) says where each character clean() keeps comes from: the
quotes' offsets are mapped with it both ways, so it must drop exactly what clean drops."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from annotator.textsafe import clean, clean_map

# Text rich in what clean removes: escape sequences (whole and cut short), C0/C1 controls, CR LF,
# bidi overrides, next to ordinary letters.
PIECES = st.sampled_from(["a", "é", " ", "\n", "\r", "\r\n", "\t", "\x1b", "[", "31m", "\x1b[1;31m",
                          "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\", "\x9b2J", "\x9d0;t\x9c", "\x1bPq",
                          "\x00", "\x07", "\x7f", "\x85", "\u202e", "\u2066", "]", "\\"])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_clean_map_keeps_what_clean_keeps(text):
    mapped = clean_map(text)
    assert "".join("\n" if text[i] == "\r" else text[i] for i, _ in mapped) == clean(text)
    assert all(width == (2 if text.startswith("\r\n", i) else 1) for i, width in mapped)
    assert [i for i, _ in mapped] == sorted({i for i, _ in mapped})


def test_clean_map_of_plain_text_is_every_character():
    assert clean_map("plain\ttext") == [(i, 1) for i in range(10)]
