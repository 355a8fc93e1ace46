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


DEMO_SEED = 2025


def prepare_demo_study(directory=None, reset: bool = False, *, stages: bool = True):
    """Copy the demo study into a scratch folder (kept between runs, so coding resumes).

    The demo runs in the two stages of study.yaml, as the model study did: *screening* asks
    every issue whether it is PTM-related; *thematic* codes the challenges of the ones whose
    final relevance is PTM-related. In each stage three simulated coders (ana, ben, chen) have
    finished sessions (calibration rounds coded by all, the main round partly double coded, with
    realistic disagreements), merged into merged/<stage>.db, and 'lead' has reconciled every
    disagreement (towards the intended codes), so merge, reconcile, report, methods and export
    show both stages at once. Your own session (`--coder`, default 'you') codes a stage's items.
    ``stages=False``: the demo as one stage asking both dimensions (sessions/<coder>.db,
    merged.db), the layout of a study without study.yaml.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from annotator.study import Study

    root = Path(directory) if directory else Path(tempfile.gettempdir()) / "annotator-demo"
    if reset and root.exists():
        shutil.rmtree(root)
    from annotator.coding.stages import load_stages, write_default_study

    study = Study.init(root)
    if stages:
        write_default_study(study)
    if not study.corpus_path.exists():
        from annotator.collect.corpus import CorpusStore

        with CorpusStore(study.corpus_path) as corpus:
            corpus.upsert_items(demo_items(), source="demo")
    stages = load_stages(study)
    if stages.declared:
        for stage in stages:
            if not stage.merged_path(study).exists():
                _simulate_stage(study, stage)
    elif not study.merged_path.exists():  # a demo folder from before stages: kept as it was
        _simulate_and_reconcile(study)
    return study


def _simulate_stage(study, stage) -> None:
    """Draw the stage's sample (every issue it asks of), simulate its coders, merge, reconcile."""
    from annotator.agreement.merge import merge_sessions
    from annotator.collect.corpus import CorpusStore
    from annotator.coding.simulate import simulate_coder_sessions
    from annotator.sampling.draw import SizeRule, draw_sample

    name = f"demo-{stage.id}"
    with CorpusStore(study.corpus_path) as corpus:
        if corpus.sample(name) is None:
            draw_sample(corpus, study, name=name, rule=SizeRule("all"), seed=DEMO_SEED, stage=stage)
        members = [m["item_id"] for m in corpus.sample_members(name)]
    truth = demo_truth()
    items = demo_items()
    truth = {item_id: truth[item_id] for item_id in members if item_id in truth}
    paths = simulate_coder_sessions(study, truth, DEMO_CODERS, seed=DEMO_SEED, items=items, overwrite=True,
                                    stage=stage)
    _record_assignments(study, name, paths)
    merge_sessions(paths, stage.merged_path(study)).close()
    _reconcile(stage.merged_path(study), truth)


def _record_assignments(study, sample: str, paths) -> None:
    """Who the simulated coders coded, in which round, recorded as `annotator assign` would."""
    from annotator.collect.corpus import CorpusStore
    from annotator.coding.session import SessionStore

    rows = []
    for path in paths:
        with SessionStore(path, readonly=True) as session:
            rows += [{"item_id": item_id, "coder": session.coder, "round": round_name}
                     for item_id, round_name in session.db.execute("select id, round from items order by position")]
    with CorpusStore(study.corpus_path) as corpus:
        corpus.record_assignments(sample, rows, seed=DEMO_SEED)


def open_demo_session(study, coder: str, stage_id: str | None = None):
    """Your own session in the demo: every item of the stage's sample (made on first use)."""
    from annotator.coding.open import open_coder_session
    from annotator.coding.session import SessionStore
    from annotator.collect.corpus import CorpusStore

    from annotator.coding.stages import load_stages

    stages = load_stages(study)
    if not stages.declared:
        return open_coder_session(study.root, coder, None)
    stage = stages.get(stage_id or stages.ids[0])
    path = stage.session_path(study, coder)
    if path.exists():
        return SessionStore(path)
    from annotator.codebook.model import load_codebook

    with CorpusStore(study.corpus_path) as corpus:
        items = [corpus.get_item(m["item_id"]) for m in corpus.sample_members(f"demo-{stage.id}")]
    return SessionStore.create(path, coder=coder, codebook=load_codebook(study.taxonomy_path), items=items,
                               study=str(study.root), stage=stage)


def _simulate_and_reconcile(study) -> None:
    from annotator.agreement.merge import merge_sessions
    from annotator.coding.simulate import simulate_coder_sessions

    truth = demo_truth()
    items = demo_items()
    order = [item["id"] for item in items if item["id"] in truth]
    truth = {item_id: truth[item_id] for item_id in order}
    paths = simulate_coder_sessions(study, truth, DEMO_CODERS, seed=DEMO_SEED, items=items, overwrite=True)
    merge_sessions(paths, study.merged_path).close()
    _reconcile(study.merged_path, truth)


def _reconcile(path, truth: dict) -> None:
    from annotator.agreement.merge import MergedStore

    with MergedStore(path) as merged:
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
