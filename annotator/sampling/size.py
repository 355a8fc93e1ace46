"""How many items to draw: Cochran's sample size with the finite population correction."""

from __future__ import annotations

import math

from annotator.errors import UserError

# Two-sided critical values of the standard normal for the usual confidence levels, as printed
# in the sampling tables researchers cite (Cochran 1977): 0.95 -> 1.96, not 1.959964. The five
# published oracles (N = 11,175 / 8,373 / 840 / 1,000 / 100,000) hold with either value; the table
# keeps n0 = 384.16 exactly as in the papers. Other levels use scipy's norm.ppf.
_Z_TABLE = {0.80: 1.282, 0.85: 1.440, 0.90: 1.645, 0.95: 1.96, 0.98: 2.326, 0.99: 2.576}


def z_value(confidence: float) -> float:
    """The two-sided critical z for ``confidence`` (1.96 for 0.95; see _Z_TABLE)."""
    if not 0 < confidence < 1:
        raise UserError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence!r}")
    for level, z in _Z_TABLE.items():
        if math.isclose(confidence, level, abs_tol=1e-9):
            return z
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def cochran_sample_size(population: int, confidence: float = 0.95, margin: float = 0.05,
                        p: float = 0.5) -> int:
    """Cochran's sample size with the finite population correction.

    n0 = z^2 p (1 - p) / e^2 and n = ceil(n0 / (1 + (n0 - 1) / N)); for 95% confidence, a 5%
    margin and p = 0.5, n0 = 384.16 and N = 8,373 gives 368. Never more than the population.
    """
    if isinstance(population, bool) or int(population) != population or population < 0:
        raise UserError(f"population must be a whole number >= 0, not {population!r}")
    if not 0 < margin < 1:
        raise UserError(f"margin of error must be between 0 and 1 (e.g. 0.05), not {margin!r}")
    if not 0 < p < 1:
        raise UserError(f"expected proportion p must be between 0 and 1 (e.g. 0.5), not {p!r}")
    population = int(population)
    if population == 0:
        return 0
    z = z_value(confidence)
    n0 = z * z * p * (1 - p) / (margin * margin)
    n = n0 / (1 + (n0 - 1) / population)
    # round() guards against 372.0000000001 becoming 373 through float noise
    n = math.ceil(round(n, 9))
    return min(n, population)


def as_percent(fraction: float) -> str:
    """A confidence or margin as the researcher gave it: 0.025 -> '2.5%', 0.95 -> '95%' (never
    rounded to a whole percent: a 2.5% margin printed as 2% names another sample size)."""
    return f"{round(fraction * 100, 6):g}%"
