"""Campaign readouts: did it work, by how much (with intervals), for whom, and what did it earn.

Statistics (level ``1 - alpha``, 95 % by default):

- conversion rate per arm: Wilson score interval;
- difference of each arm's rate from the control's: Newcombe's hybrid score interval
  (as statsmodels' ``confint_proportions_2indep(method="newcomb")``), p-value of the
  pooled two-proportion z-test, Holm-adjusted across the arms compared with control;
- revenue per customer (every member, zeros included) and its difference from
  control: a percentile bootstrap interval from member rows (revenue is heavy-tailed:
  most members spend nothing and a few spend a lot, so a normal interval can mislead),
  Welch's t-test for the p-value; from per-arm sums only (``readout_from_counts``) a
  normal-approximation (Welch) interval, since no bootstrap is possible without rows;
- incremental conversions = rate difference × treated members; incremental revenue =
  revenue-per-customer difference × treated members; cost = cost per contact × treated
  members (every treated member counts as contacted); net = incremental revenue − cost;
  ROI = net / cost. Their intervals are the same bootstrap (or normal) interval of the
  difference, scaled: cost is known, so the transformation is exact.
- checks: sample-ratio mismatch (chi-square goodness of fit of the arm sizes against
  the planned shares; flagged at p < 0.001, the usual threshold for this check) and
  pre-period balance (standardised mean difference of each pre-period column between
  each arm and control, with Welch's t-test). A column is flagged as imbalanced when
  Welch's p < 0.01 (``BALANCE_ALPHA``), or when |SMD| > 0.1 (``SMD_LIMIT``) *and* the
  SMD's own 95 % interval excludes 0 (large-sample standard error of Hedges & Olkin,
  ``sqrt((n_t + n_c)/(n_t n_c) + SMD²/(2(n_t + n_c)))``). The second condition keeps the
  flags to gaps beyond chance: with a control group of ~100 the chance spread of an SMD
  is ≈ 0.11, so |SMD| > 0.1 alone would flag about a third of all columns of a perfectly
  randomised campaign; in large groups the rule is |SMD| > 0.1. Each column is tested on
  its own (no multiplicity adjustment), so with many columns an occasional flag can
  still be chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crmkit.campaign._stats import holm, newcombe_diff, pooled_z_pvalue, wilson_ci, z_of
from crmkit.errors import DataValidationError, ParameterError

__all__ = ["Readout", "readout", "readout_from_counts", "arm_label", "SRM_ALPHA", "SMD_LIMIT", "BALANCE_ALPHA",
           "BALANCE_RULE"]

#: p-value below which the sample-ratio check fails.
SRM_ALPHA = 0.001
#: |standardised mean difference| above which a pre-period column counts as imbalanced, provided the
#: SMD's 95 % interval also excludes 0 (so small groups are not flagged for chance gaps).
SMD_LIMIT = 0.1
#: Welch p-value below which a pre-period column counts as imbalanced (whatever its SMD).
BALANCE_ALPHA = 0.01
#: Level of the SMD interval that must exclude 0 for |SMD| > SMD_LIMIT to count.
_SMD_INTERVAL_ALPHA = 0.05
BALANCE_RULE = (
    f"flagged when Welch p < {BALANCE_ALPHA:g}, or when |SMD| > {SMD_LIMIT:g} and the SMD's "
    f"{100 * (1 - _SMD_INTERVAL_ALPHA):g} % interval excludes 0 (a gap beyond chance for groups of this size)"
)

_CHECK_COLS = ["check", "statistic", "p_value", "ok", "status", "message"]


def arm_label(arm: str, n_arms: int = 2) -> str:
    """An arm's name in words: ``treatment_a`` → ``Treatment A``; the one ``treatment`` → ``The campaign``."""
    if str(arm) == "treatment" and n_arms <= 2:
        return "The campaign"
    words = str(arm).replace("_", " ").replace("-", " ").split()
    return " ".join(w.upper() if len(w) == 1 else w.capitalize() for w in words) or str(arm)


def _v(x) -> str:
    """A value for a message: numpy scalars shown as plain Python values."""
    return repr(x.item() if isinstance(x, np.generic) else x)


MINUS = "\u2212"  # typographic minus: one sign style for points, percentages and money


def _signed(x: float, fmt: str, plus: bool = True) -> str:
    """``x`` formatted with ``fmt`` (no sign), a typographic minus or a plus; no sign on a value shown as zero."""
    if not np.isfinite(x):
        return "n/a"
    body = format(abs(x), fmt)
    if not any(ch in "123456789" for ch in body):  # rounds to zero: "0.00", not "−0.00"
        return body
    return (MINUS if x < 0 else ("+" if plus else "")) + body


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.2f} %"


def _pts(x: float) -> str:
    """Percentage points, signed: +0.68 / −2.79."""
    return _signed(100 * x, ".2f")


def _num(x: float, fmt: str = ",.0f") -> str:
    """A count or amount with a typographic minus when negative (no plus)."""
    return _signed(x, fmt, plus=False)


def _amount(x: float) -> str:
    """Money without sign: whole units, or pence below 10 so that a small cost is not shown as 0."""
    a = abs(x)
    return f"{a:,.2f}" if 0 < a < 9.995 else f"{a:,.0f}"


def _money(x: float, currency: str, signed: bool = False) -> str:
    """Money with a typographic minus (and a plus when ``signed``); a zero amount carries no sign."""
    if not np.isfinite(x):
        return "n/a"
    body = _amount(x)
    if not any(ch in "123456789" for ch in body):
        return f"{currency}{body}"
    sign = MINUS if x < 0 else ("+" if signed else "")
    return f"{sign}{currency}{body}"


def _money2(x: float, currency: str) -> str:
    """Signed money with pence: +£1.64 / −£0.40 (£0.00 unsigned)."""
    if not np.isfinite(x):
        return "n/a"
    body = f"{abs(x):,.2f}"
    if not any(ch in "123456789" for ch in body):
        return f"{currency}{body}"
    return f"{'+' if x >= 0 else MINUS}{currency}{body}"


