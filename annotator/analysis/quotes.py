"""Example quotes per theme and sub-theme for the study report.

A quote is a passage a coder attached to a code as evidence (kept in the session, carried
into merged.db by the merge). The report shows, for every code of the thematic dimension in
codebook order, up to ``limit`` quotes from items whose final codes include that code: a quote
for a code the reconciliation dropped is no evidence for the study's result.
"""

from __future__ import annotations

from typing import Mapping

from annotator.textsafe import clean, clean_line

EXAMPLE_QUOTES = 3  # per code


def example_quotes(quotes: list[dict], dimension, finals: Mapping[str, set[str]], *,
                   limit: int = EXAMPLE_QUOTES) -> list[dict]:
    """[{code, name, theme, depth, quotes: [{item, coder, text}], more}] for each code with quotes.

    ``quotes``: merged quote rows in item order; ``finals``: item -> final codes of ``dimension``."""
    by_code: dict[str, list[dict]] = {}
    seen = set()
    for quote in quotes:
        code = quote["code"]
        if quote["dimension"] != dimension.id or code not in finals.get(quote["item_id"], ()):
            continue
        key = (quote["item_id"], code, clean(quote["text"]).strip())
        if key in seen:  # two coders quoting the same passage: once is enough
            continue
        seen.add(key)
        by_code.setdefault(code, []).append(
            {"item": quote["item_id"], "coder": clean_line(quote["coder"]), "text": clean(quote["text"]).strip()})
    out = []
    for code in dimension.walk():
        found = by_code.get(code.id)
        if not found:
            continue
        path = dimension.path_of(code.id)
        out.append({"code": code.id, "name": " / ".join(clean_line(c.name) for c in path),
                    "theme": clean_line(path[0].name), "depth": code.depth,
                    "quotes": found[:limit], "more": max(0, len(found) - limit)})
    return out


def read_example_quotes(merged_paths, dimension, finals: Mapping[str, set[str]], *,
                        limit: int = EXAMPLE_QUOTES) -> list[dict]:
    """``example_quotes`` of the study's merged files (merged.db, or one per stage: a stage's
    quotes are on the codes it asks, so reading them all finds the dimension's)."""
    from annotator.agreement.merge import MergedStore

    quotes = []
    for path in merged_paths:
        with MergedStore(path, readonly=True) as merged:
            quotes.extend(merged.quotes())
    return example_quotes(quotes, dimension, finals, limit=limit)
