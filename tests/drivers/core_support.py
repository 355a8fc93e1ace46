"""Paths and item builders shared by the core tests (imported as drivers.core_support).

Kept out of conftest.py: tests/e2e has a conftest.py of its own, and two modules named
`conftest` on sys.path shadow each other.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures"
PACKAGE = TESTS.parent / "annotator"
DEFAULT_TAXONOMY = PACKAGE / "data" / "taxonomy.yaml"
SMALL_TAXONOMY = FIXTURES / "small_taxonomy.yaml"



def build_items(n: int, repo: str = "octo/models", start: int = 1) -> list[dict]:
    """``n`` items shaped like annotator.collect.items.item_from_rest's output, numbered from ``start``."""
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
