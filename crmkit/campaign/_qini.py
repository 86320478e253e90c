"""The Qini curve and coefficient of an uplift score, and uplift by score decile.

Convention (the one of causalml's ``get_qini`` / ``qini_score``, Radcliffe 2007): sort
the members by score, highest first; after the top ``k`` members the curve is the
number of incremental responders

    Q(k) = Y_t(k) − Y_c(k) · N_t(k) / N_c(k)

(``Y`` responders and ``N`` members among the top ``k``, in treatment ``t`` and control
``c``), ``Q(0) = 0``; points where ``N_c(k) = 0`` are filled by linear interpolation. The
random-targeting line runs straight from ``Q(0)`` to ``Q(N)``. The coefficient is the
mean vertical gap between the two over the ``N + 1`` points ``k = 0 … N`` after dividing
the curve by ``|Q(N)|`` (causalml's ``qini_score(normalize=True)``); so it is a share of
the total incremental responders, positive when targeting by the score beats random.
:attr:`QiniResult.area` is the same gap without the division (incremental responders).

Tied scores: members with the same score form one block that is targeted (or not) as a
whole, so ``Q(k)`` is computed only at the end of each block — at the distinct score
thresholds, as scikit-learn's ``roc_curve`` keeps only distinct thresholds — and runs
linearly across a block. The result does not depend on the members' input order, and a
constant score gives exactly the random line (coefficient 0): a score that does not
distinguish customers cannot beat random targeting. causalml itself breaks ties by
input order (its sort), which lets the order the rows arrive in create a spurious
coefficient; crmkit differs there on purpose. Without ties the two agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.campaign._stats import newcombe_diff
from crmkit.campaign._readout import _num, _signed
from crmkit.errors import DataValidationError, ParameterError

__all__ = ["QiniResult", "qini", "qini_curve", "NORMALISATION"]

NORMALISATION = (
    "Qini curve Q(k) = Y_t(k) − Y_c(k)·N_t(k)/N_c(k): incremental responders among the k highest-scored members "
    "(causalml get_qini convention, Radcliffe 2007; Q(0) = 0, points with no control member yet interpolated). "
    "Coefficient = mean over k = 0…N of (Q(k) − random line)/|Q(N)| (causalml qini_score, normalize=True): the "
    "average gain over random targeting as a share of all incremental responders; 0 = no better than random. "
    "Tied scores are one block: the curve has points only at distinct scores and runs linearly across a tie "
    "(causalml breaks ties by input order instead)."
)


def _block_ends(score_sorted: np.ndarray) -> np.ndarray:
    """Positions ``k`` (1 … N) at which a block of tied scores ends, for scores sorted high to low."""
    n = len(score_sorted)
    if n == 0:
        return np.zeros(0, dtype=int)
    last = np.r_[score_sorted[1:] != score_sorted[:-1], True]
    return np.flatnonzero(last) + 1


def qini_curve(y, treated, score) -> np.ndarray:
    """The full Qini curve ``Q(0 … N)`` (unnormalised incremental responders), as in causalml's ``get_qini``.

    ``y`` outcomes, ``treated`` 0/1 indicator, ``score`` uplift scores (arrays of length N).
    Tied scores are one block: ``Q`` is evaluated where a block ends (the distinct score
    thresholds) and interpolated linearly inside it, so the curve does not depend on the
    input order; without ties it equals causalml's curve point for point (causalml breaks
    ties by input order; crmkit does not, on purpose).
    """
    y = np.asarray(y, dtype=float)
    t = np.asarray(treated, dtype=float)
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    y, t, s = y[order], t[order], s[order]
    ends = _block_ends(s)
    cum_t = np.cumsum(t)[ends - 1]
    cum_c = ends - cum_t
    cum_yt = np.cumsum(y * t)[ends - 1]
    cum_yc = np.cumsum(y * (1 - t))[ends - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        q_end = np.where(cum_c > 0, cum_yt - cum_yc * cum_t / cum_c, np.nan)
    xp = np.r_[0, ends].astype(float)
    fp = np.r_[0.0, q_end]
    ok = ~np.isnan(fp)
    # block ends with no control member yet, and the members inside each block: linear interpolation
    return np.interp(np.arange(len(y) + 1, dtype=float), xp[ok], fp[ok])


def _score_groups(score: np.ndarray, bins: int) -> list[np.ndarray]:
    """Member indices of ``bins`` score groups, highest scores first, never splitting tied scores.

    Without ties: ``numpy.array_split`` of the members sorted by descending score. With ties:
    each tie block goes whole to the group that holds its average rank (the middle of the
    positions it occupies); empty groups are dropped. Independent of the input order.
    """
    n = len(score)
    order = np.argsort(-score, kind="stable")
    s_sorted = score[order]
    ends = _block_ends(s_sorted)
    starts = np.r_[0, ends[:-1]]
    mid = (starts + ends - 1) / 2.0  # average 0-based position of each block
    sizes = np.array([len(a) for a in np.array_split(np.arange(n), bins)])
    upper = np.cumsum(sizes)  # group g holds positions [upper[g-1], upper[g])
    block_group = np.searchsorted(upper, mid, side="right")
    member_group = np.repeat(block_group, ends - starts)
    return [order[member_group == g] for g in np.unique(member_group)]


@dataclass(frozen=True, eq=False)
class QiniResult:
    """How well a score ranks members by their uplift.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``n_targeted`` (k), ``fraction`` (k / N), ``qini`` (Q(k), incremental responders),
        ``random`` (the random-targeting line), ``qini_normalised`` (Q(k) / |Q(N)|); at most
        1,001 evenly spaced points of the full curve, both ends included.
    coefficient : float
        Qini coefficient (see :data:`NORMALISATION`; > 0: better than random).
    area : float
        The same mean gap in incremental responders (not divided by |Q(N)|).
    deciles : pandas.DataFrame
        Members cut into ``bins`` equal groups by score (1 = highest scores):
        ``decile, score_min, score_max, n_treated, n_control, rate_treated, rate_control,
        uplift`` (rate difference) and its Newcombe interval ``uplift_low, uplift_high``.
        Members with tied scores are never split: a tie block goes whole to the group that
        holds its middle position (its average rank, as ``rank(method="average")``), so
        the table does not depend on the input order; with ties, groups can differ in size
        and empty groups are dropped (fewer than ``bins`` rows, numbered 1, 2, … from the
        highest scores). A constant score gives one group of everyone.
    normalisation : str
        The convention in words.
    total_incremental : float
        Q(N): incremental responders if everyone were targeted.
    n : int
        Members scored (treated + control).
    n_distinct_scores : int
        Distinct score values among them; 1 means the model gave everyone the same
        uplift (found no differences between customers), so the curve is the random line.
    """

    curve: pd.DataFrame
    coefficient: float
    area: float
    deciles: pd.DataFrame
    normalisation: str
    total_incremental: float
    n: int
    alpha: float = 0.05
    _full: np.ndarray | None = None
    n_distinct_scores: int | None = None

    def gain_at(self, fraction: float) -> pd.Series:
        """Incremental responders when the top ``fraction`` is targeted: by the score (``model``) and at random (``random``)."""
        f = float(fraction)
        if not 0 <= f <= 1:
            raise ParameterError(f"fraction: expected a share between 0 and 1, found {fraction!r}.")
        k = int(round(f * self.n))
        return pd.Series({"fraction": f, "n_targeted": k, "model": float(self._full[k]),
                          "random": self.total_incremental * k / self.n})

    def to_frame(self) -> pd.DataFrame:
        return self.deciles.copy()

    def summary(self) -> str:
        if self.n_distinct_scores == 1:
            return (
                f"The score is the same for all {self.n:,} members: the model found no differences between customers, "
                f"so targeting by it is no better than random (Qini coefficient 0; the curve is the random line). "
                f"Everyone: {_num(self.total_incremental, ',.1f')} incremental responders. {self.normalisation}"
            )
        g = self.gain_at(0.3)
        return (
            f"Qini coefficient {_signed(self.coefficient, '.3f')} (0 = random targeting). Targeting the top 30 % by "
            f"the score ({int(g['n_targeted']):,} of {self.n:,}) would reach {_num(g['model'], ',.1f')} incremental "
            f"responders against {_num(g['random'], ',.1f')} at random; everyone: {_num(self.total_incremental, ',.1f')}. "
            f"{self.normalisation}"
        )

    def plot(self, ax=None):
        """The Qini curve against the random line (plotly Figure; drawn on a matplotlib ``ax`` when given)."""
        c = self.curve
        if ax is not None:
            ax.plot(100 * c["fraction"], c["qini"], label="targeting by score")
            ax.plot(100 * c["fraction"], c["random"], ls="--", color="0.5", label="random targeting")
            ax.set_xlabel("members targeted, % (highest scores first)")
            ax.set_ylabel("incremental responders")
            ax.set_title(f"Qini curve (coefficient {_signed(self.coefficient, '.3f')})")
            ax.legend()
            return ax
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_trace(go.Scatter(x=100 * c["fraction"], y=c["qini"], mode="lines", name="targeting by score"))
        fig.add_trace(go.Scatter(x=100 * c["fraction"], y=c["random"], mode="lines", name="random targeting",
                                 line={"dash": "dash", "color": "grey"}))
        fig.update_layout(title=f"Qini curve (coefficient {_signed(self.coefficient, '.3f')})",
                          xaxis_title="members targeted, % (highest scores first)",
                          yaxis_title="incremental responders")
        return fig

    def plot_deciles(self, ax=None):
        """Observed uplift by score decile with its interval (plotly Figure, or on a matplotlib ``ax``)."""
        d = self.deciles
        if ax is not None:
            ax.errorbar(d["decile"], 100 * d["uplift"], yerr=[100 * (d["uplift"] - d["uplift_low"]),
                                                              100 * (d["uplift_high"] - d["uplift"])], fmt="o", capsize=3)
            ax.axhline(0, color="0.5", ls="--")
            ax.set_xlabel("score decile (1 = highest)")
            ax.set_ylabel("uplift, percentage points")
            return ax
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(
            x=d["decile"], y=100 * d["uplift"], mode="markers",
            error_y={"type": "data", "symmetric": False, "array": 100 * (d["uplift_high"] - d["uplift"]),
                     "arrayminus": 100 * (d["uplift"] - d["uplift_low"])}))
        fig.add_hline(y=0, line_dash="dash", line_color="grey")
        fig.update_layout(title="Observed uplift by score decile", xaxis_title="score decile (1 = highest)",
                          yaxis_title="uplift, percentage points")
        return fig


def qini(y, treatment, score, *, control="control", treated=None, bins: int = 10, alpha: float = 0.05) -> QiniResult:
    """Qini curve, coefficient and uplift by decile of a score, on a randomised campaign's members.

    Parameters
    ----------
    y : array-like of 0/1 or bool
        Outcome (converted).
    treatment : array-like
        Arm labels (``control`` among them), or a 0/1 / bool treatment indicator.
    score : array-like of float
        Estimated uplift (higher = target first), e.g. :meth:`UpliftModel.predict`.
    control : str
        The control label.
    treated : str or list of str, optional
        Arms counted as treated; the others (besides control) are left out. Default:
        every arm that is not control.
    bins : int
        Groups for the decile table.

    Examples
    --------
    >>> r = qini([1, 0, 1, 0, 0, 1], [1, 1, 0, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    >>> r.curve["qini"].round(3).tolist()
    [0.0, -0.333, -0.667, -1.0, 0.0, -0.5, -1.0]
    """
    y = np.asarray(y)
    trt = np.asarray(treatment)
    s = np.asarray(score, dtype=float)
    if not (len(y) == len(trt) == len(s)):
        raise ParameterError(f"y, treatment, score: expected the same length, found {len(y)}, {len(trt)}, {len(s)}.")
    if len(y) == 0:
        raise DataValidationError("qini: no members given.")
    if np.isnan(s).any():
        raise DataValidationError(f"score: expected numbers, found NaN in {int(np.isnan(s).sum()):,} rows (first: row {int(np.flatnonzero(np.isnan(s))[0])}).")
    yf = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=float)
    if np.isnan(yf).any() or not np.isin(yf, [0.0, 1.0]).all():
        first = int(np.flatnonzero(np.isnan(yf) | ~np.isin(yf, [0.0, 1.0]))[0])
        raise DataValidationError(f"y: expected a binary outcome (0/1 or True/False), found {y[first]!r} at row {first}.")
    if trt.dtype == bool or (np.issubdtype(trt.dtype, np.number) and np.isin(trt, [0, 1]).all()):
        t = trt.astype(float)
        keep = np.ones(len(t), dtype=bool)
    else:
        labels = trt.astype(str)
        if control not in set(labels):
            raise ParameterError(f"control: no {control!r} in treatment; labels found: {', '.join(map(repr, sorted(set(labels))))}.")
        if treated is None:
            arms = sorted(set(labels) - {control})
        else:
            arms = [treated] if isinstance(treated, str) else list(treated)
            unknown = [a for a in arms if a not in set(labels)]
            if unknown:
                raise ParameterError(f"treated: no arm(s) {', '.join(map(repr, unknown))} in treatment.")
        keep = np.isin(labels, arms + [control])
        t = np.isin(labels, arms).astype(float)
    y, t, s = yf[keep], t[keep], s[keep]
    if t.sum() == 0 or (1 - t).sum() == 0:
        raise DataValidationError("treatment: need both treated and control members to measure uplift.")
    q = qini_curve(y, t, s)
    n = len(y)
    n_distinct = len(np.unique(s))
    total = float(q[-1])
    rand = np.linspace(q[0], total, n + 1)
    if n_distinct == 1:
        # one tie block: the curve IS the random line (set exactly, not up to rounding), coefficient 0
        q = rand.copy()
        area, coef = 0.0, 0.0
    else:
        area = float((q.sum() - rand.sum()) / (n + 1))
        coef = area / abs(total) if total != 0 else np.nan
    pts = np.unique(np.linspace(0, n, min(n + 1, 1001)).round().astype(int))
    curve = pd.DataFrame({
        "n_targeted": pts, "fraction": pts / n, "qini": q[pts], "random": rand[pts],
        "qini_normalised": q[pts] / abs(total) if total != 0 else np.nan,
    })
    # uplift by score group
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ParameterError(f"bins: expected a whole number >= 1, found {bins!r}.")
    rows = []
    for i, part in enumerate(_score_groups(s, min(int(bins), n))):
        tt, yy = t[part], y[part]
        nt, nc = tt.sum(), (1 - tt).sum()
        xt, xc = (yy * tt).sum(), (yy * (1 - tt)).sum()
        lo, hi = newcombe_diff([xt], [nt], [xc], [nc], alpha)
        rt = xt / nt if nt else np.nan
        rc = xc / nc if nc else np.nan
        rows.append({"decile": i + 1, "score_min": float(s[part].min()), "score_max": float(s[part].max()),
                     "n_treated": int(nt), "n_control": int(nc), "rate_treated": rt, "rate_control": rc,
                     "uplift": rt - rc, "uplift_low": float(lo[0]), "uplift_high": float(hi[0])})
    return QiniResult(curve, float(coef), area, pd.DataFrame(rows), NORMALISATION, total, n, alpha, q,
                      n_distinct_scores=n_distinct)