def _roi(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{_signed(100 * x, ',.0f')} %"


def _check_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = np.nan
    if not 0.0 < a < 1.0:
        raise ParameterError(f"alpha: expected a number between 0 and 1 such as 0.05 (95 % intervals), found {alpha!r}.")
    return a


def _check_cost(cost) -> float | None:
    if cost is None:
        return None
    try:
        c = float(cost)
    except (TypeError, ValueError):
        c = np.nan
    if not np.isfinite(c) or c < 0:
        raise ParameterError(f"cost_per_contact: expected a money amount >= 0, found {cost!r}.")
    return c


# --------------------------------------------------------------------------- core tables


def _conversion_table(counts: pd.DataFrame, control: str, alpha: float) -> pd.DataFrame:
    """Arm rows (index arm; columns n, conversions) → the conversion columns of the readout."""
    n = counts["n"].to_numpy(dtype=float)
    x = counts["conversions"].to_numpy(dtype=float)
    arms = counts.index.astype(str)
    ci = arms.get_loc(control)
    rate = np.divide(x, n, out=np.full_like(x, np.nan), where=n > 0)
    r_lo, r_hi = wilson_ci(x, n, alpha)
    d_lo, d_hi = newcombe_diff(x, n, x[ci], n[ci], alpha)
    diff = rate - rate[ci]
    pv = pooled_z_pvalue(x, n, x[ci], n[ci])
    is_control = arms == control
    # nothing to compare for the control itself, nor when either side has no members (possible within a segment):
    # such rows carry NaN (not a p-value of 1) and stay out of Holm's count
    not_compared = is_control | (n == 0) | (n[ci] == 0)
    diff[not_compared] = d_lo[not_compared] = d_hi[not_compared] = pv[not_compared] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(rate[ci] > 0, diff / rate[ci], np.nan)
    if n[ci] == 0:  # no control members: its rate is unknown, not an interval of 0 to 1
        r_lo[ci] = r_hi[ci] = np.nan
    out = pd.DataFrame(
        {
            "arm": arms,
            "is_control": is_control,
            "n": n.astype("int64"),
            "conversions": x.astype("int64"),
            "rate": rate,
            "rate_low": r_lo,
            "rate_high": r_hi,
            "diff": diff,
            "diff_low": d_lo,
            "diff_high": d_hi,
            "relative_lift": rel,
            "p_value": pv,
        }
    )
    out["p_value_adjusted"] = holm(out["p_value"].to_numpy())
    return out


def _welch(m1, v1, n1, m0, v0, n0, alpha):
    """Welch difference ``m1 - m0`` (arrays of means, variances ddof=1, sizes): (low, high, p) by the t distribution."""
    from scipy import stats

    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = v1 / n1, v0 / n0
        se = np.sqrt(a + b)
        dof = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n0 - 1))
        t = stats.t.ppf(1 - alpha / 2, dof)
        d = m1 - m0
        p = 2 * stats.t.sf(np.abs(d / se), dof)
    p = np.where(se > 0, p, np.where(d == 0, 1.0, 0.0))
    return d - t * se, d + t * se, p


