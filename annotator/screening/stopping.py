"""When to stop screening: the hypergeometric test of Callaghan & Müller-Hansen (2020), and the
heuristics researchers use (N irrelevant in a row; a fixed share of the pile read).

The test (Systematic Reviews 9:273). Take the last n items screened as a sample drawn from the
items that were unscreened when it began (the urn: N_urn = N - read + n items). Before it,
r_before relevant items had been found; the sample holds k more, so r_seen = r_before + k.
"Recall < target" means the pile holds more than r_seen / target relevant items, so the urn
held at least K_tar = floor(r_seen / target) + 1 - r_before of them. Under that (the least
extreme case of the hypothesis), the chance of seeing k or fewer relevant items in n draws is
the hypergeometric P(X <= k; N_urn, K_tar, n). If it is below 1 - confidence for some n, the
hypothesis is rejected: recall has reached the target at that confidence.

Items read in model order are more likely relevant than a random sample of the urn, so treating
them as random is conservative (it over-estimates what is left); the calibration rounds and a
final random check are random samples outright. The recall bound is the highest target the test
rejects at the confidence: "recall >= 93 % (95 % confidence)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from annotator.errors import UserError

DEFAULT_TARGET = 0.95
DEFAULT_CONFIDENCE = 0.95


def k_target(relevant_seen: int, relevant_before: int, target: float) -> int:
    """The fewest relevant items the urn must have held for recall to be below ``target``."""
    bound = Fraction(relevant_seen) / Fraction(str(target))  # exact: 19 / 0.95 is 20, not 20.000000004
    return math.floor(bound) + 1 - relevant_before


def p_value(urn: int, relevant_before: int, n: int, k: int, target: float = DEFAULT_TARGET) -> float:
    """P(X <= k) for X ~ Hypergeometric(urn, K_tar, n): the test for one sample."""
    from scipy.stats import hypergeom

    K = k_target(relevant_before + k, relevant_before, target)
    if K > urn - (n - k):  # the urn cannot hold K relevant items besides the n - k irrelevant ones seen
        return 0.0
    return float(hypergeom.cdf(k, urn, K, n))


def _p_values(read: list[bool], total: int, target: float):
    """p for every sample size n = 1..len(read) (the last n items read as the sample)."""
    import numpy as np
    from scipy.stats import hypergeom

    seq = np.asarray(read, dtype=np.int64)
    n = np.arange(1, len(seq) + 1)
    k = np.cumsum(seq[::-1])
    r_seen = int(seq.sum())
    r_before = r_seen - k
    bound = Fraction(r_seen) / Fraction(str(target))
    K = math.floor(bound) + 1 - r_before
    urn = total - len(seq) + n
    possible = K <= urn - (n - k)
    p = np.zeros(len(seq))
    if possible.any():
        p[possible] = hypergeom.cdf(k[possible], urn[possible], K[possible], n[possible])
    return p


def min_p_value(read: list[bool], total: int, target: float = DEFAULT_TARGET) -> float:
    """The smallest p over every sample size (buscar's rule); 1.0 before anything is read."""
    if not read:
        return 1.0
    return float(_p_values(read, total, target).min())


def recall_bound(read: list[bool], total: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The highest recall the test proves at ``confidence`` (0.0 when it proves nothing)."""
    alpha = 1.0 - confidence
    if not read or not any(read):
        return 0.0
    if len(read) >= total:
        return 1.0
    low, high = 0.0, 1.0
    if min_p_value(read, total, 0.999999) < alpha:
        return 1.0
    for _ in range(16):  # p falls as the target falls: bisection, to 1/65,536 (shown to 0.1 %)
        middle = (low + high) / 2
        if middle > 0 and min_p_value(read, total, middle) < alpha:
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class StoppingRule:
    kind: str  # 'hypergeometric', 'consecutive' or 'fraction'
    target: float = DEFAULT_TARGET
    confidence: float = DEFAULT_CONFIDENCE
    run: int = 0  # consecutive: irrelevant items in a row
    fraction: float = 0.0  # fraction: share of the pile read

    def describe(self) -> str:
        if self.kind == "hypergeometric":
            return (f"the hypergeometric stopping test of Callaghan and Müller-Hansen (2020) "
                    f"(target recall {self.target:.0%}, confidence {self.confidence:.0%})")
        if self.kind == "consecutive":
            return f"stopping after {self.run} irrelevant items in a row (a heuristic with no recall guarantee)"
        return f"stopping after {self.fraction:.0%} of the items were read (a heuristic with no recall guarantee)"

    def should_stop(self, read: list[bool], total: int) -> bool:
        if not read:
            return False
        if len(read) >= total:
            return True
        if self.kind == "hypergeometric":
            return any(read) and min_p_value(read, total, self.target) < 1.0 - self.confidence
        if self.kind == "consecutive":
            return len(read) >= self.run and not any(read[-self.run:])
        return len(read) >= self.fraction * total

    def first_stop(self, read: list[bool], total: int, every: int = 1) -> int | None:
        """Items read when the rule first fires when screening ``read`` in order (checked every
        ``every`` items for the test, at each item for the heuristics), or None."""
        if self.kind == "consecutive":
            streak = 0
            for index, relevant in enumerate(read, 1):
                streak = 0 if relevant else streak + 1
                if streak >= self.run:
                    return index
            return None
        if self.kind == "fraction":
            needed = math.ceil(self.fraction * total)
            return needed if needed <= len(read) else None
        for index in list(range(every, len(read) + 1, every)) + [len(read)]:
            if self.should_stop(read[:index], total):
                return index
        return None


def parse_rule(text: str, target: float = DEFAULT_TARGET, confidence: float = DEFAULT_CONFIDENCE) -> StoppingRule:
    """'hypergeometric', 'consecutive:200' or 'fraction:0.5' (from --stop)."""
    kind, _, value = (text or "hypergeometric").strip().partition(":")
    if not 0.0 < target < 1.0 or not 0.5 <= confidence < 1.0:
        raise UserError(f"--recall {target} / --confidence {confidence}: give a recall between 0 and 1 "
                        "(e.g. 0.95) and a confidence between 0.5 and 1 (e.g. 0.95).")
    if kind == "hypergeometric" and not value:
        return StoppingRule("hypergeometric", target=target, confidence=confidence)
    try:
        if kind == "consecutive" and int(value) >= 1:
            return StoppingRule("consecutive", target=target, confidence=confidence, run=int(value))
        if kind == "fraction" and 0.0 < float(value) <= 1.0:
            return StoppingRule("fraction", target=target, confidence=confidence, fraction=float(value))
    except ValueError:
        pass
    raise UserError(f"--stop {text}: not a stopping rule. Use 'hypergeometric', 'consecutive:N' "
                    "(N irrelevant items in a row, e.g. consecutive:200) or 'fraction:F' (e.g. fraction:0.5).")
