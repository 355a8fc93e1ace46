"""The one Markdown escaper: text from the data reads in rendered Markdown exactly as typed.

Checked against a real CommonMark parser (markdown-it-py, with GitHub's tables): the escaped text,
as a paragraph, a list item and a table cell, renders to the original text and to nothing else
(no emphasis, link, HTML, code, heading, list or extra cell).
"""

import pytest
from markdown_it import MarkdownIt

from annotator.render.markdown import md_table
from annotator.textsafe import md_escape

MD = MarkdownIt("commonmark").enable("table")
MARKUP = {"em_open", "strong_open", "link_open", "image", "html_inline", "html_block", "code_inline",
          "heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "hr", "code_block",
          "fence", "s_open"}

CASES = [
    "[link](http://x)", "a ] b [", "x|y", "*stars* and **bold**", "`code`", "<b>html</b>", "a > b",
    "$x^2$ costs $5", "back\\slash \\*", "_under_ and snake_case", "__init__", "# not a heading",
    "- not a list", "+ not a list", "1. not a list", "3) not a list", "> not a quote", "--- not a rule",
    "=== no", "&amp; stays", "~~not struck~~", "{.class}", "![img](x.png)", "<http://autolink>",
    "[/]Relevant [bold]x[i]", "-0.12", "0.40 fair (70%)", "owner/repo#12", "trailing \\",
]


def _inline_text(tokens) -> tuple[str, set[str]]:
    kinds = {t.type for t in tokens}
    inline = [c for t in tokens if t.children for c in t.children]
    kinds |= {c.type for c in inline}
    return "".join(c.content for c in inline if c.type in ("text", "softbreak")), kinds


@pytest.mark.parametrize("text", CASES)
def test_escaped_text_renders_as_typed(text):
    escaped = md_escape(text)
    for document in (escaped, f"- {escaped}", f"Some words {escaped}"):
        shown, kinds = _inline_text(MD.parse(document))
        assert not kinds & MARKUP - ({"bullet_list_open"} if document.startswith("- ") else set()), (text, kinds)
        assert shown.endswith(text), (text, escaped, shown)


@pytest.mark.parametrize("text", CASES)
def test_escaped_cell_stays_one_cell(text):
    tokens = MD.parse(md_table(["name", "n"], [[text, 1]]))
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 2
    shown = [t for t in tokens if t.type == "inline"][2]  # header: 2 inlines, then the first cell
    assert "".join(c.content for c in shown.children if c.type == "text") == text
    assert not {c.type for c in shown.children} & MARKUP


def test_newlines_controls_and_spaces_become_one_line():
    assert md_escape("first line\nsecond\r\nthird\tend") == "first line second third end"
    assert md_escape("a\x1b[31mred\x07") == "ared"
    assert md_escape("  many   spaces  ") == "many spaces"
    assert md_escape(None) == ""


def test_plain_words_and_numbers_are_left_alone():
    for text in ("closed_at", "Model Usage", "3.5 days", "-0.12", "+0.640 (large)", "50%", "a-b", "o/r#1"):
        assert md_escape(text) == text
