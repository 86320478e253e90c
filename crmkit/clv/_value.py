"""Customer lifetime value: expected purchases × expected spend, discounted, per customer.

Time units and discounting are explicit: the horizon is in the model's time unit, the
discount rate carries its own unit ("year" for an annual rate, or a time unit), and
the result states the horizon, the unit and the rate both per year and per period.

>>> import numpy as np
>>> per_period_discount_rate(0.10, "year", "W")   # 10 % a year, compounded weekly
0.0018282...
>>> round(per_period_discount_rate(0.01, "M", "M"), 6)
0.01
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crmkit.clv._base import TIME_UNITS, check_time_unit, chunked, column_values, fmt_number, unit_label
from crmkit.clv._discrete import BetaGeoBetaBinom
from crmkit.clv._spend import GammaGamma
from crmkit.clv._transaction import _TransactionModel
from crmkit.errors import ParameterError

__all__ = [
    "customer_lifetime_value",
    "iter_customer_value",
    "per_period_discount_rate",
    "CustomerValue",
    "VALUE_COLUMNS",
]

#: Per-customer columns of :class:`CustomerValue` (``to_frame`` adds the stated terms and the tier).
VALUE_COLUMNS = ("prob_alive", "expected_purchases", "discounted_purchases", "expected_spend", "clv")

_RATE_UNITS = {"year": "Y", "period": None, **{k: k for k in TIME_UNITS}}


def per_period_discount_rate(discount_rate: float, discount_rate_unit: str, time_unit: str | None) -> float:
    """The discount rate per ``time_unit`` equivalent to ``discount_rate`` per ``discount_rate_unit``.

    Rates compound: ``(1 + d_unit) ** (length of time_unit / length of rate unit) − 1``.

    Parameters
    ----------
    discount_rate : float
        A fraction (0.10 for 10 %), ≥ 0 and ≤ 1. A value above 1 is refused, because it
        is almost always a percentage typed as a number.
    discount_rate_unit : {"year", "period", "D", "W", "M", "Y"}
        What the rate is per: a year, one period of the model (its time unit), or a unit.
    time_unit : {"D", "W", "M", "Y"} or None
        The model's time unit; may be None only for ``discount_rate_unit="period"``.
    """
    if isinstance(discount_rate, bool) or not isinstance(discount_rate, (int, float, np.floating)) or not (
        math.isfinite(discount_rate) and discount_rate >= 0
    ):
        raise ParameterError(f"discount_rate: expected a fraction ≥ 0 (0.10 for 10 %), found {discount_rate!r}.")
    if discount_rate > 1:
        raise ParameterError(
            f"discount_rate: expected a fraction (0.10 for 10 %), found {discount_rate!r}; a rate above 100 % is "
            f"almost always a percentage typed as a number. Pass {discount_rate / 100:g} for {discount_rate:g} %."
        )
    if discount_rate_unit not in _RATE_UNITS:
        raise ParameterError(
            f"discount_rate_unit: expected 'year' (an annual rate), 'period' (per period of the model) or one of "
            f"{', '.join(repr(k) for k in TIME_UNITS)}, found {discount_rate_unit!r}."
        )
    rate_unit = _RATE_UNITS[discount_rate_unit]
    if rate_unit is None:
        return float(discount_rate)
    if time_unit is None:
        raise ParameterError(
            f"discount_rate_unit={discount_rate_unit!r} needs the model's time unit to convert the rate, but it is "
            f"unknown; pass time_unit, or give the rate per period with discount_rate_unit='period'."
        )
    ratio = TIME_UNITS[time_unit][2] / TIME_UNITS[rate_unit][2]
    return float(math.expm1(ratio * math.log1p(discount_rate)))


def _annual_rate(per_period: float, time_unit: str | None) -> float:
    if time_unit is None:
        return float("nan")
    return float(math.expm1(TIME_UNITS["Y"][2] / TIME_UNITS[time_unit][2] * math.log1p(per_period)))


@dataclass(frozen=True, eq=False)
class CustomerValue:
    """Expected customer lifetime value per customer, with the terms it was computed under.

    Attributes
    ----------
    values : pandas.DataFrame
        Indexed like the summary: ``prob_alive``; ``expected_purchases`` (undiscounted,
        over the horizon); ``discounted_purchases``; ``expected_spend`` (per purchase,
        currency units); ``clv`` = ``margin × expected_spend × discounted_purchases``.
    horizon : float
        In ``time_unit``.
    time_unit : str
    discount_rate, discount_rate_unit : float, str
        As given.
    discount_rate_per_period, annual_discount_rate : float
        The same rate per period of ``time_unit`` and per year (compounded).
    margin : float
        Share of spend counted as value (1.0 = revenue).
    currency : str
    transaction_model, spend_model : str
        Which models produced it.
    total_interval : tuple of float or None
        2.5 % and 97.5 % quantiles of the total CLV under the parameters' estimation
        uncertainty (both models), from ``interval_draws`` parameter draws; None without.
    interval_draws : int
    """

    values: pd.DataFrame
    horizon: float
    time_unit: str
    discount_rate: float
    discount_rate_unit: str
    discount_rate_per_period: float
    annual_discount_rate: float
    margin: float
    currency: str
    transaction_model: str
    spend_model: str
    total_interval: tuple[float, float] | None = None
    interval_draws: int = 0
    tier_cuts: tuple[float, ...] = field(default=(0.05, 0.20, 0.50))

    # -- terms ----------------------------------------------------------------------
    @property
    def terms(self) -> str:
        """One sentence stating horizon, unit, discounting and margin."""
        unit = unit_label(self.time_unit, self.horizon)
        annual = "" if math.isnan(self.annual_discount_rate) else f"{self.annual_discount_rate:.1%} a year = "
        return (
            f"Horizon {fmt_number(self.horizon)} {unit}; discounted at {annual}"
            f"{self.discount_rate_per_period:.4%} per {unit_label(self.time_unit, 1)}; margin {self.margin:.0%} of spend."
        )

    def tier_labels(self) -> list[str]:
        """``Top 5%``, ``Next 15%``, … ``Bottom 50%`` for the tier cuts."""
        cuts = list(self.tier_cuts)
        labels = [f"Top {cuts[0]:.0%}"]
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            labels.append(f"Next {hi - lo:.0%}")
        labels.append(f"Bottom {1 - cuts[-1]:.0%}")
        return labels

    def value_tier(self) -> pd.Series:
        """Each customer's value tier by CLV rank (ties broken by order in the summary)."""
        clv = self.values["clv"].to_numpy()
        n = len(clv)
        order = np.argsort(-clv, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        share = (rank + 0.5) / max(n, 1)
        codes = np.searchsorted(np.asarray(self.tier_cuts), share, side="right")
        labels = self.tier_labels()
        cat = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
        return pd.Series(cat, index=self.values.index, name="value_tier")

    def to_frame(self) -> pd.DataFrame:
        """One row per customer: the values, the value tier and the stated terms."""
        out = self.values.copy()
        out["value_tier"] = self.value_tier()
        out["horizon"] = self.horizon
        out["time_unit"] = self.time_unit
        out["annual_discount_rate"] = self.annual_discount_rate
        out["discount_rate_per_period"] = self.discount_rate_per_period
        out["margin"] = self.margin
        out.attrs.update(currency=self.currency, terms=self.terms)
        return out

    def summary(self) -> pd.DataFrame:
        """Headline figures: customers, total and typical CLV (with its interval), concentration, terms."""
        clv = self.values["clv"]
        total = float(clv.sum())
        top = clv.sort_values(ascending=False)
        k = max(1, int(round(0.1 * len(top))))
        low, high = self.total_interval if self.total_interval is not None else (np.nan, np.nan)
        rows = {
            "customers": float(len(clv)),
            "total_clv": total,
            "total_clv_low_95%": low,
            "total_clv_high_95%": high,
            "mean_clv": float(clv.mean()) if len(clv) else np.nan,
            "median_clv": float(clv.median()) if len(clv) else np.nan,
            "top_10%_share_of_value": float(top.iloc[:k].sum() / total) if total > 0 else np.nan,
            "expected_purchases": float(self.values["expected_purchases"].sum()),
            "mean_prob_alive": float(self.values["prob_alive"].mean()) if len(clv) else np.nan,
            "horizon": self.horizon,
            "annual_discount_rate": self.annual_discount_rate,
            "discount_rate_per_period": self.discount_rate_per_period,
            "margin": self.margin,
        }
        out = pd.DataFrame({"value": list(rows.values())}, index=pd.Index(list(rows), name="measure"))
        out.attrs.update(time_unit=self.time_unit, currency=self.currency, terms=self.terms)
        return out

    def tiers(self) -> pd.DataFrame:
        """Per value tier: customers, value, its share, mean CLV, P(alive) and expected purchases."""
        frame = self.values.assign(value_tier=self.value_tier())
        g = frame.groupby("value_tier", observed=False)
        total = float(frame["clv"].sum())
        out = pd.DataFrame(
            {
                "customers": g.size().astype("int64"),
                "clv_total": g["clv"].sum(),
                "clv_mean": g["clv"].mean(),
                "clv_min": g["clv"].min(),
                "prob_alive_mean": g["prob_alive"].mean(),
                "expected_purchases_mean": g["expected_purchases"].mean(),
            }
        )
        out.insert(1, "share_of_customers", out["customers"] / max(len(frame), 1))
        out.insert(3, "share_of_value", out["clv_total"] / total if total > 0 else np.nan)
        out.attrs.update(currency=self.currency, terms=self.terms)
        return out

    def top(self, n: int = 20) -> pd.DataFrame:
        """The ``n`` customers with the highest CLV (ids and figures only)."""
        return self.values.sort_values("clv", ascending=False, kind="stable").head(n)

    def plot(self, kind: str = "distribution"):
        """A plotly Figure: ``"distribution"`` (histogram of CLV), ``"tiers"`` (share of
        customers vs share of value per tier) or ``"concentration"`` (cumulative share of
        value against share of customers, best first)."""
        import plotly.graph_objects as go

        cur = self.currency
        unit = unit_label(self.time_unit, self.horizon)
        horizon = f"{fmt_number(self.horizon)} {unit}"
        clv = self.values["clv"]
        if kind == "distribution":
            cap = float(clv.quantile(0.99)) if len(clv) else 0.0
            shown = clv[clv <= cap]
            fig = go.Figure(go.Histogram(x=shown, nbinsx=60, name="customers"))
            fig.update_layout(
                title=f"Expected customer lifetime value over the next {horizon} (up to the 99th percentile)",
                xaxis_title=f"Expected lifetime value ({cur}, discounted)",
                yaxis_title="Customers (count)",
                bargap=0.02,
            )
            return fig
        if kind == "tiers":
            t = self.tiers()
            fig = go.Figure()
            fig.add_bar(x=t.index.astype(str), y=100 * t["share_of_customers"], name="share of customers")
            fig.add_bar(x=t.index.astype(str), y=100 * t["share_of_value"], name="share of value")
            fig.update_layout(
                title=f"Value tiers: share of customers and of expected value ({horizon})",
                xaxis_title="Value tier (by expected lifetime value)",
                yaxis_title="Share (%)",
                barmode="group",
            )
            return fig
        if kind == "concentration":
            v = np.sort(clv.to_numpy())[::-1]
            total = v.sum()
            cum = np.concatenate([[0.0], np.cumsum(v) / total]) if total > 0 else np.zeros(len(v) + 1)
            share = np.linspace(0, 1, len(v) + 1)
            step = max(1, len(v) // 2000)
            fig = go.Figure()
            fig.add_scatter(x=100 * share[::step], y=100 * cum[::step], mode="lines", name="customers, best first")
            fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", line={"dash": "dot"}, name="equal value")
            fig.update_layout(
                title=f"Concentration of expected value ({horizon})",
                xaxis_title="Customers, highest value first (% of customers)",
                yaxis_title="Cumulative expected value (% of total)",
            )
            return fig
        raise ParameterError(f"kind: expected 'distribution', 'tiers' or 'concentration', found {kind!r}.")


# --------------------------------------------------------------------------- computing


def _check_models(transaction_model, spend_model):
    if not isinstance(transaction_model, (_TransactionModel, BetaGeoBetaBinom)):
        raise ParameterError(
            "transaction_model: expected a fitted BetaGeo, ModifiedBetaGeo, ParetoNBD or BetaGeoBetaBinom, "
            f"found {type(transaction_model).__name__}."
        )
    transaction_model._check_fitted()
    if isinstance(spend_model, GammaGamma):
        spend_model._check_fitted()
    elif isinstance(spend_model, bool) or not isinstance(spend_model, (int, float, np.floating)) or spend_model < 0:
        raise ParameterError(
            "spend_model: expected a fitted GammaGamma or a spend per purchase ≥ 0 (a number), "
            f"found {spend_model!r}."
        )


def _resolve_terms(transaction_model, horizon, time_unit, discount_rate, discount_rate_unit, margin):
    time_unit = check_time_unit(time_unit, allow_none=False)
    model_unit = getattr(transaction_model, "time_unit_", None)
    if model_unit is not None and model_unit != time_unit:
        raise ParameterError(
            f"time_unit: the {type(transaction_model).__name__} was fitted in {unit_label(model_unit)}, but "
            f"time_unit={time_unit!r} ({unit_label(time_unit)}) was passed. Give the horizon in "
            f"{unit_label(model_unit)} with time_unit={model_unit!r} (e.g. 52 weeks, 365 days, 12 months for a year)."
        )
    if isinstance(horizon, bool) or not isinstance(horizon, (int, float, np.integer, np.floating)) or not (
        math.isfinite(horizon) and horizon > 0
    ):
        raise ParameterError(f"horizon: expected a time span > 0 in {unit_label(time_unit)}, found {horizon!r}.")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.floating)) or not 0 < margin <= 1:
        raise ParameterError(f"margin: expected the share of spend that is profit, in (0, 1], found {margin!r}.")
    per_period = per_period_discount_rate(discount_rate, discount_rate_unit, time_unit)
    return time_unit, float(horizon), per_period


