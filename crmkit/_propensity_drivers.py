"""Drivers of a fitted classifier: permutation importance and the direction of effect.

Both need many predictions on modified copies of the evaluation table. Instead of one
``predict_proba`` call per copy (each paying the preprocessing pipeline's fixed cost),
the copies are stacked into a few large tables, so a typical run makes a handful of
calls. Works for any fitted classifier with ``predict_proba``.

A model that offers ``_design(X)`` (:class:`crmkit.propensity.PropensityModel`) is worked
on in its design matrix instead: its preprocessing encodes each input column on its own,
so permuting (or setting) an input column is permuting (or setting) that column's block
of encoded columns, and the preprocessing runs once instead of once per copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["is_numeric", "drivers"]


def is_numeric(s: pd.Series) -> bool:
    """Numbers and booleans (also numbers held in an object column) count as numeric."""
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return True
    if dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        return kind in ("integer", "floating", "mixed-integer-float", "boolean", "decimal", "empty")
    return False


def _aucs(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``p`` (replicates × customers) against the same outcomes ``y``."""
    m = int(y.sum())
    n0 = y.size - m
    ranks = stats.rankdata(p, method="average", axis=1)
    return (ranks[:, y].sum(axis=1) - m * (m + 1) / 2.0) / (m * n0)


