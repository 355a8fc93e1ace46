"""The bundled demo study: ~40 issues about reusing pre-trained models, the default codebook.

``annotator demo`` copies it into a scratch folder, so a new user can code at once; the
simulated coders' finished sessions (for merge, reconcile and report) are made from the
intended codes in data/demo/truth.json with seeded, realistic disagreements.
"""

from __future__ import annotations

import json
from importlib import resources

from annotator.collect.items import is_pull_request, item_from_rest, repo_from_url


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


DEMO_CODERS = ("ana", "ben", "chen")
DEMO_RECONCILER = "lead"


def prepare_demo_study(directory=None, reset: bool = False):
    """Copy the demo study into a scratch folder (kept between runs, so coding resumes).

    Besides the issues and the default codebook, the demo holds three simulated coders'
    finished sessions (ana, ben, chen: calibration rounds coded by all, the main round partly
    double coded, with realistic disagreements), their merge, and a reconciliation of every
    disagreement by 'lead' (towards the intended codes), so merge, reconcile, report and export
    have something to show at once. Your own session (`--coder`, default 'you') codes every item.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from annotator.study import Study

    root = Path(directory) if directory else Path(tempfile.gettempdir()) / "annotator-demo"
    if reset and root.exists():
        shutil.rmtree(root)
    study = Study.init(root)
    if not study.corpus_path.exists():
        from annotator.collect.corpus import CorpusStore

        with CorpusStore(study.corpus_path) as corpus:
            corpus.upsert_items(demo_items(), source="demo")
    if not study.merged_path.exists():
        _simulate_and_reconcile(study)
    return study


def _simulate_and_reconcile(study) -> None:
    from annotator.agreement.merge import MergedStore, merge_sessions
    from annotator.coding.simulate import simulate_coder_sessions

    truth = demo_truth()
    items = demo_items()
    order = [item["id"] for item in items if item["id"] in truth]
    truth = {item_id: truth[item_id] for item_id in order}
    paths = simulate_coder_sessions(study, truth, DEMO_CODERS, seed=2025, items=items, overwrite=True)
    merged = merge_sessions(paths, study.merged_path)
    merged.close()
    with MergedStore(study.merged_path) as merged:
        merged.auto_agree()
        # Decide the disagreements as a reconciler would: take the coder who got it right, or
        # edit towards the intended codes. Deciding relevance can make challenge apply, so repeat.
        for _ in range(3):
            queue = [u for u in merged.queue() if merged.decision(u.item_id, u.dimension) is None]
            if not queue:
                break
            for unit in queue:
                wanted = truth[unit.item_id].get(unit.dimension)
                wanted = {wanted} if isinstance(wanted, str) else set(wanted or ())
                right = sorted(c for c, codes in unit.codes.items() if codes is not None and set(codes) == wanted)
                method = f"coder:{right[0]}" if right else "edited"
                merged.decide(unit.item_id, unit.dimension, sorted(wanted), decided_by=DEMO_RECONCILER,
                              method=method, rationale="demo: decided against the codebook's definitions")