def _inputs(transaction_model, spend_model, summary, frequency_col, recency_col, T_col, n_periods_col, monetary_value_col):
    if isinstance(transaction_model, BetaGeoBetaBinom):
        arrays = transaction_model._arrays(summary, frequency_col, recency_col, n_periods_col)
    else:
        arrays = transaction_model._arrays(summary, frequency_col, recency_col, T_col)
    if isinstance(spend_model, GammaGamma):
        m = column_values(summary, monetary_value_col, what="summary", arg="monetary_value_col", role="mean spend per repeat purchase")
        m = np.maximum(m, 0.0)
    else:
        m = None
    return arrays, m


def _score(tm, tp, sm, sp, arrays, m, horizon, delta, margin, chunk_size):
    n = len(arrays[0])
    out = {c: np.empty(n) for c in VALUE_COLUMNS}
    for sl in chunked(n, chunk_size):
        a = tuple(arr[sl] for arr in arrays)
        disc, plain = tm._discounted_purchases(tp, *a, horizon, delta)
        spend = sm._mean_spend(sp, a[0], m[sl]) if sm is not None else np.full(len(a[0]), float(sp))
        out["prob_alive"][sl] = tm._prob_alive(tp, *a)
        out["expected_purchases"][sl] = plain
        out["discounted_purchases"][sl] = disc
        out["expected_spend"][sl] = spend
        out["clv"][sl] = margin * spend * disc
    return out