def _bootstrap_means(values: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of ``values.mean()`` (resampling ``len(values)`` rows with replacement).

    Exact and fast for zero-inflated revenue: the number of non-zero rows drawn is
    Binomial(n, k/n), and those draws are uniform over the k non-zero values — the same
    distribution as resampling all n rows, at a cost of about k per replicate.
    """
    n = len(values)
    nz = values[values != 0]
    k = len(nz)
    if n == 0:
        return np.full(n_bootstrap, np.nan)
    if k == 0:
        return np.zeros(n_bootstrap)
    m = rng.binomial(n, k / n, size=n_bootstrap)
    sums = np.empty(n_bootstrap)
    chunk_draws = 4_000_000
    b0 = 0
    while b0 < n_bootstrap:
        # as many replicates as fit in one chunk of draws (at least one)
        cum = np.cumsum(m[b0:])
        b1 = b0 + max(1, int(np.searchsorted(cum, chunk_draws, side="right")))
        mm = m[b0:b1]
        draws = nz[rng.integers(0, k, size=int(mm.sum()), dtype=np.int64 if k > 2**31 - 1 else np.int32)]
        csum = np.concatenate([[0.0], np.cumsum(draws)])
        ends = np.cumsum(mm)
        sums[b0:b1] = csum[ends] - csum[ends - mm]
        b0 = b1
    return sums / n


def _revenue_table(
    arms: pd.DataFrame,
    control: str,
    alpha: float,
    cost: float | None,
    *,
    values: dict[str, np.ndarray] | None,
    n_bootstrap: int,
    rng: np.random.Generator | None,
) -> pd.DataFrame:
    """Revenue columns per arm from sums (``revenue_sum``, ``revenue_sumsq``) and, when given, member values."""
    n = arms["n"].to_numpy(dtype=float)
    s = arms["revenue_sum"].to_numpy(dtype=float)
    ss = arms["revenue_sumsq"].to_numpy(dtype=float)
    idx = list(arms.index.astype(str))
    ci = idx.index(control)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        var = np.where(n > 1, np.maximum(ss - s**2 / n, 0.0) / (n - 1), np.nan)
    lo_w, hi_w, p = _welch(mean, var, n, mean[ci], var[ci], n[ci], alpha)
    diff = mean - mean[ci]
    lo, hi = lo_w, hi_w
    if values is not None:
        lo, hi = np.full(len(idx), np.nan), np.full(len(idx), np.nan)
        boot_c = _bootstrap_means(values[control], n_bootstrap, rng)
        for i, arm in enumerate(idx):
            if arm == control:
                continue
            boot = _bootstrap_means(values[arm], n_bootstrap, rng) - boot_c
            lo[i], hi[i] = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    is_control = np.array([a == control for a in idx])
    for a in (diff, lo, hi, p):
        a[is_control] = np.nan
    out = pd.DataFrame(
        {
            "revenue": s,
            "revenue_per_customer": mean,
            "rpc_diff": diff,
            "rpc_diff_low": lo,
            "rpc_diff_high": hi,
            "rpc_p_value": p,
        },
        index=arms.index,
    )
    out["rpc_p_value_adjusted"] = holm(p)
    out["incremental_revenue"] = diff * n
    out["incremental_revenue_low"] = lo * n
    out["incremental_revenue_high"] = hi * n
    if cost is not None:
        c = np.where(is_control, np.nan, cost * n)
        out["net_revenue"] = out["incremental_revenue"] - c
        out["net_revenue_low"] = out["incremental_revenue_low"] - c
        out["net_revenue_high"] = out["incremental_revenue_high"] - c
        with np.errstate(invalid="ignore", divide="ignore"):
            cc = np.where(c > 0, c, np.nan)
            out["roi"] = out["net_revenue"] / cc
            out["roi_low"] = out["net_revenue_low"] / cc
            out["roi_high"] = out["net_revenue_high"] / cc
    return out


def _full_table(arms: pd.DataFrame, control: str, alpha: float, cost: float | None, *, revenue: bool,
                values=None, n_bootstrap: int = 2000, rng=None) -> pd.DataFrame:
    table = _conversion_table(arms, control, alpha)
    n = table["n"].to_numpy(dtype=float)
    table["incremental_conversions"] = table["diff"] * n
    table["incremental_conversions_low"] = table["diff_low"] * n
    table["incremental_conversions_high"] = table["diff_high"] * n
    if cost is not None:
        table["cost"] = np.where(table["is_control"], 0.0, cost * n)
    if revenue:
        rev = _revenue_table(arms, control, alpha, cost, values=values, n_bootstrap=n_bootstrap, rng=rng)
        rev = rev.reset_index(drop=True)
        table = pd.concat([table.reset_index(drop=True), rev], axis=1)
    # treatment arms in the order given, then control
    order = np.r_[np.flatnonzero(~table["is_control"].to_numpy()), np.flatnonzero(table["is_control"].to_numpy())]
    return table.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------- checks


def _srm_check(sizes: pd.Series, planned_shares) -> tuple[pd.DataFrame, list[str]]:
    from scipy import stats

    if planned_shares is None:
        row = {
            "check": "sample ratio",
            "statistic": np.nan,
            "p_value": np.nan,
            "ok": pd.NA,
            "status": "skipped",
            "message": "Sample-ratio check skipped: no planned shares were given (planned_shares=).",
        }
        return pd.DataFrame([row]), []
    if not isinstance(planned_shares, (dict, pd.Series)):
        raise ParameterError(
            f"planned_shares: expected a mapping arm -> planned share such as {{'treatment': 0.85, 'control': 0.15}}, "
            f"found {type(planned_shares).__name__}."
        )
    planned = pd.Series(planned_shares, dtype=float)
    planned.index = planned.index.astype(str)
    if (planned <= 0).any() or not np.isfinite(planned).all():
        raise ParameterError(f"planned_shares: expected shares > 0, found {planned.to_dict()}.")
    missing = [a for a in sizes.index if a not in planned.index]
    if missing:
        raise ParameterError(
            f"planned_shares: no planned share for arm(s) {', '.join(map(repr, missing))}; arms in the data: "
            f"{', '.join(map(repr, sizes.index))}."
        )
    empty = [a for a in planned.index if a not in sizes.index or sizes.get(a, 0) == 0]
    if empty:
        raise DataValidationError(
            f"members: arm(s) {', '.join(map(repr, empty))} were planned (planned_shares) but have 0 members; "
            "a readout needs members in every arm."
        )
    planned = planned / planned.sum()
    observed = sizes.reindex(planned.index).to_numpy(dtype=float)
    expected = planned.to_numpy() * observed.sum()
    chi2, p = stats.chisquare(observed, expected)
    ok = bool(p >= SRM_ALPHA)
    shares = ", ".join(f"{a} {o / observed.sum():.1%} (planned {s:.1%})" for a, o, s in zip(planned.index, observed, planned))
    msg = (
        f"Sample ratio {'as planned' if ok else 'MISMATCH'}: {shares}; chi-square {chi2:.2f} on {len(observed) - 1} df, "
        f"p = {p:.3g}{'' if ok else f' < {SRM_ALPHA}: the assignment or the data extraction may be broken; do not trust the readout until explained'}."
    )
    row = {"check": "sample ratio", "statistic": float(chi2), "p_value": float(p), "ok": ok,
           "status": "ok" if ok else "warning", "message": msg}
    return pd.DataFrame([row]), ([] if ok else [msg])


#: Columns of :attr:`Readout.balance` (one row per pre-period column and arm).
_BALANCE_COLS = ["column", "arm", "mean_arm", "mean_control", "smd", "smd_low", "smd_high", "p_value", "ok"]


def _balance_checks(columns: dict, where: dict, control: str, arms: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Pre-period balance of each column between each arm and control.

    ``columns``: name -> float array of the kept rows; ``where``: arm -> boolean mask of its rows.
    Statistic: standardised mean difference ``SMD = (mean_arm − mean_control) / sqrt((var_arm + var_control)/2)``
    with its 95 % interval ``SMD ± 1.96·se`` (Hedges & Olkin's large-sample
    ``se = sqrt((n_t + n_c)/(n_t·n_c) + SMD²/(2(n_t + n_c)))``) and Welch's t-test p-value.
    A column is imbalanced when p < :data:`BALANCE_ALPHA`, or when |SMD| > :data:`SMD_LIMIT`
    and the interval excludes 0: |SMD| > 0.1 on its own is within chance for small groups
    (n_control ≈ 100 gives a chance spread of ≈ 0.11), and is then not flagged.
    """
    z = z_of(_SMD_INTERVAL_ALPHA)
    rows, detail, warns = [], [], []
    for col, v in columns.items():
        c = v[where[control]]
        c = c[~np.isnan(c)]
        for arm in arms:
            t = v[where[arm]]
            t = t[~np.isnan(t)]
            if len(t) < 2 or len(c) < 2:
                continue
            nt, nc = len(t), len(c)
            mt, mc, vt, vc = t.mean(), c.mean(), t.var(ddof=1), c.var(ddof=1)
            pooled = np.sqrt((vt + vc) / 2)
            smd = (mt - mc) / pooled if pooled > 0 else 0.0
            se = np.sqrt((nt + nc) / (nt * nc) + smd**2 / (2 * (nt + nc)))
            lo, hi = smd - z * se, smd + z * se
            _, _, p = _welch(np.array([mt]), np.array([vt]), np.array([nt]), mc, vc, nc, 0.05)
            p = float(p[0])
            beyond_chance = lo > 0 or hi < 0
            ok = bool(p >= BALANCE_ALPHA and not (abs(smd) > SMD_LIMIT and beyond_chance))
            msg = (
                f"Pre-period {col}: {arm} mean {_num(mt, ',.3g')} vs control {_num(mc, ',.3g')}, standardised difference "
                f"{_signed(smd, '.3f')} (95 % CI {_signed(lo, '.3f')} to {_signed(hi, '.3f')}), Welch p = {p:.3g}"
                + (
                    "."
                    if ok
                    else f" — imbalanced ({BALANCE_RULE})."
                )
            )
            rows.append({"check": f"balance: {col} ({arm} vs {control})", "statistic": smd, "p_value": p, "ok": ok,
                         "status": "ok" if ok else "warning", "message": msg})
            detail.append({"column": col, "arm": arm, "mean_arm": mt, "mean_control": mc, "smd": smd,
                           "smd_low": lo, "smd_high": hi, "p_value": p, "ok": ok})
            if not ok:
                warns.append(msg)
    if not rows and columns:
        rows.append({"check": "pre-period balance", "statistic": np.nan, "p_value": np.nan, "ok": pd.NA,
                     "status": "skipped",
                     "message": "Pre-period balance check skipped: a group has fewer than 2 members with pre-period data."})
    return pd.DataFrame(rows, columns=_CHECK_COLS), pd.DataFrame(detail, columns=_BALANCE_COLS), warns


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class Readout:
    """A campaign readout: one row per arm with rates, differences from control and their intervals.

    Attributes
    ----------
    table : pandas.DataFrame
        What :meth:`to_frame` returns (see there).
    control : str
        The control arm's label.
    alpha : float
        Intervals are ``1 - alpha`` two-sided intervals.
    sentence : str
        The plain one-sentence answer (first sentence of :meth:`summary`).
    checks : pandas.DataFrame
        ``check, statistic, p_value, ok, status, message``: sample-ratio mismatch
        (chi-square statistic) and pre-period balance (statistic = standardised mean
        difference; a column is imbalanced by :data:`BALANCE_RULE`: Welch p < 0.01, or
        |SMD| > 0.1 with the SMD's 95 % interval excluding 0); ``status`` is ``ok``,
        ``warning`` or ``skipped``.
    warnings : list of str
        The failed checks in words (empty when all passed).
    segments : pandas.DataFrame or None
        Segment × arm rows (``segment`` first, then the conversion columns of the
        table, computed within the segment), ``p_value_adjusted`` = Holm across every
        segment × arm comparison, and ``diff_low_simultaneous`` / ``diff_high_simultaneous``
        (Bonferroni intervals at ``alpha / m`` that hold for all m comparisons at once).
    segments_note : str or None
        The multiple-testing correction, said in words.
    balance : pandas.DataFrame
        Pre-period columns × arm: means, standardised mean difference ``smd`` with its
        95 % interval ``smd_low, smd_high``, Welch p-value, ``ok`` (see :data:`BALANCE_RULE`).
    rejects : pandas.DataFrame
        Rows set aside (``row``, ``reason``); counted in ``n_set_aside``.
    n_rows, n_set_aside : int
        Rows given, rows set aside.
    currency : str
    cost_per_contact : float or None
    revenue_method : str or None
        How revenue intervals were computed (bootstrap or normal approximation).
    """

    table: pd.DataFrame
    control: str
    alpha: float
    sentence: str
    checks: pd.DataFrame
    warnings: list = field(default_factory=list)
    segments: pd.DataFrame | None = None
    segments_note: str | None = None
    balance: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_BALANCE_COLS))
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "reason"]))
    n_rows: int = 0
    n_set_aside: int = 0
    currency: str = "£"
    cost_per_contact: float | None = None
    revenue_method: str | None = None
    outcome: str = "conversion"

    @property
    def arms(self) -> list[str]:
        """Treatment arms (without control), in table order."""
        return self.table.loc[~self.table["is_control"], "arm"].tolist()

    @property
    def level(self) -> str:
        return f"{100 * (1 - self.alpha):g} %"

    def to_frame(self) -> pd.DataFrame:
        """One row per arm (treatment arms, then control).

        Columns: ``arm, n, conversions, rate`` (conversions / n) with its Wilson interval
        ``rate_low, rate_high``; ``diff`` (rate − control rate, a proportion: 0.0068 =
        0.68 points) with Newcombe's interval ``diff_low, diff_high``; ``relative_lift``
        (diff / control rate); ``p_value`` (pooled z-test) and ``p_value_adjusted`` (Holm
        across arms); ``incremental_conversions`` (diff × n, with interval); with a cost:
        ``cost`` (cost per contact × n); with revenue: ``revenue`` (sum),
        ``revenue_per_customer``, ``rpc_diff`` (+ interval, see ``revenue_method``),
        ``rpc_p_value`` (Welch) and its Holm adjustment, ``incremental_revenue`` (rpc_diff
        × n, + interval), and with a cost also ``net_revenue`` (incremental revenue −
        cost) and ``roi`` (net / cost), each with its interval. Control rows carry NaN
        in the comparison columns. ``is_control`` marks the control row.
        """
        return self.table.copy()

    def summary(self) -> str:
        """The answer in words: the plain sentence first, then each arm, revenue, checks and methods."""
        t = self.table
        ctrl = t[t["is_control"]].iloc[0]
        lines = [self.sentence]
        if self.warnings:
            lines.append(f"Caution: {len(self.warnings)} check(s) failed (listed below); read the numbers with care.")
        lines.append("")
        for _, r in t[~t["is_control"]].iterrows():
            lines.append(
                f"- {r['arm']}: {r['conversions']:,} of {r['n']:,} converted ({_pct(r['rate'])}, {self.level} CI "
                f"{_pct(r['rate_low'])} to {_pct(r['rate_high'])}); vs control {_pts(r['diff'])} points "
                f"({_pts(r['diff_low'])} to {_pts(r['diff_high'])}), relative lift "
                f"{_signed(100 * r['relative_lift'], '.0f') + ' %' if np.isfinite(r['relative_lift']) else 'n/a'}, "
                f"p = {r['p_value']:.3g} (Holm-adjusted {r['p_value_adjusted']:.3g}); about "
                f"{_num(r['incremental_conversions'])} extra conversions ({_signed(r['incremental_conversions_low'], ',.0f')} "
                f"to {_signed(r['incremental_conversions_high'], ',.0f')})."
            )
            if "rpc_diff" in t:
                c = self.currency
                line = (
                    f"  Revenue per customer {c}{r['revenue_per_customer']:,.2f} vs {c}{ctrl['revenue_per_customer']:,.2f} "
                    f"({_money2(r['rpc_diff'], c)}, {self.level} CI "
                    f"{_money2(r['rpc_diff_low'], c)} to {_money2(r['rpc_diff_high'], c)}; Welch p = {r['rpc_p_value']:.3g}); "
                    f"incremental revenue {_money(r['incremental_revenue'], c, True)} "
                    f"({_money(r['incremental_revenue_low'], c, True)} to {_money(r['incremental_revenue_high'], c, True)})"
                )
                if "roi" in t:
                    line += (
                        f"; cost {_money(r['cost'], c)}; net {_money(r['net_revenue'], c, True)}; ROI {_roi(r['roi'])} "
                        f"({_roi(r['roi_low'])} to {_roi(r['roi_high'])})"
                    )
                lines.append(line + ".")
        lines.append(f"- control: {ctrl['conversions']:,} of {ctrl['n']:,} converted ({_pct(ctrl['rate'])}).")
        lines.append("")
        if self.warnings:
            lines.append("Checks that failed:")
            lines += [f"- {w}" for w in self.warnings]
        else:
            done = self.checks[self.checks["status"] != "skipped"]
            lines.append(f"Checks: {len(done)} passed" + ("" if len(done) else " (none could run)") + ".")
        lines += [f"- {m}" for m in self.checks.loc[self.checks["status"] == "skipped", "message"]]
        if self.n_set_aside:
            reasons = self.rejects["reason"].value_counts()
            lines.append(
                f"{self.n_set_aside:,} of {self.n_rows:,} rows were set aside: "
                + "; ".join(f"{k} ({v:,})" for k, v in reasons.items())
                + "."
            )
        if self.segments_note:
            lines.append(self.segments_note)
        lines.append(self.methods())
        return "\n".join(lines)

    def methods(self) -> str:
        """The interval and test methods in one paragraph."""
        text = (
            f"Methods: {self.level} intervals; Wilson score intervals for rates, Newcombe hybrid score intervals for "
            "differences of rates, pooled two-proportion z-tests, Holm adjustment across the arms compared with control."
        )
        if self.revenue_method:
            text += " " + self.revenue_method
        return text

    # ------------------------------------------------------------------ plots
    def plot(self, ax=None):
        """Forest plot of each arm's difference from control (percentage points) with its interval.

        Without ``ax``: a plotly Figure (crmkit's plotting library). With a matplotlib
        ``Axes``: drawn on it, which is returned.
        """
        t = self.table[~self.table["is_control"]]
        return _forest(t["arm"].tolist(), t["diff"], t["diff_low"], t["diff_high"],
                       title=f"Difference in {self.outcome} rate vs {self.control} ({self.level} CI)", ax=ax)

    def plot_segments(self, ax=None):
        """Forest plot of the segment × arm differences (unadjusted and simultaneous intervals)."""
        if self.segments is None:
            raise ParameterError("plot_segments: this readout has no segment breakdown; pass segment_col= to readout().")
        s = self.segments[~self.segments["is_control"] & self.segments["diff"].notna()]
        multi = len(self.arms) > 1
        labels = [f"{seg} · {arm_label(arm, 3)}" if multi else str(seg) for seg, arm in zip(s["segment"], s["arm"])]
        return _forest(labels, s["diff"], s["diff_low"], s["diff_high"],
                       lo2=s["diff_low_simultaneous"], hi2=s["diff_high_simultaneous"],
                       title=f"Difference in {self.outcome} rate vs {self.control} by segment", ax=ax)


