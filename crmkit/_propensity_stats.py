"""Statistics behind :mod:`crmkit.propensity`: Wilson intervals, DeLong's AUC variance,
bootstrap intervals of AUC, Brier score, lift and gains, and logistic recalibration.

All functions take plain numpy arrays: ``y`` is a boolean (or 0/1) array of outcomes,
``score`` the predicted probability of the positive class.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = [
    "wilson_interval",
    "delong_auc",
    "auc_interval",
    "bootstrap_auc",
    "group_order",
    "group_bounds",
    "lift_frame",
    "bootstrap_rows",
    "recalibration",
]


def wilson_interval(k, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``k / n`` (NaN where ``n == 0``).

    >>> lo, hi = wilson_interval(5, 20)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.1119, 0.4687)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
        lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lo, hi


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def delong_auc(y, score) -> tuple[float, float]:
    """ROC AUC and its DeLong (1988) variance, by the midrank algorithm of Sun & Xu (2014).

    Returns ``(auc, variance)``. Ties in ``score`` count one half, as in the
    Mann-Whitney statistic. The structural components are
    ``V10_i = (R_i - R^+_i) / n_neg`` for each positive and
    ``V01_j = 1 - (R_j - R^-_j) / n_pos`` for each negative (``R`` midranks in the
    pooled sample, ``R^±`` within the class), and
    ``var = var(V10) / n_pos + var(V01) / n_neg`` with the unbiased sample variances.

    >>> auc, var = delong_auc([0, 0, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.9])
    >>> round(auc, 4), round(var, 4)
    (0.8333, 0.0556)
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise ValueError("delong_auc needs at least one positive and one negative outcome")
    r_all = _midranks(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - _midranks(pos)) / n
    v01 = 1.0 - (r_all[m:] - _midranks(neg)) / m
    auc = float(v10.mean())
    var10 = v10.var(ddof=1) if m > 1 else 0.0
    var01 = v01.var(ddof=1) if n > 1 else 0.0
    return auc, float(var10 / m + var01 / n)


def auc_interval(y, score, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """``(auc, se, low, high)``: DeLong's normal interval ``auc ± z·se``, clipped to [0, 1]."""
    auc, var = delong_auc(y, score)
    se = float(np.sqrt(max(var, 0.0)))
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    return auc, se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def bootstrap_auc(y, score, n_bootstrap: int, rng: np.random.Generator, alpha: float = 0.05, chunk: int = 200):
    """``(auc, se, low, high)`` from a stratified bootstrap (positives and negatives resampled
    separately, so every replicate keeps the class counts); percentile interval."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    auc = delong_auc(y, s)[0]
    reps = []
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        sample = np.concatenate([pos[rng.integers(0, m, (b, m))], neg[rng.integers(0, n, (b, n))]], axis=1)
        ranks = stats.rankdata(sample, method="average", axis=1)
        reps.append((ranks[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n))
    reps = np.concatenate(reps)
    lo, hi = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return auc, float(reps.std(ddof=1)), float(lo), float(hi)


def group_order(score: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row order from the highest score to the lowest; ties broken at random (seeded)."""
    score = np.asarray(score, dtype=float)
    return np.lexsort((rng.random(len(score)), -score))


def group_bounds(n: int, n_groups: int) -> np.ndarray:
    """End positions (exclusive) of ``n_groups`` consecutive groups of sizes differing by at most one."""
    return np.array([len(part) for part in np.array_split(np.arange(n), n_groups)]).cumsum()


def lift_frame(y_sorted: np.ndarray, bounds: np.ndarray) -> dict[str, np.ndarray]:
    """Customers, responders, rate, lift and cumulative gains of groups of rows sorted by score.

    ``y_sorted`` may be 2-D (bootstrap replicates in rows); groups run along the last axis.
    """
    y_sorted = np.asarray(y_sorted, dtype=float)
    csum = np.cumsum(y_sorted, axis=-1)
    cum_resp = csum[..., bounds - 1]
    total = csum[..., -1:]
    resp = np.diff(cum_resp, axis=-1, prepend=0.0)
    sizes = np.diff(bounds, prepend=0)
    n = bounds[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = resp / sizes
        base = total / n
        lift = rate / base
        gain = cum_resp / total
        cum_lift = (cum_resp / bounds) / base
    return {"responders": resp, "rate": rate, "lift": lift, "gain": gain, "cum_lift": cum_lift}


def bootstrap_rows(n: int, n_bootstrap: int, rng: np.random.Generator, chunk: int = 100):
    """Yield arrays of bootstrap row indices, ``chunk`` replicates at a time (rows resampled
    with replacement, sorted so that a pre-sorted order is kept)."""
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        idx = rng.integers(0, n, (b, n))
        idx.sort(axis=1)
        yield idx


def _logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int = 100):
    """Maximum-likelihood logistic regression by Newton-Raphson: ``(coef, se)``, NaN if it
    does not converge (e.g. perfect separation)."""
    beta = np.zeros(X.shape[1])
    nan = np.full(X.shape[1], np.nan)
    for _ in range(max_iter):
        mu = special.expit(X @ beta + offset)
        w = mu * (1.0 - mu)
        info = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return nan, nan
        beta = beta + step
        if not np.all(np.isfinite(beta)) or np.abs(beta).max() > 1e3:
            return nan, nan
        if np.abs(step).max() < 1e-10:
            mu = special.expit(X @ beta + offset)
            info = X.T @ (X * (mu * (1.0 - mu))[:, None])
            try:
                return beta, np.sqrt(np.diag(np.linalg.inv(info)))
            except np.linalg.LinAlgError:
                return beta, nan
    return nan, nan


def recalibration(y, score, alpha: float = 0.05) -> dict[str, float]:
    """Calibration-in-the-large and calibration slope (Cox 1958), with Wald intervals.

    ``intercept``: ``a`` in ``logit P(y) = a + logit(score)`` (0 when the average
    prediction is right); ``slope``: ``b`` in ``logit P(y) = a + b·logit(score)`` (1 when
    predictions are neither too extreme, < 1, nor too timid, > 1). Scores are clipped to
    [1e-6, 1 − 1e-6] first. NaN when a fit does not converge (e.g. perfect separation).
    """
    y = np.asarray(y, dtype=float)
    lp = special.logit(np.clip(np.asarray(score, dtype=float), 1e-6, 1 - 1e-6))
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    ones = np.ones((len(y), 1))
    (a,), (se_a,) = _logistic_fit(ones, y, lp)
    (_, b), (_, se_b) = _logistic_fit(np.column_stack([ones, lp]), y, np.zeros(len(y)))
    return {
        "intercept": float(a),
        "intercept_low": float(a - z * se_a),
        "intercept_high": float(a + z * se_a),
        "slope": float(b),
        "slope_low": float(b - z * se_b),
        "slope_high": float(b + z * se_b),
    }