def customer_lifetime_value(
    transaction_model,
    spend_model,
    summary: pd.DataFrame,
    horizon: float,
    time_unit: str,
    discount_rate: float,
    discount_rate_unit: str,
    *,
    margin: float = 1.0,
    currency: str = "",
    interval_draws: int = 100,
    interval_sample: int = 2_000,
    random_state: int | None = 0,
    chunk_size: int = 250_000,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    n_periods_col: str = "n_periods",
    monetary_value_col: str = "monetary_value",
) -> CustomerValue:
    """Expected, discounted customer lifetime value over a horizon, per customer.

    ``clv = margin × expected spend per purchase × Σ discounted expected purchases``, where
    the expected purchases come from ``transaction_model`` (given each customer's history)
    and the spend from ``spend_model`` (Gamma-Gamma, or one number for everybody).
    Purchases are discounted continuously at the per-period rate: a purchase expected at
    time u (in ``time_unit``) counts ``(1 + d) ** -u``; for the discrete BG/BB, a purchase
    in the k-th future period counts ``(1 + d) ** -k``.

    Parameters
    ----------
    transaction_model : BetaGeo, ModifiedBetaGeo, ParetoNBD or BetaGeoBetaBinom
        Fitted.
    spend_model : GammaGamma or float
        Fitted Gamma-Gamma, or a spend per purchase for everybody (currency units).
    summary : pandas.DataFrame
        The customers to value, with the columns the models use (frequency, recency, T or
        n_periods, monetary_value for Gamma-Gamma), in the model's time unit.
    horizon : float
        How far ahead, in ``time_unit`` (whole periods for BG/BB).
    time_unit : {"D", "W", "M", "Y"}
        The time unit of ``horizon`` and of the summary; must be the one the model was
        fitted in (when the model knows it).
    discount_rate : float
        A fraction: 0.10 for 10 %.
    discount_rate_unit : {"year", "period", "D", "W", "M", "Y"}
        What ``discount_rate`` is per — stated explicitly, so that an annual rate is
        never applied per week. It is converted to a per-period rate by compounding.
    margin : float, default 1.0
        Share of spend that counts as value (1.0 = revenue).
    currency : str
        Shown in the result's figures.
    interval_draws : int, default 100
        Parameter draws (both models, from their estimates' asymptotic normal
        distributions) for an interval around the total CLV; 0 for none. The draws are
        evaluated on a random sample of ``interval_sample`` customers and the relative
        spread applied to the total.
    interval_sample : int, default 2000
    random_state : int, optional
        For the parameter draws and the sample.
    chunk_size : int
        Customers scored at once; memory beyond input and output does not grow with
        the number of customers.
    frequency_col, recency_col, T_col, n_periods_col, monetary_value_col : str
        Column names.

    Returns
    -------
    CustomerValue
        ``values`` per customer, the terms (horizon, unit, rates per year and per
        period), ``summary()``, ``tiers()``, ``to_frame()``, ``plot()``.

    Examples
    --------
    >>> from crmkit.clv import BetaGeo, simulate_bgnbd
    >>> s = simulate_bgnbd(2_000, T=52, r=0.25, alpha=4.0, a=0.8, b=2.5, random_state=0, time_unit="W")
    >>> bg = BetaGeo().fit(s)
    >>> cv = customer_lifetime_value(bg, 25.0, s, horizon=52, time_unit="W", discount_rate=0.1,
    ...                              discount_rate_unit="year", currency="£", interval_draws=0)
    >>> cv.terms
    'Horizon 52 weeks; discounted at 10.0% a year = 0.1828% per week; margin 100% of spend.'
    >>> bool((cv.values["clv"] <= 25.0 * cv.values["expected_purchases"] + 1e-9).all())
    True
    """
    _check_models(transaction_model, spend_model)
    time_unit, horizon, per_period = _resolve_terms(
        transaction_model, horizon, time_unit, discount_rate, discount_rate_unit, margin
    )
    arrays, m = _inputs(
        transaction_model, spend_model, summary, frequency_col, recency_col, T_col, n_periods_col, monetary_value_col
    )
    delta = math.log1p(per_period)
    tp = transaction_model.params_.to_numpy(dtype=float)
    sm = spend_model if isinstance(spend_model, GammaGamma) else None
    sp = spend_model.params_.to_numpy(dtype=float) if sm is not None else float(spend_model)
    out = _score(transaction_model, tp, sm, sp, arrays, m, horizon, delta, float(margin), chunk_size)
    values = pd.DataFrame(out, index=summary.index.copy())
    interval = None
    if interval_draws:
        if isinstance(interval_draws, bool) or not isinstance(interval_draws, (int, np.integer)) or interval_draws < 10:
            raise ParameterError(f"interval_draws: expected 0 or a whole number ≥ 10, found {interval_draws!r}.")
        rng = np.random.default_rng(random_state)
        n = len(arrays[0])
        idx = np.sort(rng.choice(n, size=min(n, int(interval_sample)), replace=False)) if n else np.array([], int)
        sub = tuple(a[idx] for a in arrays)
        msub = m[idx] if m is not None else None
        base = float(out["clv"][idx].sum())
        t_draws = transaction_model._param_draws(int(interval_draws), rng)
        s_draws = sm._param_draws(int(interval_draws), rng) if sm is not None else [sp] * int(interval_draws)
        ratios = []
        for tpd, spd in zip(t_draws, s_draws):
            if sm is not None and spd[1] <= 1:  # q <= 1: no finite mean spend under this draw
                continue
            with np.errstate(all="ignore"):
                d = _score(transaction_model, tpd, sm, spd, sub, msub, horizon, delta, float(margin), chunk_size)
            total = float(np.sum(d["clv"]))
            if math.isfinite(total):
                ratios.append(total / base if base > 0 else np.nan)
        total_all = float(out["clv"].sum())
        if len(ratios) >= 10 and base > 0:
            lo, hi = np.nanquantile(ratios, [0.025, 0.975])
            interval = (total_all * float(lo), total_all * float(hi))
    return CustomerValue(
        values=values,
        horizon=horizon,
        time_unit=time_unit,
        discount_rate=float(discount_rate),
        discount_rate_unit=discount_rate_unit,
        discount_rate_per_period=per_period,
        annual_discount_rate=_annual_rate(per_period, time_unit),
        margin=float(margin),
        currency=currency,
        transaction_model=type(transaction_model).__name__,
        spend_model=type(spend_model).__name__ if sm is not None else f"fixed spend {spend_model:g}",
        total_interval=interval,
        interval_draws=int(interval_draws),
    )