def _forest(labels, diff, lo, hi, *, lo2=None, hi2=None, title="", ax=None):
    d = 100 * np.asarray(diff, dtype=float)
    lo = 100 * np.asarray(lo, dtype=float)
    hi = 100 * np.asarray(hi, dtype=float)
    if ax is not None:  # matplotlib Axes given by the caller
        y = np.arange(len(labels))[::-1]
        if lo2 is not None:
            l2, h2 = 100 * np.asarray(lo2, float), 100 * np.asarray(hi2, float)
            ax.hlines(y, l2, h2, color="0.7", lw=1)
        ax.errorbar(d, y, xerr=[d - lo, hi - d], fmt="o", capsize=3)
        ax.axvline(0, color="0.4", ls="--", lw=1)
        ax.set_yticks(y, labels)
        ax.set_xlabel("difference, percentage points")
        ax.set_title(title)
        return ax
    import plotly.graph_objects as go

    fig = go.Figure()
    if lo2 is not None:
        l2, h2 = 100 * np.asarray(lo2, float), 100 * np.asarray(hi2, float)
        fig.add_trace(go.Scatter(x=d, y=labels, mode="markers", marker={"size": 1, "color": "rgba(0,0,0,0)"},
                                 error_x={"type": "data", "symmetric": False, "array": h2 - d, "arrayminus": d - l2,
                                          "color": "#bbbbbb", "thickness": 6, "width": 0},
                                 name="simultaneous (Bonferroni)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=d, y=labels, mode="markers", marker={"size": 10},
        error_x={"type": "data", "symmetric": False, "array": hi - d, "arrayminus": d - lo},
        name="difference", customdata=np.c_[lo, hi],
        hovertemplate="%{y}: %{x:+.2f} points (%{customdata[0]:+.2f} to %{customdata[1]:+.2f})<extra></extra>",
    ))
    fig.add_vline(x=0, line_dash="dash", line_color="grey")
    fig.update_layout(title=title, xaxis_title="difference from control, percentage points",
                      yaxis={"autorange": "reversed"}, height=max(260, 60 + 40 * len(labels)), showlegend=lo2 is not None)
    return fig


