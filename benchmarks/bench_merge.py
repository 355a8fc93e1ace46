"""Benchmark of merge (issue 4's target): 3 coders x 10,000 items x 40 codes, from session files.

Run: python benchmarks/run.py --only merge

Setup makes three real session files through SessionStore (the items through create/add_items);
only the coders' labels are bulk-inserted into the labels and events tables, because recording
120,000 labels one committed keypress at a time would take minutes and measures nothing about
the merge. Then it measures:

- end to end, the figure the target is about: `annotator merge --format json` as a user runs
  it (a fresh process: imports, merge, report, printing), spawn to exit, and its peak RSS;
- where that time goes, in-process: merge_sessions (sessions -> merged.db: checks, every
  coder's codes and memos, automatic decisions) and the agreement report on the merged file
  (every coefficient, per code, per round, at code and theme level).

These are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Config, bin_path, median, row, timed_command

N_ITEMS = 10_000
CODERS = ("ana", "ben", "chen")
THEMES = 8
SUBTHEMES = 4  # 8 themes + 32 sub-themes = 40 codes in the multi-label dimension
TARGET_SECONDS = 3.0


def codebook_yaml() -> str:
    keys = "abcdefghij"
    lines = ["name: Benchmark codebook", "dimensions:",
             "  - id: relevance", "    name: PTM-related?", "    kind: single", "    codes:",
             "      - {id: ptm, name: PTM-related, key: y}", "      - {id: not-ptm, name: Not PTM-related, key: n}",
             "  - id: challenge", "    name: Challenge", "    kind: multi", "    requires: {relevance: [ptm]}",
             "    codes:"]
    for t in range(1, THEMES + 1):
        lines += [f"      - id: theme{t}", f"        name: Theme {t}", f"        key: \"{t}\"", "        codes:"]
        for s in range(SUBTHEMES):
            lines.append(f"          - {{id: theme{t}.sub{s + 1}, name: Sub-theme {t}.{s + 1}, key: {keys[s]}}}")
    return "\n".join(lines) + "\n"


def make_items(n: int) -> list[dict]:
    body = ("Loading the checkpoint with from_pretrained fails after upgrading transformers; "
            "the tokenizer warns about a vocabulary mismatch. ") * 8
    return [{"id": f"bench/repo{i % 31}#{i}", "repo": f"bench/repo{i % 31}", "number": i,
             "title": f"Issue {i}: the model fails to load", "body": body, "state": "closed",
             "state_reason": "completed", "author": f"user{i % 97}", "labels": ["bug"],
             "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-02-01T00:00:00Z",
             "closed_at": "2024-02-01T00:00:00Z", "url": f"https://github.com/bench/repo/issues/{i}",
             "comments": [{"author": "maintainer", "created_at": "2024-01-02T00:00:00Z", "body": "Which version?"}],
             "comment_count": 1} for i in range(1, n + 1)]


def coder_labels(items: list[dict], coder: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """(item, dimension, code) with realistic disagreement: the same intended codes per item,
    each coder erring on about 15% of the items."""
    truth_rng = random.Random(seed)
    rng = random.Random(seed * 100 + coder)
    leaves = [f"theme{t}.sub{s}" for t in range(1, THEMES + 1) for s in range(1, SUBTHEMES + 1)]
    out = []
    for item in items:
        relevant = truth_rng.random() < 0.7
        intended = set(truth_rng.sample(leaves, truth_rng.choice((1, 1, 1, 2, 2, 3))))
        if rng.random() < 0.08:
            relevant = not relevant
        out.append((item["id"], "relevance", "ptm" if relevant else "not-ptm"))
        if not relevant:
            continue
        codes = set(intended)
        if rng.random() < 0.15:
            codes.add(rng.choice(leaves))
        if rng.random() < 0.05 and len(codes) > 1:
            codes.discard(min(codes))
        out += [(item["id"], "challenge", code) for code in sorted(codes)]
    return out


def make_study(folder: Path, n_items: int = N_ITEMS) -> Path:
    from annotator.coding.session import SessionStore, now
    from annotator.study import Study
    from annotator.codebook.model import parse_codebook

    study = Study.init(folder)
    study.taxonomy_path.write_text(codebook_yaml(), encoding="utf-8")
    codebook = parse_codebook(codebook_yaml())
    items = make_items(n_items)
    rounds = {item["id"]: ("calibration-1" if i < 100 else "calibration-2" if i < 200 else "main")
              for i, item in enumerate(items)}
    for index, coder in enumerate(CODERS):
        store = SessionStore.create(study.session_path(coder), coder=coder, codebook=codebook, items=items,
                                    rounds=rounds)
        try:
            at = now()
            labels = coder_labels(items, index)
            with store.db.atomic():  # setup only: what 120,000 keypresses would have written
                store.db.conn.executemany(
                    "insert into labels (item_id, dimension, code, coder, at, codebook_version)"
                    " values (?, ?, ?, ?, ?, 1)",
                    [(i, d, c, coder, at) for i, d, c in labels])
                store.db.conn.executemany(
                    "insert into events (action, at, coder, item_id, kind, dimension, code, value, previous)"
                    " values (null, ?, ?, ?, 'code.add', ?, ?, '1', '0')",
                    [(at, coder, i, d, c) for i, d, c in labels])
                store.db.execute("update events set action = id where action is null")
        finally:
            store.close()
    return study.root


def agreement_report_warm(study) -> None:
    """One report, unmeasured: the in-process figures then leave out numpy's and scikit-learn's imports."""
    from annotator.agreement.merge import MergedStore
    from annotator.agreement.report import agreement_report

    merged = MergedStore(study.merged_path, readonly=True)
    try:
        agreement_report(merged)
    finally:
        merged.close()


def run(config: Config | None = None, only: list[str] | None = None) -> list[dict]:
    from annotator.agreement.merge import MergedStore, merge_sessions
    from annotator.agreement.report import agreement_report
    from annotator.study import Study

    config = config or Config()
    if only and "merge" not in only:
        return []
    n_items = config.size(N_ITEMS, 500)
    folder = Path(tempfile.mkdtemp(prefix="annotator-bench-merge-"))
    try:
        root = make_study(folder / "study", n_items)
        study = Study(root)
        sessions = study.session_paths()
        label = f"{len(CODERS)} coders x {n_items:,} items x {THEMES * (SUBTHEMES + 1)} codes"
        command = [bin_path("annotator"), "merge", "--study", str(root), "--format", "json"]
        end_to_end, cpu, peaks, merges, reports = [], [], [], [], []
        for run_number in range(config.runs):
            # What a user runs (the first run makes merged.db; later ones refresh it, keeping decisions).
            out = folder / f"report-{run_number}.json"
            with open(out, "wb") as handle:
                seconds, usage = timed_command(command, stdout=handle, stderr=subprocess.DEVNULL)
            assert json.loads(out.read_text()), "the merge printed no report"
            end_to_end.append(seconds)
            cpu.append(usage.ru_utime + usage.ru_stime)
            peaks.append(usage.ru_maxrss / 1024)
        # What the command imports: its modules and numpy, then scikit-learn for Cohen's kappa
        # (issue 10 keeps it; it brings scipy): two rows, so the cost of each shows.
        modules = "import annotator.cli, annotator.agreement.merge, annotator.agreement.report, annotator.render.agreement, numpy"
        import_times = [timed_command([sys.executable, "-c", modules])[0] for _ in range(config.runs)]
        sklearn_times = [timed_command([sys.executable, "-c", modules + "; from sklearn.metrics import cohen_kappa_score"])[0]
                         for _ in range(config.runs)]
        agreement_report_warm(study)
        for run_number in range(config.runs):
            # Its two halves in-process (imports already paid), to say where the time goes.
            started = time.perf_counter()
            merge_sessions(sessions, study.merged_path).close()
            merges.append(time.perf_counter() - started)
            merged = MergedStore(study.merged_path, readonly=True)
            try:
                started = time.perf_counter()
                agreement_report(merged)
                reports.append(time.perf_counter() - started)
            finally:
                merged.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    target = f"<= {TARGET_SECONDS:g} s"
    return [
        row("merge", f"`annotator merge --format json`, spawn to exit, session files to JSON ({label})", "s",
            end_to_end, target, TARGET_SECONDS, note=f"its CPU time: median {median(cpu):.2f} s"),
        row("merge", f"  its peak RSS ({label})", "MB", peaks),
        row("merge", f"  of which merge_sessions -> merged.db, in-process ({label})", "s", merges),
        row("merge", f"  of which the agreement report, in-process ({label})", "s", reports),
        row("merge", "  of which imports: the command's modules and numpy (python -c, spawn to exit)", "s",
            import_times),
        row("merge", "  imports with scikit-learn too (Cohen's kappa; python -c, spawn to exit)", "s",
            sklearn_times),
    ]


if __name__ == "__main__":
    import run as runner

    runner.main(["--only", "merge"] + sys.argv[1:])
