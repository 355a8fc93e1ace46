"""Benchmark of screening with a model (issue 15): retraining on 8,000 items stays well under a second.

Run: python benchmarks/bench_screening.py (or, once wired, python benchmarks/run.py screening).

A generated pile of 8,000 issues (titles and bodies of ~120 words drawn from a Zipf-shaped
vocabulary of 5,000 words, 10 % about a model) is turned into TF-IDF once, as the coding
screen's worker does when it starts; then each row times one retraining + ranking of every
undecided item (what the worker does after a decision), median and spread over the runs.
These are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_ITEMS = 8_000
TARGET_SECONDS = 1.0
RUNS = 7


def pile(n: int = N_ITEMS, seed: int = 1) -> tuple[list[str], list[str], dict[str, bool]]:
    rng = random.Random(seed)
    vocabulary = [f"w{k}" for k in range(5000)]
    weights = [1 / (k + 1) for k in range(5000)]
    topical = "checkpoint tokenizer weights pretrained huggingface finetune inference embedding".split()
    ids, texts, truth = [], [], {}
    for number in range(n):
        relevant = rng.random() < 0.1
        words = rng.choices(vocabulary, weights, k=120)
        if relevant:
            words += rng.choices(topical, k=4)
        item_id = f"bench/pile#{number}"
        ids.append(item_id)
        texts.append(" ".join(words))
        truth[item_id] = relevant
    return ids, texts, truth


def _times(function, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        out.append(time.perf_counter() - start)
    return out


def _row(name: str, times: list[float], target: str = "", ok=None) -> dict:
    return {"name": name, "value": statistics.median(times), "unit": "s",
            "spread": f"{min(times):.3f}-{max(times):.3f} ({len(times)} runs)", "target": target, "ok": ok}


def run(runs: int = RUNS, n_items: int = N_ITEMS) -> list[dict]:
    from annotator.screening.ranking import Ranker

    ids, texts, truth = pile(n_items)
    rows = []
    fitted = {}

    def fit() -> None:
        fitted["ranker"] = Ranker.from_texts(ids, texts)

    rows.append(_row(f"TF-IDF of {n_items:,} items (once per session)", _times(fit, max(3, runs // 2))))
    ranker = fitted["ranker"]
    rng = random.Random(2)
    order = list(ids)
    rng.shuffle(order)
    for model, decided in (("logistic", 1_000), ("logistic", 4_000), ("logistic", 7_000),
                           ("naive-bayes", 4_000), ("svm", 4_000)):
        ranker.model = model
        decisions = {i: truth[i] for i in order[:decided]}
        ranker.rank(decisions)  # warm: imports
        times = _times(lambda: ranker.rank(decisions), runs)
        median = statistics.median(times)
        rows.append(_row(f"retrain + rank, {model}, {decided:,} decisions of {n_items:,}", times,
                         f"<= {TARGET_SECONDS}", median <= TARGET_SECONDS))
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<55} median {row['value']:.3f} s  spread {row['spread']}  "
              f"target {row['target'] or '-'}  {'' if row['ok'] is None else ('met' if row['ok'] else 'NOT MET')}")