# --------------------------------------------------------------------------- sentence


def _sentence(table: pd.DataFrame, alpha: float, currency: str, outcome: str) -> str:
    """The plain answer: what the best arm did to the rate (with its interval), and what it earned.

    Signs use the typographic minus throughout. When no arm's rate differs from the
    control's at all (e.g. nobody converted anywhere), the sentence says so instead of
    quoting a "+0.00 points" change.
    """
    level = f"{100 * (1 - alpha):g} %"
    t = table[~table["is_control"]]
    ctrl = table[table["is_control"]].iloc[0]
    n_arms = len(table)
    best = t.sort_values("diff", ascending=False).iloc[0]
    who = arm_label(best["arm"], n_arms)
    noun = f"{outcome} rate"
    ci = f"{_pts(best['diff'])} points, {level} CI {_pts(best['diff_low'])} to {_pts(best['diff_high'])}"
    no_difference = bool((t["diff"].fillna(0) == 0).all())
    if no_difference:
        if table["conversions"].sum() == 0:
            groups = "either group" if len(t) == 1 else "any group"
            what = f"nobody converted in {groups} ({int(table['n'].sum()):,} members)"
        else:
            groups = "both groups" if len(t) == 1 else "every group"
            what = f"{_pct(ctrl['rate'])} converted in {groups}"
        head = (f"No arm changed the {noun} measurably: {what}; the difference of "
                f"{'the arm' if len(t) == 1 else 'each arm'} from control is 0 points "
                f"({level} CI {_pts(best['diff_low'])} to {_pts(best['diff_high'])})")
    elif best["diff_low"] > 0:
        head = f"{who} raised the {noun} from {_pct(ctrl['rate'])} to {_pct(best['rate'])} ({ci})"
    elif best["diff_high"] < 0:
        head = f"{who} lowered the {noun} from {_pct(ctrl['rate'])} to {_pct(best['rate'])} ({ci})"
    else:
        head = (
            f"{who} did not change the {noun} detectably: {_pct(best['rate'])} against {_pct(ctrl['rate'])} "
            f"without contact ({ci})"
        )
    if len(t) > 1 and not no_difference:
        head += f", the best of {len(t)} arms"
    subject = "the contacts" if no_difference else "this"
    if "net_revenue" in best.index and np.isfinite(best["net_revenue"]):
        net, lo, hi = best["net_revenue"], best["net_revenue_low"], best["net_revenue_high"]
        if lo == hi:  # revenue did not vary (e.g. none in any group): the net is the cost alone, no interval
            if best["incremental_revenue"] == 0:
                head += f"; {subject} brought no incremental revenue, so the net result is the contacts' cost, " \
                        f"{_money(-best['cost'], currency, True)}"
            else:
                head += f"; after the cost of contacts the net result is {_money(net, currency, True)}"
        else:
            verb = "earned" if net >= 0 else "lost"
            head += (
                f"; after the cost of contacts {subject} {verb} {_money(abs(net), currency)} "
                f"({level} CI {_money(lo, currency, True)} to {_money(hi, currency, True)})"
            )
    elif "incremental_revenue" in best.index and np.isfinite(best["incremental_revenue"]):
        if best["incremental_revenue_low"] == best["incremental_revenue_high"]:
            head += f"; incremental revenue {_money(best['incremental_revenue'], currency, True)} (revenue did not vary)"
        else:
            head += (
                f"; it brought {_money(best['incremental_revenue'], currency, True)} of incremental revenue "
                f"({level} CI {_money(best['incremental_revenue_low'], currency, True)} to "
                f"{_money(best['incremental_revenue_high'], currency, True)})"
            )
    elif "cost" in best.index:
        head += f"; {'the' if no_difference else 'its'} contacts cost {_money(best['cost'], currency)}"
    return head + "."


