"""The bundled demo study: ~40 issues about reusing pre-trained models, the default codebook.

``annotator demo`` copies it into a scratch folder, so a new user can code at once; the
simulated coders' finished sessions (for merge, reconcile and report) are made from the
intended codes in data/demo/truth.json with seeded, realistic disagreements.
"""

from __future__ import annotations

import json
from importlib import resources

from annotator.items import is_pull_request, item_from_rest, repo_from_url


def _demo_json(name: str):
    return json.loads(resources.files("annotator").joinpath(f"data/demo/{name}").read_text(encoding="utf-8"))


def demo_items() -> list[dict]:
    """The demo issues as items (pull requests left out), comments attached, sorted by id."""
    comments: dict[str, list[dict]] = {}
    for comment in _demo_json("comments.json"):
        repo = repo_from_url(comment["issue_url"])
        number = int(comment["issue_url"].rstrip("/").rsplit("/", 1)[1])
        comments.setdefault(f"{repo}#{number}", []).append(comment)
    items = []
    for issue in _demo_json("issues.json"):
        if is_pull_request(issue):
            continue
        repo = repo_from_url(issue["repository_url"])
        key = f"{repo}#{issue['number']}"
        thread = sorted(comments.get(key, []), key=lambda c: c["created_at"])
        items.append(item_from_rest(issue, repo=repo, comments=thread))
    return sorted(items, key=lambda item: (item["repo"], item["number"]))


def demo_truth() -> dict[str, dict]:
    return _demo_json("truth.json")


def prepare_demo_study(directory=None, reset: bool = False):
    """Copy the demo study into a scratch folder (kept between runs, so coding resumes)."""
    import shutil
    import tempfile
    from pathlib import Path

    from annotator.study import Study

    root = Path(directory) if directory else Path(tempfile.gettempdir()) / "annotator-demo"
    if reset and root.exists():
        shutil.rmtree(root)
    study = Study.init(root)
    if not study.corpus_path.exists():
        from annotator.corpus import CorpusStore

        corpus = CorpusStore(study.corpus_path)
        try:
            corpus.upsert_items(demo_items(), source="demo")
        finally:
            corpus.close()
    return study
