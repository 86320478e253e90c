"""Experiment design: sample size and power, minimum detectable effect, holdout share, randomised assignment.

Power follows statsmodels: :class:`~statsmodels.stats.power.NormalIndPower` on Cohen's
effect size ``h = 2·asin(√p₁) − 2·asin(√p₀)`` for conversion rates, and
:class:`~statsmodels.stats.power.TTestIndPower` on ``d = effect / std`` for revenue per
customer. With more than one treatment arm each arm is compared with control at
``alpha / (arms − 1)`` (a Bonferroni split; the Holm adjustment the readout uses is
never more conservative, so the sizes are safe).

>>> s = sample_size(0.05, 0.01)
>>> s.n_per_arm, s.n_control
(8143, 8143)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.campaign._readout import _signed
from crmkit.errors import DataValidationError, ParameterError

__all__ = [
    "SampleSize",
    "sample_size",
    "sample_size_revenue",
    "minimum_detectable_effect",
    "HoldoutPlan",
    "holdout_share",
    "Assignment",
    "assign",
]


def _prob(value, name: str, *, open_low: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = np.nan
    if not (0.0 < v < 1.0):
        raise ParameterError(f"{name}: expected a number strictly between 0 and 1, found {value!r}.")
    return v


def _arms(arms) -> int:
    if not isinstance(arms, (int, np.integer)) or arms < 2:
        raise ParameterError(f"arms: expected the number of groups including control (a whole number >= 2), found {arms!r}.")
    return int(arms)


def _ratio(arms: int, control_share) -> float:
    """n_control / n_per_treatment_arm."""
    if control_share is None:
        return 1.0
    s = _prob(control_share, "control_share")
    return s / ((1.0 - s) / (arms - 1))


@dataclass(frozen=True)
class SampleSize:
    """Members needed to detect an effect with the given power.

    Attributes
    ----------
    n_per_arm : int
        Members in each treatment arm.
    n_control : int
        Members in the control (holdout) group.
    total : int
        All members: ``n_per_arm · (arms − 1) + n_control``.
    arms : int
        Groups including control.
    kind : str
        ``"conversion"`` (effect in rate points, a proportion) or ``"revenue"`` (effect in money per customer).
    baseline, effect : float
        Control rate (or revenue standard deviation for ``"revenue"``) and the effect to detect.
    effect_size : float
        Cohen's h (conversion) or d (revenue).
    power, alpha, alpha_per_comparison : float
    """

    n_per_arm: int
    n_control: int
    total: int
    arms: int
    kind: str
    baseline: float
    effect: float
    effect_size: float
    power: float
    alpha: float
    alpha_per_comparison: float
    alternative: str = "two-sided"

    def to_frame(self) -> pd.DataFrame:
        """One row per group: ``group``, ``members``."""
        groups = [f"treatment arm {i + 1}" for i in range(self.arms - 1)] if self.arms > 2 else ["treatment"]
        return pd.DataFrame({"group": groups + ["control"], "members": [self.n_per_arm] * (self.arms - 1) + [self.n_control]})

    def summary(self) -> str:
        """One sentence saying what the numbers mean."""
        if self.kind == "conversion":
            what = (
                f"a change of {_signed(100 * self.effect, '.2f')} points from a {100 * self.baseline:.2f} % conversion rate "
                f"(to {100 * (self.baseline + self.effect):.2f} %)"
            )
        else:
            what = f"a change of {_signed(self.effect, ',.2f')} in revenue per customer (standard deviation {self.baseline:,.2f})"
        split = (
            f" Each of the {self.arms - 1} arms is tested against control at alpha {self.alpha_per_comparison:.4g} "
            f"(Bonferroni split of {self.alpha:g})."
            if self.arms > 2 else ""
        )
        return (
            f"To detect {what} with {self.power:.0%} power at {self.alpha:g} significance ({self.alternative}), "
            f"you need {self.n_per_arm:,} members per treatment arm and {self.n_control:,} in control "
            f"({self.total:,} in all).{split}"
        )


def _solve_n(effect_size: float, alpha: float, power: float, ratio: float, alternative: str, t_test: bool) -> float:
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    alt = {"two-sided": "two-sided", "larger": "larger", "smaller": "smaller"}.get(alternative)
    if alt is None:
        raise ParameterError(f"alternative: expected 'two-sided', 'larger' or 'smaller', found {alternative!r}.")
    engine = TTestIndPower() if t_test else NormalIndPower()
    es = abs(effect_size) if alt == "two-sided" else effect_size
    if alt == "smaller" and es > 0 or alt == "larger" and es < 0:
        raise ParameterError(f"effect: the effect's sign contradicts alternative={alternative!r}.")
    return float(engine.solve_power(effect_size=es, nobs1=None, alpha=alpha, power=power, ratio=ratio, alternative=alt))


def sample_size(baseline_rate, effect, *, power=0.8, alpha=0.05, arms=2, control_share=None,
                alternative="two-sided") -> SampleSize:
    """Members needed to detect a change ``effect`` (absolute, in rate units: 0.005 = half a point) in a conversion rate.

    Parameters
    ----------
    baseline_rate : float
        The control group's expected conversion rate (0–1).
    effect : float
        The absolute change to detect (``baseline_rate + effect`` must lie in (0, 1)).
    power, alpha : float
        Probability of detecting the effect; significance level (before the split over arms).
    arms : int
        Groups including control.
    control_share : float, optional
        Share of all members held out as control; the treatment arms share the rest
        equally. Default: every group the same size.
    alternative : {"two-sided", "larger", "smaller"}
    """
    p0 = _prob(baseline_rate, "baseline_rate")
    try:
        eff = float(effect)
    except (TypeError, ValueError):
        eff = np.nan
    if not np.isfinite(eff) or eff == 0 or not 0 < p0 + eff < 1:
        raise ParameterError(f"effect: expected a non-zero change with baseline_rate + effect in (0, 1), found {effect!r}.")
    power = _prob(power, "power")
    alpha = _prob(alpha, "alpha")
    k = _arms(arms)
    ratio = _ratio(k, control_share)
    from statsmodels.stats.proportion import proportion_effectsize

    h = float(proportion_effectsize(p0 + eff, p0))
    a_each = alpha / (k - 1)
    n1 = _solve_n(h, a_each, power, ratio, alternative, t_test=False)
    n_t = int(math.ceil(n1))
    n_c = int(math.ceil(n1 * ratio))
    return SampleSize(n_t, n_c, n_t * (k - 1) + n_c, k, "conversion", p0, eff, h, power, alpha, a_each, alternative)


def sample_size_revenue(std, effect, *, power=0.8, alpha=0.05, arms=2, control_share=None,
                        alternative="two-sided") -> SampleSize:
    """Members needed to detect a change ``effect`` in revenue per customer (money), given its standard deviation.

    ``std`` is the standard deviation of revenue per member (zeros included), best taken
    from a past campaign's control group (e.g. ``members.revenue.std()``). Revenue is
    heavy-tailed; the t-test power is a large-sample approximation, so treat small
    answers (a few hundred) as optimistic.
    """
    try:
        sd = float(std)
        eff = float(effect)
    except (TypeError, ValueError):
        raise ParameterError(f"std, effect: expected numbers, found {std!r}, {effect!r}.") from None
    if not np.isfinite(sd) or sd <= 0:
        raise ParameterError(f"std: expected a standard deviation > 0, found {std!r}.")
    if not np.isfinite(eff) or eff == 0:
        raise ParameterError(f"effect: expected a non-zero change in revenue per customer, found {effect!r}.")
    power = _prob(power, "power")
    alpha = _prob(alpha, "alpha")
    k = _arms(arms)
    ratio = _ratio(k, control_share)
    d = eff / sd
    a_each = alpha / (k - 1)
    n1 = _solve_n(d, a_each, power, ratio, alternative, t_test=True)
    n_t = int(math.ceil(n1))
    n_c = int(math.ceil(n1 * ratio))
    return SampleSize(n_t, n_c, n_t * (k - 1) + n_c, k, "revenue", sd, eff, d, power, alpha, a_each, alternative)


def _h_to_rate(p0: float, h: float) -> float:
    return float(np.sin(np.arcsin(np.sqrt(p0)) + h / 2) ** 2)


def minimum_detectable_effect(n_treatment, n_control, baseline_rate, *, power=0.8, alpha=0.05) -> float:
    """The smallest increase in the conversion rate (absolute, rate units) detectable with these group sizes.

    Two-sided test at ``alpha``, ``power`` (NormalIndPower on Cohen's h, converted back
    to a rate: ``p₁ = sin²(asin(√p₀) + h/2)``; the result is ``p₁ − p₀``).

    >>> round(minimum_detectable_effect(8143, 8143, 0.05), 4)
    0.01
    """
    from statsmodels.stats.power import NormalIndPower

    p0 = _prob(baseline_rate, "baseline_rate")
    for name, v in (("n_treatment", n_treatment), ("n_control", n_control)):
        if not isinstance(v, (int, np.integer, float)) or not v >= 2:
            raise ParameterError(f"{name}: expected a group size >= 2, found {v!r}.")
    power = _prob(power, "power")
    alpha = _prob(alpha, "alpha")
    h = float(NormalIndPower().solve_power(effect_size=None, nobs1=float(n_treatment), alpha=alpha, power=power,
                                           ratio=float(n_control) / float(n_treatment), alternative="two-sided"))
    top = np.pi - 2 * np.arcsin(np.sqrt(p0))
    if h >= top:
        return float(1.0 - p0)
    return _h_to_rate(p0, h) - p0


def _power(n_t: float, n_c: float, p0: float, eff: float, alpha: float) -> float:
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    h = abs(float(proportion_effectsize(p0 + eff, p0)))
    return float(NormalIndPower().power(effect_size=h, nobs1=n_t, alpha=alpha, ratio=n_c / n_t, alternative="two-sided"))


@dataclass(frozen=True)
class HoldoutPlan:
    """The holdout (control) share a campaign can afford.

    Attributes
    ----------
    share : float or None
        Recommended holdout share: the larger of ``smallest_share`` and ``budget_share``
        (None when the effect cannot be detected at any split of this audience).
    smallest_share : float or None
        Smallest holdout share whose test still has the wanted power (a smaller holdout
        means more customers contacted but an unmeasurable result).
    budget_share : float
        Holdout the budget forces: ``1 − (budget / cost_per_contact) / n_available``
        (0 when the budget can contact everyone or none is given).
    power_at_share : float
        Power of the test at ``share`` (NaN when ``share`` is None).
    max_power : float
        Power at a 50/50 split, the most this audience can give.
    """

    n_available: int
    baseline_rate: float
    effect: float
    power: float
    alpha: float
    share: float | None
    smallest_share: float | None
    budget_share: float
    power_at_share: float
    max_power: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "n_available": self.n_available, "baseline_rate": self.baseline_rate, "effect": self.effect,
            "power": self.power, "alpha": self.alpha, "share": self.share, "smallest_share": self.smallest_share,
            "budget_share": self.budget_share, "power_at_share": self.power_at_share, "max_power": self.max_power,
            "n_control": None if self.share is None else int(round(self.share * self.n_available)),
        }])

    def summary(self) -> str:
        if self.share is None:
            return (
                f"With {self.n_available:,} customers a change of {_signed(100 * self.effect, '.2f')} points cannot be detected with "
                f"{self.power:.0%} power at any split (at most {self.max_power:.0%} at 50/50); contact more customers "
                "or accept a larger minimum detectable effect."
            )
        text = (
            f"Hold out {self.share:.1%} of {self.n_available:,} customers ({round(self.share * self.n_available):,} in "
            f"control): the test then has {self.power_at_share:.0%} power to detect {_signed(100 * self.effect, '.2f')} points "
            f"from {100 * self.baseline_rate:.2f} %."
        )
        if self.budget_share > (self.smallest_share or 0):
            text += f" The budget alone leaves {self.budget_share:.1%} uncontacted, which serves as the holdout."
        return text


def holdout_share(n_available, baseline_rate, effect, *, power=0.8, alpha=0.05, budget=None,
                  cost_per_contact=None) -> HoldoutPlan:
    """How much of an audience to hold out: the smallest control share that still measures ``effect``.

    A holdout costs the conversions it would have brought; too small a holdout leaves
    the result unmeasurable. This finds the smallest control share ``s`` (≤ 0.5) with
    ``power`` to detect an absolute change ``effect`` from ``baseline_rate`` (two-sided
    pooled z-test, NormalIndPower on Cohen's h, ``n_control = s·N``,
    ``n_treatment = (1 − s)·N``). With a ``budget`` and ``cost_per_contact`` the budget
    caps the contacts at ``budget / cost_per_contact``; the rest of the audience is
    held out anyway (``budget_share``), and the recommendation is the larger of the two.

    >>> plan = holdout_share(100_000, 0.05, 0.005)
    >>> round(plan.smallest_share, 3)
    0.194
    """
    from scipy.optimize import brentq

    if not isinstance(n_available, (int, np.integer)) or n_available < 4:
        raise ParameterError(f"n_available: expected the number of customers eligible (>= 4), found {n_available!r}.")
    p0 = _prob(baseline_rate, "baseline_rate")
    eff = float(effect)
    if eff == 0 or not 0 < p0 + eff < 1:
        raise ParameterError(f"effect: expected a non-zero change with baseline_rate + effect in (0, 1), found {effect!r}.")
    power = _prob(power, "power")
    alpha = _prob(alpha, "alpha")
    budget_share = 0.0
    if budget is not None or cost_per_contact is not None:
        if budget is None or cost_per_contact is None or float(cost_per_contact) <= 0 or float(budget) < 0:
            raise ParameterError("budget, cost_per_contact: give both, budget >= 0 and cost_per_contact > 0.")
        contacts = float(budget) / float(cost_per_contact)
        budget_share = float(max(0.0, 1.0 - contacts / n_available))
    n = float(n_available)

    def pw(s):
        return _power((1 - s) * n, s * n, p0, eff, alpha)

    max_power = pw(0.5)
    if max_power < power:
        return HoldoutPlan(int(n), p0, eff, power, alpha, None, None, budget_share, np.nan, max_power)
    lo = 1.0 / n
    smallest = lo if pw(lo) >= power else float(brentq(lambda s: pw(s) - power, lo, 0.5, xtol=1e-6))
    share = max(smallest, budget_share)
    return HoldoutPlan(int(n), p0, eff, power, alpha, share, smallest, budget_share, pw(min(share, 1 - lo)), max_power)


# --------------------------------------------------------------------------- assignment


@dataclass(frozen=True, eq=False)
class Assignment:
    """A randomised assignment of rows to arms.

    Attributes
    ----------
    frame : pandas.DataFrame
        The input rows with a ``group`` column (see :meth:`to_frame`).
    arms : dict
        Planned shares (as given, normalised).
    balance : pandas.DataFrame
        One row per arm: ``n``, ``share`` (realised), ``planned_share``, then
        ``share__<stratum>`` (share of the arm's rows in each stratum) and
        ``smd__<column>`` (standardised mean difference of each numeric column against
        the control arm — the arm named ``control``, else the last arm).
    stratify : str or None
    random_state : int or None
    """

    frame: pd.DataFrame
    arms: dict
    balance: pd.DataFrame
    stratify: str | None
    random_state: object

    def to_frame(self) -> pd.DataFrame:
        """The input rows plus ``group`` (the assigned arm)."""
        return self.frame.copy()

    def summary(self) -> str:
        b = self.balance
        parts = ", ".join(f"{a}: {n:,} ({s:.1%})" for a, n, s in zip(b["arm"], b["n"], b["share"]))
        smd = b.filter(like="smd__")
        worst = float(np.nanmax(np.abs(smd.to_numpy()))) if smd.size and np.isfinite(smd.to_numpy()).any() else np.nan
        text = f"{len(self.frame):,} rows assigned" + (f" within strata of {self.stratify}" if self.stratify else "") + f": {parts}."
        if np.isfinite(worst):
            text += f" Largest |standardised mean difference| against control: {worst:.3f}."
        return text


def assign(frame: pd.DataFrame, arms=None, *, stratify: str | None = None, random_state=0,
           group_col: str = "group") -> Assignment:
    """Randomly assign rows to arms with given shares, reproducibly, optionally within strata.

    Within each stratum (or the whole frame) the rows are shuffled and cut into arms of
    ``round(share · n)`` rows (largest remainders, ties broken at random), so shares
    are met as exactly as whole rows allow and every stratum is split the same way.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per customer (never modified).
    arms : mapping arm -> share, default ``{"treatment": 0.85, "control": 0.15}``
        Shares > 0 summing to 1.
    stratify : str, optional
        Column to stratify by (segment, region); missing values form their own stratum.
    random_state : int, optional
        Seed: the same seed and rows give the same assignment.

    Examples
    --------
    >>> f = pd.DataFrame({"region": ["N", "S"] * 50}, index=pd.Index(range(100), name="customer_id"))
    >>> a = assign(f, {"treatment": 0.8, "control": 0.2}, stratify="region", random_state=1)
    >>> a.to_frame().groupby(["region", "group"]).size().tolist()
    [10, 40, 10, 40]
    """
    if arms is None:
        arms = {"treatment": 0.85, "control": 0.15}
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame: expected a pandas DataFrame with one row per customer, found {type(frame).__name__}.")
    if len(frame) == 0:
        raise DataValidationError("frame: no rows to assign.")
    if not isinstance(arms, (dict, pd.Series)) or len(arms) < 2:
        raise ParameterError(f"arms: expected a mapping of at least two arms to shares, found {arms!r}.")
    shares = pd.Series(arms, dtype=float)
    shares.index = shares.index.astype(str)
    if (shares <= 0).any() or not np.isfinite(shares).all() or abs(shares.sum() - 1) > 1e-6:
        raise ParameterError(f"arms: expected shares > 0 summing to 1, found {dict(arms)} (sum {shares.sum():.4g}).")
    if stratify is not None and stratify not in frame.columns:
        raise ParameterError(f"stratify: frame has no column {stratify!r}; columns are {', '.join(map(repr, frame.columns))}.")
    if group_col in frame.columns:
        raise ParameterError(f"frame already has a column {group_col!r}; pass group_col= to name the new one.")
    rng = np.random.default_rng(random_state)
    names = shares.index.to_numpy()
    p = shares.to_numpy()
    out = np.empty(len(frame), dtype=object)
    strata = (frame[stratify].astype("string").fillna("(missing)") if stratify else pd.Series("all", index=frame.index))
    codes, uniques = pd.factorize(strata, sort=True)
    for s in range(len(uniques)):
        pos = np.flatnonzero(codes == s)
        n = len(pos)
        exact = p * n
        counts = np.floor(exact).astype(int)
        left = n - counts.sum()
        if left:
            frac = exact - counts + rng.random(len(p)) * 1e-9
            counts[np.argsort(-frac)[:left]] += 1
        labels = np.repeat(names, counts)
        out[pos[rng.permutation(n)]] = labels
    result = frame.copy()
    result[group_col] = pd.array(out, dtype="string")
    control = "control" if "control" in names else names[-1]
    rows = []
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    cvals = {c: frame.loc[out == control, c].astype(float) for c in numeric}
    for arm, planned in zip(names, p):
        mask = out == arm
        row = {"arm": arm, "n": int(mask.sum()), "share": float(mask.mean()), "planned_share": float(planned)}
        if stratify:
            sub = strata[mask].value_counts(normalize=True)
            for u in uniques:
                row[f"share__{u}"] = float(sub.get(u, 0.0))
        for c in numeric:
            a, b = frame.loc[mask, c].astype(float), cvals[c]
            sd = np.sqrt((a.var() + b.var()) / 2)
            row[f"smd__{c}"] = float((a.mean() - b.mean()) / sd) if sd > 0 else 0.0
        rows.append(row)
    return Assignment(result, dict(zip(names, p)), pd.DataFrame(rows), stratify, random_state)