# --------------------------------------------------------------------------- entry points


def _segment_table(gcodes, glabels, y, segment, control, alpha) -> tuple[pd.DataFrame, str]:
    """Segment × arm conversion tables from arm codes, 0/1 outcomes and segment labels (arrays of kept rows)."""
    scodes, slabels = pd.factorize(pd.Series(segment).astype("string").fillna("(missing)"), sort=True)
    k = len(glabels)
    cell = scodes * k + gcodes
    size = len(slabels) * k
    n = np.bincount(cell, minlength=size).reshape(len(slabels), k)
    x = np.bincount(cell, weights=y, minlength=size).reshape(len(slabels), k)
    order = np.argsort(np.asarray(glabels, dtype=str), kind="stable")
    ci = glabels.index(control)
    parts, no_control, missing_arm = [], [], []
    for i, s in enumerate(slabels):
        treated = [j for j in order if j != ci and n[i, j] > 0]
        if n[i, ci] == 0 and treated:
            no_control.append(str(s))
        elif n[i, ci] > 0:
            missing_arm += [(str(s), glabels[j]) for j in order if j != ci and n[i, j] == 0]
        present = [j for j in order if n[i, j] > 0 or glabels[j] == control]
        sub = pd.DataFrame({"n": n[i, present], "conversions": x[i, present]}, index=[glabels[j] for j in present])
        part = _conversion_table(sub, control, alpha)
        part.insert(0, "segment", str(s))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    testable = table["p_value"].notna()
    m = int(testable.sum())
    table["p_value_adjusted"] = holm(table["p_value"].where(testable))
    ctrl = table[table["is_control"]].set_index("segment")
    lo, hi = newcombe_diff(
        table["conversions"], table["n"],
        table["segment"].map(ctrl["conversions"]), table["segment"].map(ctrl["n"]),
        alpha / max(m, 1),
    )
    table["diff_low_simultaneous"] = np.where(testable, lo, np.nan)
    table["diff_high_simultaneous"] = np.where(testable, hi, np.nan)
    n_seg = table["segment"].nunique()
    compared = table.loc[testable, "segment"].nunique()
    note = (
        f"Segment breakdown: {m} comparison{'' if m == 1 else 's'} (arm vs control within each segment, "
        f"{compared} of {n_seg} segments). "
        f"p_value_adjusted is Holm-adjusted across all {m}, so a segment that 'looks good' by chance among many is "
        f"not reported as significant; diff_low/diff_high are per-comparison {100 * (1 - alpha):g} % intervals, "
        f"diff_low_simultaneous/diff_high_simultaneous Bonferroni intervals that hold for all {m} at once."
    )
    skipped = []
    if no_control:
        skipped.append(f"{', '.join(no_control)} (no control members)")
    if missing_arm:
        by_arm: dict[str, list[str]] = {}
        for seg_name, arm in missing_arm:
            by_arm.setdefault(arm, []).append(seg_name)
        skipped += [f"{', '.join(segs)} (no members in {arm})" for arm, segs in by_arm.items()]
    if skipped:
        note += f" Could not be compared, and not counted among the {m}: {'; '.join(skipped)}."
        if no_control:
            note += " Rows without a control carry NaN differences, p-values and intervals."
    table.attrs["note"] = note
    table.attrs["not_compared"] = {"no_control": no_control, "missing_arm": missing_arm}
    return table, note