def _run(model, X: pd.DataFrame, tasks: list, batch_rows: int) -> np.ndarray:
    """Predicted probabilities (one row per task) on copies of ``X`` changed by each task.

    A task is ``(column, "perm", permutation)`` or ``(column, "set", value)``.
    """
    n = len(X)
    per_batch = max(1, batch_rows // max(n, 1))
    out = np.empty((len(tasks), n))
    numeric = {c: is_numeric(X[c]) for c in X.columns}
    base_idx = np.arange(n)
    for start in range(0, len(tasks), per_batch):
        batch = tasks[start : start + per_batch]
        b = len(batch)
        touched: dict[str, list[tuple[int, str, object]]] = {}
        for t, (col, how, arg) in enumerate(batch):
            touched.setdefault(col, []).append((t, how, arg))
        cols = {}
        for col in X.columns:
            s = X[col]
            if col not in touched:
                cols[col] = s.take(np.tile(base_idx, b)).reset_index(drop=True)
                continue
            if any(how == "set" for _, how, _ in touched[col]):
                if numeric[col]:
                    vals = np.tile(pd.to_numeric(s.astype(object) if s.dtype == object else s).to_numpy(
                        dtype="float64", na_value=np.nan), b)
                else:
                    vals = np.tile(s.astype(object).to_numpy(), b)
                orig = vals[:n].copy()
                for t, how, arg in touched[col]:
                    seg = slice(t * n, (t + 1) * n)
                    vals[seg] = orig[arg] if how == "perm" else arg
                cols[col] = pd.Series(vals)
            else:
                idx = np.tile(base_idx, b)
                for t, _, perm in touched[col]:
                    idx[t * n : (t + 1) * n] = perm
                cols[col] = s.take(idx).reset_index(drop=True)
        stacked = pd.DataFrame(cols)
        out[start : start + b] = np.asarray(model.predict_proba(stacked), dtype=float)[:, 1].reshape(b, n)
    return out


def _run_design(design, tasks: list, n: int, batch_rows: int) -> np.ndarray:
    """As :func:`_run`, on a model's design matrix (see the module docstring)."""
    Z, blocks, encode, predict = design
    sets = [(col, arg) for col, how, arg in tasks if how == "set"]
    encoded = dict(zip(sets, encode(sets))) if sets else {}
    per_batch = max(1, batch_rows // max(n, 1))
    out = np.empty((len(tasks), n))
    for start in range(0, len(tasks), per_batch):
        batch = tasks[start : start + per_batch]
        Zb = np.tile(Z, (len(batch), 1))
        for t, (col, how, arg) in enumerate(batch):
            rows, cols = slice(t * n, (t + 1) * n), blocks[col]
            Zb[rows, cols] = Z[arg][:, cols] if how == "perm" else encoded[(col, arg)]
        out[start : start + len(batch)] = np.asarray(predict(Zb), dtype=float).reshape(len(batch), n)
    return out


def drivers(
    model,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    n_repeats: int,
    rng: np.random.Generator,
    max_rows: int | None = 5_000,
    max_categories: int = 20,
    batch_rows: int = 100_000,
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) with its spread, and partial-dependence direction.

    ``y`` is boolean (the positive class of the model). With more than ``max_rows`` rows,
    a random subset of ``max_rows`` rows is used (seeded by ``rng``). Columns the model was
    not fitted on (not in its ``feature_names_in_``) are left out.
    """
    y = np.asarray(y, dtype=bool)
    X = X.reset_index(drop=True)
    used = getattr(model, "feature_names_in_", None)
    if used is not None:
        X = X[[c for c in X.columns if c in set(used)]]
    if max_rows is not None and len(X) > max_rows:
        keep = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    n = len(X)
    base_p = np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    can_rank = 0 < y.sum() < n
    base_auc = _aucs(y, base_p[None, :])[0] if can_rank else np.nan
    base_mean = float(base_p.mean())

    perm_tasks = [(col, "perm", rng.permutation(n)) for col in X.columns for _ in range(n_repeats)]
    grid: dict[str, list] = {}
    for col in X.columns:
        s = X[col]
        values = s.dropna()
        if not len(values) or values.nunique() < 2:
            continue
        if is_numeric(s):
            # Everyone at the 10th, then at the 90th percentile (min and max when these
            # coincide, e.g. a rare 0/1 flag), each row's other features as they are.
            v = pd.to_numeric(values.astype(object) if values.dtype == object else values).astype(float)
            low, high = (float(q) for q in np.quantile(v, [0.1, 0.9]))
            if low == high:
                low, high = float(v.min()), float(v.max())
            grid[col] = [low, high]
        else:
            grid[col] = list(values.astype(str).value_counts().index[:max_categories])
    pd_tasks = [(col, "set", value) for col, vals in grid.items() for value in vals]
    design = model._design(X) if hasattr(model, "_design") else None  # None: layout unknown
    if design is not None:
        preds = _run_design(design, perm_tasks + pd_tasks, n, batch_rows)
    else:
        preds = _run(model, X, perm_tasks + pd_tasks, batch_rows)
    perm_pred, pd_pred = preds[: len(perm_tasks)], preds[len(perm_tasks) :]
    perm_auc = _aucs(y, perm_pred) if can_rank and len(perm_tasks) else np.full(len(perm_tasks), np.nan)
    pd_mean = pd_pred.mean(axis=1)

    rows = []
    tol = 1e-4 * max(base_mean, 1e-3)
    k = 0
    for j, col in enumerate(X.columns):
        drops = base_auc - perm_auc[j * n_repeats : (j + 1) * n_repeats]
        direction, effect, low, high = "0", 0.0, np.nan, np.nan
        if col in grid:
            vals = grid[col]
            means = pd_mean[k : k + len(vals)]
            k += len(vals)
            if is_numeric(X[col]):
                low, high = vals
                effect = float(means[1] - means[0])
                direction = "+" if effect > tol else "-" if effect < -tol else "0"
            else:
                lo_i, hi_i = int(np.argmin(means)), int(np.argmax(means))
                low, high = vals[lo_i], vals[hi_i]
                effect = float(means[hi_i] - means[lo_i])
                direction = "by category" if effect > tol else "0"
        rows.append((col, float(np.mean(drops)), float(np.std(drops)), direction, effect, low, high))
    out = pd.DataFrame(
        rows, columns=["feature", "importance", "importance_std", "direction", "effect", "low_value", "high_value"]
    )
    return out.set_index("feature").sort_values("importance", ascending=False, kind="stable")
