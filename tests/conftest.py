"""Shared fixtures: codebooks, items (as annotator/items.py defines them) and a session store."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.taxonomy import load_codebook

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
PACKAGE = TESTS.parent / "annotator"
DEFAULT_TAXONOMY = PACKAGE / "data" / "taxonomy.yaml"
SMALL_TAXONOMY = FIXTURES / "small_taxonomy.yaml"


@pytest.fixture
def small_codebook():
    """tests/fixtures/small_taxonomy.yaml: relevance (yes/no, single) and challenge (multi,
    two themes with sub-themes, asked only when relevance is yes)."""
    return load_codebook(SMALL_TAXONOMY)


@pytest.fixture
def default_codebook():
    """The bundled default codebook (annotator/data/taxonomy.yaml)."""
    return load_codebook(DEFAULT_TAXONOMY)


def build_items(n: int, repo: str = "octo/models", start: int = 1) -> list[dict]:
    """``n`` items shaped like annotator.items.item_from_rest's output, numbered from ``start``."""
    items = []
    for number in range(start, start + n):
        day = 1 + number % 28
        closed = number % 3 == 0
        items.append({
            "id": f"{repo}#{number}",
            "repo": repo,
            "number": number,
            "title": f"Issue {number}: tokenizer fails to load",
            "body": f"Loading the checkpoint fails on item {number}.\n\n```\nOSError: ...\n```",
            "state": "closed" if closed else "open",
            "state_reason": "completed" if closed else None,
            "author": f"user{number}",
            "labels": ["bug"] if number % 2 else [],
            "created_at": f"2024-01-{day:02d}T10:00:00Z",
            "updated_at": f"2024-02-{day:02d}T10:00:00Z",
            "closed_at": f"2024-03-{day:02d}T10:00:00Z" if closed else None,
            "url": f"https://github.com/{repo}/issues/{number}",
            "comments": [{"author": "maintainer", "created_at": f"2024-01-{day:02d}T12:00:00Z",
                          "body": "Which version of transformers?"}],
            "comment_count": 1,
        })
    return items


@pytest.fixture
def make_items():
    """``make_items(n, repo=..., start=...)`` -> list of item dicts."""
    return build_items


@pytest.fixture
def session(tmp_path, small_codebook):
    """A writable SessionStore for coder 'ada' at tmp_path/sessions/ada.db with 10 items coded
    against the small codebook; closed after the test."""
    from annotator.store import SessionStore

    store = SessionStore.create(tmp_path / "sessions" / "ada.db", coder="ada",
                                codebook=small_codebook, items=build_items(10))
    yield store
    store.close()