def iter_customer_value(
    batches: Iterable[pd.DataFrame],
    transaction_model,
    spend_model,
    horizon: float,
    time_unit: str,
    discount_rate: float,
    discount_rate_unit: str,
    *,
    margin: float = 1.0,
    chunk_size: int = 250_000,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    n_periods_col: str = "n_periods",
    monetary_value_col: str = "monetary_value",
) -> Iterator[pd.DataFrame]:
    """Score customers batch by batch, in constant memory: one frame of values per input batch.

    For customer tables too large to hold at once (read them in batches, e.g. from
    DuckDB with ``fetch_record_batch`` or ``pyarrow.parquet.ParquetFile.iter_batches``),
    this yields, per batch, the :data:`VALUE_COLUMNS` indexed like the batch. The terms
    are the same as in :func:`customer_lifetime_value` (no parameter-uncertainty interval).

    Examples
    --------
    >>> from crmkit.clv import BetaGeo, simulate_bgnbd
    >>> s = simulate_bgnbd(1_000, T=52, r=0.25, alpha=4.0, a=0.8, b=2.5, random_state=0, time_unit="W")
    >>> bg = BetaGeo().fit(s)
    >>> parts = iter_customer_value((s.iloc[i:i + 400] for i in range(0, 1_000, 400)), bg, 25.0,
    ...                             52, "W", 0.1, "year")
    >>> sum(len(p) for p in parts)
    1000
    """
    _check_models(transaction_model, spend_model)
    time_unit, horizon, per_period = _resolve_terms(
        transaction_model, horizon, time_unit, discount_rate, discount_rate_unit, margin
    )
    delta = math.log1p(per_period)
    tp = transaction_model.params_.to_numpy(dtype=float)
    sm = spend_model if isinstance(spend_model, GammaGamma) else None
    sp = spend_model.params_.to_numpy(dtype=float) if sm is not None else float(spend_model)
    for batch in batches:
        arrays, m = _inputs(
            transaction_model, spend_model, batch, frequency_col, recency_col, T_col, n_periods_col, monetary_value_col
        )
        out = _score(transaction_model, tp, sm, sp, arrays, m, horizon, delta, float(margin), chunk_size)
        yield pd.DataFrame(out, index=batch.index.copy())