def readout(
    members: pd.DataFrame,
    group_col: str = "group",
    outcome_col: str = "converted",
    control: str = "control",
    revenue_col: str | None = None,
    cost_per_contact: float | None = None,
    *,
    segment_col: str | None = None,
    alpha: float = 0.05,
    planned_shares=None,
    pre_period_cols=None,
    n_bootstrap: int = 2000,
    random_state=0,
    currency: str = "£",
    outcome_name: str = "conversion",
) -> Readout:
    """Read out a randomised campaign from member rows.

    Parameters
    ----------
    members : pandas.DataFrame
        One row per member (e.g. :func:`campaign_members`).
    group_col, outcome_col : str
        The arm label and the binary outcome (True/False or 0/1).
    control : str
        The control arm's label.
    revenue_col : str, optional
        Revenue per member (0 for none; must be >= 0): adds revenue per customer,
        its difference (percentile bootstrap interval, ``n_bootstrap`` replicates,
        ``random_state``), Welch's test, incremental revenue, and with a cost the net
        return and ROI.
    cost_per_contact : float, optional
        Money per treated member; adds ``cost`` (and net/ROI with revenue).
    segment_col : str, optional
        Adds :attr:`Readout.segments` (Holm-adjusted across all segment × arm tests).
    alpha : float, default 0.05
        Intervals at ``1 - alpha``.
    planned_shares : mapping arm -> share, optional
        Runs the sample-ratio check; without it the check is reported as skipped.
    pre_period_cols : list of str, optional
        Pre-period columns for the balance check; default every numeric column whose
        name starts with ``pre_``, plus ``tenure_days``. ``[]`` skips the check.
    n_bootstrap, random_state : int
        Bootstrap resamples per arm for the revenue intervals, and their seed.
    currency : str
        Shown with money amounts (``"£"``).
    outcome_name : str
        The outcome in words for the sentence (``"conversion"`` → "the conversion rate").

    Rows with a missing group, outcome or revenue are set aside and counted
    (:attr:`Readout.rejects`).

    Raises
    ------
    ParameterError
        Unknown column or control label; a single arm; bad alpha, cost or shares.
    DataValidationError
        Non-binary outcome, negative or non-numeric revenue, an arm with 0 members.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> m = pd.DataFrame({"group": np.repeat(["treatment", "control"], [4000, 1000])})
    >>> m["converted"] = rng.random(5000) < np.where(m["group"] == "treatment", 0.06, 0.03)
    >>> r = readout(m)
    >>> r.to_frame()[["arm", "n", "conversions"]].values.tolist()
    [['treatment', 4000, 251], ['control', 1000, 22]]
    >>> r.sentence
    'The campaign raised the conversion rate from 2.20 % to 6.28 % (+4.08 points, 95 % CI +2.76 to +5.16).'
    """
    alpha = _check_alpha(alpha)
    cost = _check_cost(cost_per_contact)
    if not isinstance(members, pd.DataFrame):
        raise ParameterError(f"members: expected a pandas DataFrame with one row per member, found {type(members).__name__}.")
    for name, col in (("group_col", group_col), ("outcome_col", outcome_col), ("revenue_col", revenue_col), ("segment_col", segment_col)):
        if col is not None and col not in members.columns:
            raise ParameterError(
                f"{name}: members has no column {col!r}; columns are {', '.join(map(repr, members.columns))}."
            )
    n_rows = len(members)
    reasons = pd.Series("", index=members.index, dtype=object)

    def _aside(mask, reason):
        hit = mask & (reasons == "")
        reasons[hit] = reason

    _aside(members[group_col].isna(), f"{group_col} missing")
    y_raw = members[outcome_col]
    _aside(y_raw.isna(), f"{outcome_col} missing")
    ok = reasons == ""
    y = y_raw[ok]
    if pd.api.types.is_bool_dtype(y):
        yv = y.astype(bool).to_numpy(dtype=float)
    else:
        yn = pd.to_numeric(y, errors="coerce")
        bad = yn.isna() | ~yn.isin([0, 1])
        if bad.any():
            first = bad.idxmax()
            raise DataValidationError(
                f"members.{outcome_col}: expected a binary outcome (True/False or 0/1), found {_v(y[first])} in "
                f"{int(bad.sum()):,} rows (first: row {_v(first)}). Code the outcome as 0/1 first."
            )
        yv = yn.to_numpy(dtype=float)
    y_all = pd.Series(np.nan, index=members.index)
    y_all[ok] = yv
    rev_all = None
    if revenue_col is not None:
        r_raw = members[revenue_col]
        if not (pd.api.types.is_numeric_dtype(r_raw) and not pd.api.types.is_bool_dtype(r_raw)):
            rn = pd.to_numeric(r_raw, errors="coerce")
            bad = rn.isna() & r_raw.notna()
            if bad.any():
                first = bad.idxmax()
                raise DataValidationError(
                    f"members.{revenue_col}: expected a number >= 0, found {_v(r_raw[first])} in {int(bad.sum()):,} rows "
                    f"(first: row {_v(first)})."
                )
            r_raw = rn
        rev_all = r_raw.astype(float)
        _aside(rev_all.isna(), f"{revenue_col} missing")
        neg = (rev_all < 0) & (reasons == "")
        if neg.any():
            first = neg.idxmax()
            raise DataValidationError(
                f"members.{revenue_col}: expected revenue >= 0, found {_v(rev_all[first])} in {int(neg.sum()):,} rows "
                f"(first: row {_v(first)}). Refunds belong in the outcome window's net revenue, floored at 0, or in a "
                "separate column."
            )
    keep = (reasons == "").to_numpy()
    rejects = pd.DataFrame({"row": members.index[~keep], "reason": reasons[~keep].to_numpy()})
    gcodes, glabels = pd.factorize(members[group_col][keep])
    glabels = [str(v) for v in glabels]
    y_k = y_all.to_numpy()[keep]
    if control not in glabels:
        raise ParameterError(
            f"control: no arm {control!r} in members.{group_col}; arms found: {', '.join(map(repr, sorted(glabels)))}. "
            "Pass control='<label of the group held out>'."
        )
    if len(glabels) < 2:
        raise DataValidationError(f"members.{group_col}: only the control arm {control!r} has members; nothing to compare.")
    if isinstance(members[group_col].dtype, pd.CategoricalDtype):
        empty = [str(c) for c in members[group_col].cat.categories if str(c) not in glabels]
        if empty:
            raise DataValidationError(
                f"members.{group_col}: arm(s) {', '.join(map(repr, empty))} have 0 members (after "
                f"{len(rejects):,} rows set aside); drop the unused categories or check the extraction."
            )
    k = len(glabels)
    counts = pd.DataFrame(
        {"n": np.bincount(gcodes, minlength=k), "conversions": np.bincount(gcodes, weights=y_k, minlength=k)},
        index=pd.Index(glabels, name="arm"),
    )
    if rev_all is not None:
        rv = rev_all.to_numpy(dtype=float)[keep]
        counts["revenue_sum"] = np.bincount(gcodes, weights=rv, minlength=k)
        counts["revenue_sumsq"] = np.bincount(gcodes, weights=rv * rv, minlength=k)
    counts = counts.sort_index()
    srm, warns = _srm_check(counts["n"], planned_shares)
    values, rng = None, None
    revenue_method = None
    if rev_all is not None:
        if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 100:
            raise ParameterError(f"n_bootstrap: expected a whole number >= 100, found {n_bootstrap!r}.")
        rng = np.random.default_rng(random_state)
        order = np.argsort(gcodes, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(gcodes, minlength=k))]
        rv_sorted = rv[order]
        values = {lab: rv_sorted[bounds[i]:bounds[i + 1]] for i, lab in enumerate(glabels)}
        revenue_method = (
            f"Revenue is heavy-tailed (most members spend nothing, a few a lot), so the revenue-per-customer "
            f"difference, incremental revenue, net and ROI intervals are percentile bootstrap intervals "
            f"({n_bootstrap:,} resamples of the members within each arm, random_state={random_state}); p-values by "
            "Welch's t-test. ROI = (incremental revenue − cost) / cost, on revenue, not margin."
        )
    table = _full_table(counts, control, alpha, cost, revenue=rev_all is not None, values=values,
                        n_bootstrap=int(n_bootstrap), rng=rng)
    # pre-period balance
    if pre_period_cols is None:
        pre_period_cols = [
            c for c in members.columns
            if (str(c).startswith("pre_") or c == "tenure_days") and pd.api.types.is_numeric_dtype(members[c])
            and not pd.api.types.is_bool_dtype(members[c])
        ]
    else:
        pre_period_cols = list(pre_period_cols)
        missing = [c for c in pre_period_cols if c not in members.columns]
        if missing:
            raise ParameterError(f"pre_period_cols: members has no column(s) {', '.join(map(repr, missing))}.")
    treat_arms = [a for a in table["arm"] if a != control]
    if pre_period_cols:
        where = {lab: gcodes == i for i, lab in enumerate(glabels)}
        columns = {c: pd.to_numeric(members[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[keep]
                   for c in pre_period_cols}
        bal_checks, balance, bal_warns = _balance_checks(columns, where, control, treat_arms)
    else:
        bal_checks = pd.DataFrame([{"check": "pre-period balance", "statistic": np.nan, "p_value": np.nan, "ok": pd.NA,
                                    "status": "skipped",
                                    "message": "Pre-period balance check skipped: no pre-period columns (pre_period_cols=)."}])
        balance, bal_warns = pd.DataFrame(columns=_BALANCE_COLS), []
    checks = pd.concat([srm, bal_checks], ignore_index=True)[_CHECK_COLS]
    segments = note = None
    if segment_col is not None:
        segments, note = _segment_table(gcodes, glabels, y_k, members[segment_col].to_numpy()[keep], control, alpha)
    return Readout(
        table=table,
        control=control,
        alpha=alpha,
        sentence=_sentence(table, alpha, currency, outcome_name),
        checks=checks,
        warnings=warns + bal_warns,
        segments=segments,
        segments_note=note,
        balance=balance,
        rejects=rejects,
        n_rows=n_rows,
        n_set_aside=len(rejects),
        currency=currency,
        cost_per_contact=cost,
        revenue_method=revenue_method,
        outcome=outcome_name,
    )


def readout_from_counts(
    counts: pd.DataFrame,
    control: str = "control",
    *,
    cost_per_contact: float | None = None,
    alpha: float = 0.05,
    planned_shares=None,
    currency: str = "£",
    outcome_name: str = "conversion",
) -> Readout:
    """The same readout from per-arm counts, for when a client only has the summary.

    Parameters
    ----------
    counts : pandas.DataFrame
        One row per arm: ``arm, n, conversions`` and optionally ``revenue_sum`` and
        ``revenue_sumsq`` (sum of squared revenue per member). Revenue intervals are
        then normal-approximation (Welch) intervals: a bootstrap needs member rows.

    Examples
    --------
    >>> hillstrom = pd.DataFrame({"arm": ["mens", "womens", "control"],
    ...                           "n": [21307, 21387, 21306], "conversions": [3894, 3238, 2262]})
    >>> r = readout_from_counts(hillstrom, outcome_name="visit")
    >>> r.to_frame()["rate"].round(4).tolist()
    [0.1828, 0.1514, 0.1062]
    """
    alpha = _check_alpha(alpha)
    cost = _check_cost(cost_per_contact)
    if not isinstance(counts, pd.DataFrame):
        raise ParameterError(f"counts: expected a DataFrame with columns arm, n, conversions, found {type(counts).__name__}.")
    for col in ("arm", "n", "conversions"):
        if col not in counts.columns:
            raise ParameterError(f"counts: expected a column {col!r}; columns are {', '.join(map(repr, counts.columns))}.")
    has_rev = "revenue_sum" in counts.columns
    if has_rev and "revenue_sumsq" not in counts.columns:
        raise ParameterError("counts: revenue_sum needs revenue_sumsq (the sum of squared revenue per member) for its interval.")
    c = counts.copy()
    c["arm"] = c["arm"].astype(str)
    if c["arm"].duplicated().any():
        raise DataValidationError(f"counts.arm: expected one row per arm, found {c['arm'][c['arm'].duplicated()].iloc[0]!r} twice.")
    for col in ["n", "conversions"] + (["revenue_sum", "revenue_sumsq"] if has_rev else []):
        v = pd.to_numeric(c[col], errors="coerce")
        if v.isna().any() or (v < 0).any():
            i = int(np.flatnonzero(v.isna() | (v < 0))[0])
            raise DataValidationError(f"counts.{col}: expected a number >= 0, found {_v(c[col].iloc[i])} for arm {c['arm'].iloc[i]!r}.")
        c[col] = v.astype(float)
    zero = c.loc[c["n"] == 0, "arm"].tolist()
    if zero:
        raise DataValidationError(f"counts.n: arm(s) {', '.join(map(repr, zero))} have 0 members; a readout needs members in every arm.")
    if ((c["n"] % 1) != 0).any() or ((c["conversions"] % 1) != 0).any():
        raise DataValidationError("counts: n and conversions must be whole numbers.")
    over = c["conversions"] > c["n"]
    if over.any():
        a = c.loc[over, "arm"].iloc[0]
        raise DataValidationError(f"counts.conversions: arm {a!r} has more conversions than members.")
    if control not in set(c["arm"]):
        raise ParameterError(
            f"control: no arm {control!r} in counts.arm; arms found: {', '.join(map(repr, c['arm']))}. "
            "Pass control='<label of the group held out>'."
        )
    if len(c) < 2:
        raise DataValidationError("counts: only the control arm is given; nothing to compare.")
    if has_rev:
        low = c["revenue_sumsq"] < c["revenue_sum"] ** 2 / c["n"] * (1 - 1e-9)
        if low.any():
            a = c.loc[low, "arm"].iloc[0]
            raise DataValidationError(
                f"counts.revenue_sumsq: arm {a!r} has a sum of squares below revenue_sum²/n, impossible for real revenue; "
                "check that it is the sum of squared revenue per member."
            )
    arms = c.set_index("arm")
    srm, warns = _srm_check(arms["n"], planned_shares)
    table = _full_table(arms, control, alpha, cost, revenue=has_rev)
    bal = pd.DataFrame([{"check": "pre-period balance", "statistic": np.nan, "p_value": np.nan, "ok": pd.NA,
                         "status": "skipped",
                         "message": "Pre-period balance check skipped: only per-arm counts were given."}])
    revenue_method = (
        "Revenue intervals are normal-approximation (Welch) intervals from the per-arm sums and sums of squares: "
        "no bootstrap is possible without member rows, and revenue is heavy-tailed, so treat them as rough. "
        "ROI = (incremental revenue − cost) / cost, on revenue, not margin."
    ) if has_rev else None
    return Readout(
        table=table,
        control=control,
        alpha=alpha,
        sentence=_sentence(table, alpha, currency, outcome_name),
        checks=pd.concat([srm, bal], ignore_index=True)[_CHECK_COLS],
        warnings=warns,
        n_rows=len(c),
        currency=currency,
        cost_per_contact=cost,
        revenue_method=revenue_method,
        outcome=outcome_name,
    )
