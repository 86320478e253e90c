"""Vectorised interval and test formulas the readout uses (checked against statsmodels in the tests).

- rates: Wilson score interval (:func:`crmkit._intervals.wilson`);
- difference of two rates: Newcombe's hybrid score interval (Newcombe 1998, method 10),
  the one statsmodels computes with ``confint_proportions_2indep(method="newcomb")``;
- p-value of a difference: the pooled two-proportion z-test (statsmodels'
  ``proportions_ztest``);
- several p-values: Holm's step-down adjustment (as statsmodels' ``multipletests(method="holm")``).

>>> import numpy as np
>>> lo, hi = newcombe_diff(np.array([3894]), np.array([21307]), np.array([2262]), np.array([21306]))
>>> round(float(lo[0]), 4), round(float(hi[0]), 4)
(0.07, 0.0832)
"""

from __future__ import annotations

import numpy as np

from crmkit._intervals import wilson

__all__ = ["wilson_ci", "newcombe_diff", "pooled_z_pvalue", "holm", "z_of"]


def z_of(alpha: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(1.0 - alpha / 2.0))


def wilson_ci(x, n, alpha: float = 0.05):
    """Wilson interval of ``x / n`` (arrays), level ``1 - alpha``."""
    low, high = wilson(np.asarray(x, dtype=float), np.asarray(n, dtype=float), 1.0 - alpha)
    return np.atleast_1d(low), np.atleast_1d(high)


def newcombe_diff(x1, n1, x2, n2, alpha: float = 0.05):
    """Newcombe's hybrid score interval of ``x1/n1 - x2/n2`` (arrays), level ``1 - alpha``."""
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_ci(x1, n1, alpha)
    l2, u2 = wilson_ci(x2, n2, alpha)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def pooled_z_pvalue(x1, n1, x2, n2):
    """Two-sided p-value of the pooled two-proportion z-test of ``p1 = p2`` (arrays).

    1.0 when both groups have the same rate of 0 or 1 (no evidence of a difference).
    """
    from scipy.special import ndtr

    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (x1 + x2) / (n1 + n2)
        se = np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
        pv = 2 * ndtr(-np.abs(z))
    return np.where(se > 0, pv, 1.0)


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (NaN entries are left out and stay NaN).

    ``p_(i)`` sorted ascending among m tests: adjusted ``max_{j<=i} min(1, (m - j + 1) p_(j))``,
    the same as statsmodels' ``multipletests(method="holm")`` (checked in the tests; computed
    here because that function runs ``gc.collect()`` on every call, 0.1 s each).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m:
        vals = p[ok]
        order = np.argsort(vals, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * vals[order]))
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    return out
