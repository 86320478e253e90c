"""Private interval helpers for proportions and means (used by ``sales`` and ``kpis``).

All take a two-sided ``confidence`` level and return ``(low, high)``; undefined
intervals (no observations) are ``(nan, nan)``.

>>> lo, hi = wilson(45, 100)
>>> round(lo, 3), round(hi, 3)
(0.356, 0.548)
"""

from __future__ import annotations

import numpy as np

from crmkit.errors import ParameterError

__all__ = ["check_confidence", "z_value", "wilson", "newcombe_diff", "product_ci", "mean_ci", "welch_diff"]


def check_confidence(confidence) -> float:
    """``confidence`` as a float in (0, 1), or a :class:`ParameterError`."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        value = np.nan
    if not 0.0 < value < 1.0:
        raise ParameterError(f"confidence: expected a level between 0 and 1 such as 0.95, found {confidence!r}.")
    return value


def z_value(confidence: float) -> float:
    from scipy.special import ndtri  # imported on use: lighter than scipy.stats, and only when needed

    return float(ndtri(0.5 + check_confidence(confidence) / 2))


def wilson(successes, n, confidence: float = 0.95):
    """Wilson score interval of a proportion; vectorised over arrays."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def newcombe_diff(x1, n1, x2, n2, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of ``x1/n1 - x2/n2`` by Newcombe's hybrid score method (1998, method 10)."""
    if n1 <= 0 or n2 <= 0:
        return np.nan, np.nan
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, confidence)
    l2, u2 = wilson(x2, n2, confidence)
    d = p1 - p2
    return float(d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)), float(d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def product_ci(successes, trials, confidence: float = 0.95) -> tuple[float, float, float]:
    """A product of independent proportions with a delta-method interval on the log scale.

    Returns ``(estimate, low, high)``; ``nan`` bounds when a proportion is 0 or undefined.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if len(n) == 0 or (n <= 0).any():
        return np.nan, np.nan, np.nan
    p = x / n
    est = float(np.prod(p))
    if (p <= 0).any():
        return est, np.nan, np.nan
    se = float(np.sqrt(np.sum((1 - p) / (n * p))))
    z = z_value(confidence)
    return est, float(est * np.exp(-z * se)), float(min(1.0, est * np.exp(z * se)))


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with a t interval: ``(mean, low, high)``."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan
    m = float(v.mean())
    if len(v) < 2:
        return m, np.nan, np.nan
    se = v.std(ddof=1) / np.sqrt(len(v))
    from scipy.special import stdtrit

    t = stdtrit(len(v) - 1, 0.5 + check_confidence(confidence) / 2)
    return m, float(m - t * se), float(m + t * se)


def welch_diff(a, b, confidence: float = 0.95) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` with a Welch interval: ``(diff, low, high)``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return np.nan, np.nan, np.nan
    d = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return d, np.nan, np.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return d, d, d
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    from scipy.special import stdtrit

    t = stdtrit(dof, 0.5 + check_confidence(confidence) / 2)
    return d, float(d - t * se), float(d + t * se)
