"""Shared fixtures: codebooks, items (as annotator/collect/items.py defines them) and a session store."""

from __future__ import annotations


import pytest

from annotator.codebook.model import load_codebook
from drivers.core_support import DEFAULT_TAXONOMY, SMALL_TAXONOMY, build_items  # noqa: F401

@pytest.fixture
def small_codebook():
    """tests/fixtures/small_taxonomy.yaml: relevance (yes/no, single) and challenge (multi,
    two themes with sub-themes, asked only when relevance is yes)."""
    return load_codebook(SMALL_TAXONOMY)


@pytest.fixture
def default_codebook():
    """The bundled default codebook (annotator/data/taxonomy.yaml)."""
    return load_codebook(DEFAULT_TAXONOMY)


@pytest.fixture
def make_items():
    """``make_items(n, repo=..., start=...)`` -> list of item dicts."""
    return build_items


@pytest.fixture
def session(tmp_path, small_codebook):
    """A writable SessionStore for coder 'ada' at tmp_path/sessions/ada.db with 10 items coded
    against the small codebook; closed after the test."""
    from annotator.coding.session import SessionStore

    store = SessionStore.create(tmp_path / "sessions" / "ada.db", coder="ada",
                                codebook=small_codebook, items=build_items(10))
    yield store
    store.close()


@pytest.fixture(scope="session")
def staged_demo_template(tmp_path_factory):
    """The two-stage demo study, merged and reconciled, made once per test run."""
    from annotator.demo import prepare_demo_study

    return prepare_demo_study(tmp_path_factory.mktemp("staged-demo") / "demo").root


@pytest.fixture
def staged_demo(staged_demo_template, tmp_path):
    """A fresh copy of the two-stage demo study (a Study), the test's own to change."""
    import shutil

    from annotator.study import Study

    root = tmp_path / "demo"
    shutil.copytree(staged_demo_template, root)
    return Study(root)
