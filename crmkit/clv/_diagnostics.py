"""Checking a CLV model on data it has not seen: calibration/holdout split, holdout purchases by
frequency, the cumulative tracking plot, and the P(alive) matrix.

>>> import pandas as pd
>>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
...                    "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-02-20",
...                                                  "2024-01-03", "2024-01-04", "2024-02-01"]),
...                    "amount": [10.0, 20.0, 30.0, 5.0, 5.0, 7.0]})
>>> split = calibration_and_holdout(tx, calibration_end="2024-01-31", observation_end="2024-02-29", time_unit="D")
>>> split.to_frame()[["frequency_cal", "T_cal", "frequency_holdout", "duration_holdout"]]  # doctest: +NORMALIZE_WHITESPACE
             frequency_cal  T_cal  frequency_holdout  duration_holdout
customer_id
a                      1.0   30.0                1.0              29.0
b                      1.0   28.0                0.0              29.0
>>> split.customers_after_calibration
1
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.clv._base import fmt_number, unit_label
from crmkit.clv._transaction import _TransactionModel
from crmkit.errors import DataValidationError, ParameterError

__all__ = [
    "calibration_and_holdout",
    "CalibrationHoldout",
    "holdout_validation",
    "HoldoutValidation",
    "tracking",
    "Tracking",
    "prob_alive_matrix",
    "AliveMatrix",
]

_PERIOD = {"D": "D", "W": "W", "M": "M"}


def _offsets(periods: pd.Series, ref: pd.Timestamp, time_unit: str) -> np.ndarray:
    """Whole periods from ``ref`` (a period start) to each period start."""
    p = pd.to_datetime(periods)
    if time_unit == "M":
        return ((p.dt.year - ref.year) * 12 + (p.dt.month - ref.month)).to_numpy(dtype=float)
    days = (p - ref).dt.days.to_numpy(dtype=float)
    return days / (7.0 if time_unit == "W" else 1.0)


@dataclass(frozen=True, eq=False)
class CalibrationHoldout:
    """Transactions split by date into a calibration and a holdout period.

    Attributes
    ----------
    calibration : pandas.DataFrame
        :func:`crmkit.features.rfm_summary` up to ``calibration_end``: ``frequency``,
        ``recency``, ``T``, ``monetary_value`` per customer whose first purchase falls
        in a period up to the calibration end (``attrs["time_unit"]`` set). Fit models on it.
    holdout : pandas.DataFrame
        Same customers, same order: ``frequency`` (periods with a purchase after the
        calibration end's period, up to the observation end's), ``monetary_value`` (mean
        spend per such period, 0 without).
    duration_holdout : float
        Length of the holdout in ``time_unit``.
    repeat_purchases : pandas.DataFrame
        Per period (``period_start``) from the first purchase to the observation end:
        ``offset`` (periods since the calibration end's period; ≤ 0 in calibration) and
        ``repeat_purchases`` (purchase periods of the calibration customers after their
        first), for the tracking plot.
    calibration_end, observation_end : pandas.Timestamp
    time_unit : str
    customers_after_calibration : int
        Customers whose first purchase came after the calibration end (up to the
        observation end); they are in neither part (the model cannot predict customers it
        has not met) and are counted here.
    """

    calibration: pd.DataFrame
    holdout: pd.DataFrame
    duration_holdout: float
    repeat_purchases: pd.DataFrame
    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp
    time_unit: str
    customers_after_calibration: int

    def to_frame(self) -> pd.DataFrame:
        """lifetimes' ``calibration_and_holdout_data`` layout, one row per customer."""
        cal = self.calibration.add_suffix("_cal")
        hold = self.holdout.add_suffix("_holdout")
        out = pd.concat([cal, hold], axis=1)
        out["duration_holdout"] = self.duration_holdout
        return out

    def summary(self) -> pd.DataFrame:
        """Customers and purchases in each part."""
        unit = unit_label(self.time_unit)
        rows = {
            "customers in calibration": len(self.calibration),
            "customers first buying after the calibration end (not used)": self.customers_after_calibration,
            "repeat buyers in calibration": int((self.calibration["frequency"] > 0).sum()),
            f"repeat purchase {unit} in calibration": float(self.calibration["frequency"].sum()),
            f"purchase {unit} in the holdout": float(self.holdout["frequency"].sum()),
            f"holdout length ({unit})": self.duration_holdout,
        }
        return pd.DataFrame({"value": list(rows.values())}, index=pd.Index(list(rows), name="measure"))


def calibration_and_holdout(
    transactions,
    calibration_end,
    observation_end=None,
    time_unit: str = "W",
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_col: str = "amount",
) -> CalibrationHoldout:
    """Split transactions by date into a calibration summary and the holdout that follows.

    The calibration part is :func:`crmkit.features.rfm_summary` with ``observation_end =
    calibration_end`` (so orders are bucketed into periods exactly as there, and the whole
    period of ``calibration_end`` belongs to the calibration). The holdout counts, per
    calibration customer, the periods with a purchase after that period up to the period
    of ``observation_end``. For ``time_unit="D"`` and date-only data this equals lifetimes'
    ``calibration_and_holdout_data``; for weeks and months lifetimes counts the remainder
    of a partly calibrated period in both parts, crmkit in the calibration only.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        One row per order (line): customer id, order date-time, amount.
    calibration_end : date-like
        Last day of the calibration period.
    observation_end : date-like, optional
        Last day of the holdout; default: the day of the last order.
    time_unit : {"D", "W", "M"}
    customer_id_col, datetime_col, monetary_col : str

    Returns
    -------
    CalibrationHoldout
    """
    from crmkit._ibis import as_table, check_datetime, check_numeric, timestamp_literal, to_naive_timestamp
    from crmkit.features import rfm_summary

    if time_unit not in _PERIOD:
        raise ParameterError(f"time_unit: expected 'D', 'W' or 'M' (days, weeks, calendar months), found {time_unit!r}.")
    cal_ts = to_naive_timestamp(calibration_end, name="calibration_end")
    t = as_table(
        transactions,
        what="transactions",
        columns={customer_id_col: "customer_id_col", datetime_col: "datetime_col", monetary_col: "monetary_col"},
    )
    check_datetime(t, datetime_col, what="transactions")
    check_numeric(t, monetary_col, what="transactions")
    at = t[datetime_col]
    if at.type().is_date():
        at = at.cast("timestamp")
    if observation_end is None:
        obs_ts = pd.Timestamp(at.max().to_pyarrow().as_py())
        if obs_ts is pd.NaT:
            raise DataValidationError("transactions: expected orders with dates, found none.")
    else:
        obs_ts = to_naive_timestamp(observation_end, name="observation_end")
    cal_p = cal_ts.to_period(_PERIOD[time_unit]).to_timestamp()
    obs_p = obs_ts.to_period(_PERIOD[time_unit]).to_timestamp()
    if obs_p <= cal_p:
        raise ParameterError(
            f"observation_end: expected a date in a later {unit_label(time_unit, 1)} than calibration_end "
            f"({cal_ts.date()}), found {obs_ts.date()}; the holdout would be empty."
        )

    calibration = rfm_summary(
        transactions,
        observation_end=cal_ts,
        time_unit=time_unit,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_col=monetary_col,
    )
    calibration.attrs["time_unit"] = time_unit

    rows = t.select(
        customer_id=t[customer_id_col],
        period=at.truncate(_PERIOD[time_unit]),
        spend=t[monetary_col].cast("float64"),
    )
    rows = rows.filter(rows.customer_id.notnull(), rows.period.notnull(), rows.period <= timestamp_literal(obs_p))
    periods = rows.group_by(["customer_id", "period"]).aggregate(spend=rows.spend.sum().fill_null(0.0))
    first = periods.group_by("customer_id").aggregate(first=periods.period.min())
    joined = periods.join(first, "customer_id")
    known = joined.filter(joined["first"] <= timestamp_literal(cal_p))
    hold = known.filter(known.period > timestamp_literal(cal_p))
    hold = hold.group_by("customer_id").aggregate(frequency=hold.count(), spend=hold.spend.sum())
    repeat = known.filter(known.period > known["first"])
    repeat = repeat.group_by("period").aggregate(repeat_purchases=repeat.count()).order_by("period")
    firsts = first.group_by(after=first["first"] > timestamp_literal(cal_p)).aggregate(n=first.count())

    hold_df = hold.to_pyarrow().to_pandas().set_index("customer_id")
    repeat_df = repeat.to_pyarrow().to_pandas()
    firsts_df = firsts.to_pyarrow().to_pandas()
    after = int(firsts_df.loc[firsts_df["after"] == True, "n"].sum())  # noqa: E712 - pandas mask

    hold_df.index = hold_df.index.astype(calibration.index.dtype) if len(hold_df) else hold_df.index
    freq = hold_df["frequency"].reindex(calibration.index).fillna(0).astype("float64")
    spend = hold_df["spend"].reindex(calibration.index).fillna(0.0).astype("float64")
    holdout = pd.DataFrame(
        {"frequency": freq, "monetary_value": np.where(freq > 0, spend / freq.where(freq > 0, 1.0), 0.0)},
        index=calibration.index,
    )
    holdout.attrs["time_unit"] = time_unit

    # every period from the first calibration customer's first purchase to the observation end
    oldest = int(round(calibration["T"].max())) if len(calibration) else 0
    lo = (cal_ts.to_period(_PERIOD[time_unit]) - oldest).to_timestamp()
    all_periods = pd.period_range(lo, obs_p, freq=_PERIOD[time_unit]).to_timestamp()
    counts = (
        pd.Series(repeat_df["repeat_purchases"].to_numpy(dtype=float), index=pd.to_datetime(repeat_df["period"]))
        if len(repeat_df)
        else pd.Series(dtype=float)
    )
    counts = counts.reindex(all_periods, fill_value=0.0)
    repeat_purchases = pd.DataFrame(
        {
            "offset": _offsets(pd.Series(all_periods), cal_p, time_unit),
            "repeat_purchases": counts.to_numpy(dtype=float),
        },
        index=pd.Index(all_periods, name="period_start"),
    )
    duration = float(_offsets(pd.Series([obs_p]), cal_p, time_unit)[0])
    return CalibrationHoldout(
        calibration=calibration,
        holdout=holdout,
        duration_holdout=duration,
        repeat_purchases=repeat_purchases,
        calibration_end=cal_ts,
        observation_end=obs_ts,
        time_unit=time_unit,
        customers_after_calibration=after,
    )


# --------------------------------------------------------------------------- holdout by frequency


@dataclass(frozen=True, eq=False)
class HoldoutValidation:
    """Predicted against actual holdout purchases, by purchase frequency in calibration.

    Attributes
    ----------
    by_frequency : pandas.DataFrame
        Per bucket of calibration repeat purchases (``0``, ``1``, … ``k+``): ``customers``,
        ``actual_mean`` (holdout purchases per customer), ``actual_ci_low``,
        ``actual_ci_high`` (95 %, normal approximation), ``predicted_mean``.
    per_customer : pandas.DataFrame
        ``calibration_frequency``, ``actual``, ``predicted`` per customer.
    duration : float
    time_unit : str
    model : str
    """

    by_frequency: pd.DataFrame
    per_customer: pd.DataFrame
    duration: float
    time_unit: str
    model: str

    def to_frame(self) -> pd.DataFrame:
        """One row per customer."""
        return self.per_customer.copy()

    def summary(self) -> pd.DataFrame:
        """Totals and errors over all customers."""
        a, p = self.per_customer["actual"], self.per_customer["predicted"]
        n = len(a)
        se_total = float(a.std(ddof=1) * math.sqrt(n)) if n > 1 else float("nan")
        rows = {
            "customers": float(n),
            "actual purchases in holdout": float(a.sum()),
            "predicted purchases in holdout": float(p.sum()),
            "predicted / actual": float(p.sum() / a.sum()) if a.sum() > 0 else float("nan"),
            "actual total 95% CI low (sampling)": float(a.sum() - 1.96 * se_total),
            "actual total 95% CI high (sampling)": float(a.sum() + 1.96 * se_total),
            "mean absolute error per customer": float((a - p).abs().mean()) if n else float("nan"),
            "correlation actual vs predicted": float(np.corrcoef(a, p)[0, 1]) if n > 2 and a.std() > 0 else float("nan"),
        }
        out = pd.DataFrame({"value": list(rows.values())}, index=pd.Index(list(rows), name="measure"))
        out.attrs.update(time_unit=self.time_unit, duration=self.duration, model=self.model)
        return out

    def plot(self):
        """Actual (with 95 % intervals) and predicted holdout purchases per customer, by calibration frequency."""
        import plotly.graph_objects as go

        b = self.by_frequency
        unit = unit_label(self.time_unit)
        labels = b.index.astype(str)
        fig = go.Figure()
        fig.add_scatter(
            x=labels, y=b["actual_mean"], mode="lines+markers", name="actual",
            error_y={"type": "data", "symmetric": False,
                     "array": b["actual_ci_high"] - b["actual_mean"], "arrayminus": b["actual_mean"] - b["actual_ci_low"]},
        )
        fig.add_scatter(x=labels, y=b["predicted_mean"], mode="lines+markers", name=f"predicted ({self.model})",
                        line={"dash": "dash"})
        fig.update_layout(
            title=f"Holdout check: purchases in the {fmt_number(self.duration)} {unit} after calibration, "
            f"by purchases during calibration",
            xaxis_title=f"Repeat purchase {unit} in calibration (customers grouped)",
            yaxis_title=f"Purchase {unit} in holdout per customer (mean)",
        )
        return fig


def _split_parts(split):
    if not isinstance(split, CalibrationHoldout):
        raise ParameterError(f"split: expected the result of calibration_and_holdout, found {type(split).__name__}.")
    return split


def _check_continuous(model, what):
    if not isinstance(model, _TransactionModel):
        raise ParameterError(
            f"{what} needs a fitted continuous-time model (BetaGeo, ModifiedBetaGeo, ParetoNBD), "
            f"found {type(model).__name__}."
        )
    model._check_fitted()
    unit = getattr(model, "time_unit_", None)
    return unit


def holdout_validation(model, split: CalibrationHoldout, max_frequency: int = 7) -> HoldoutValidation:
    """Compare a model's predictions for the holdout with what customers actually did.

    Each calibration customer's expected purchases over the holdout's length (given their
    calibration history) against the purchase periods they had; grouped by calibration
    frequency ``0 … max_frequency − 1`` and ``max_frequency+`` (Fader, Hardie & Lee 2005,
    Figure 4).

    Parameters
    ----------
    model : BetaGeo, ModifiedBetaGeo or ParetoNBD
        Fitted on ``split.calibration``.
    split : CalibrationHoldout
    max_frequency : int, default 7
    """
    split = _split_parts(split)
    unit = _check_continuous(model, "holdout_validation")
    if unit is not None and unit != split.time_unit:
        raise ParameterError(
            f"model: fitted in {unit_label(unit)}, but the split is in {unit_label(split.time_unit)}; fit the model on "
            f"split.calibration."
        )
    if isinstance(max_frequency, bool) or not isinstance(max_frequency, (int, np.integer)) or max_frequency < 1:
        raise ParameterError(f"max_frequency: expected a whole number ≥ 1, found {max_frequency!r}.")
    cal = split.calibration
    predicted = model.expected_purchases(cal, split.duration_holdout).to_numpy()
    actual = split.holdout["frequency"].to_numpy(dtype=float)
    freq = cal["frequency"].to_numpy(dtype=float)
    bucket = np.minimum(freq, max_frequency).astype(int)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    per = pd.DataFrame(
        {"calibration_frequency": freq, "actual": actual, "predicted": predicted}, index=cal.index.copy()
    )
    g = pd.DataFrame({"bucket": bucket, "actual": actual, "predicted": predicted}).groupby("bucket")
    n = g.size().reindex(range(max_frequency + 1), fill_value=0)
    mean_a = g["actual"].mean().reindex(n.index)
    sd_a = g["actual"].std(ddof=1).reindex(n.index)
    half = 1.96 * sd_a / np.sqrt(n.where(n > 0))
    by = pd.DataFrame(
        {
            "customers": n.to_numpy(),
            "actual_mean": mean_a.to_numpy(),
            "actual_ci_low": (mean_a - half).to_numpy(),
            "actual_ci_high": (mean_a + half).to_numpy(),
            "predicted_mean": g["predicted"].mean().reindex(n.index).to_numpy(),
        },
        index=pd.Index(labels, name="calibration_frequency"),
    )
    by = by[by["customers"] > 0]
    return HoldoutValidation(
        by_frequency=by, per_customer=per, duration=split.duration_holdout, time_unit=split.time_unit,
        model=type(model).__name__,
    )


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True, eq=False)
class Tracking:
    """Repeat purchases per period, actual against the model, through calibration and holdout.

    Attributes
    ----------
    frame : pandas.DataFrame
        Per period (``period_start``): ``offset`` (periods since the calibration end's
        period), ``actual``, ``expected`` (repeat purchases in the period),
        ``actual_cumulative``, ``expected_cumulative``.
    calibration_end : pandas.Timestamp
        Start of the calibration end's period (the last calibration period).
    time_unit : str
    model : str
    """

    frame: pd.DataFrame
    calibration_end: pd.Timestamp
    time_unit: str
    model: str

    def to_frame(self) -> pd.DataFrame:
        """One row per period."""
        return self.frame.copy()

    def summary(self) -> pd.DataFrame:
        """Cumulative repeat purchases at the calibration end and at the end, actual vs expected."""
        f = self.frame
        cal = f[f["offset"] <= 0]
        rows = []
        for label, part in (("calibration end", cal), ("observation end", f)):
            if len(part):
                a, e = float(part["actual_cumulative"].iloc[-1]), float(part["expected_cumulative"].iloc[-1])
                rows.append({"at": label, "actual_cumulative": a, "expected_cumulative": e,
                             "error_%": 100 * (e - a) / a if a else float("nan")})
        hold = f[f["offset"] > 0]
        if len(hold):
            a, e = float(hold["actual"].sum()), float(hold["expected"].sum())
            rows.append({"at": "holdout only", "actual_cumulative": a, "expected_cumulative": e,
                         "error_%": 100 * (e - a) / a if a else float("nan")})
        return pd.DataFrame(rows).set_index("at")

    def plot(self, kind: str = "cumulative"):
        """``"cumulative"`` (Fader et al. 2005, Figure 2) or ``"incremental"`` (Figure 3), with the calibration end marked."""
        import plotly.graph_objects as go

        if kind not in ("cumulative", "incremental"):
            raise ParameterError(f"kind: expected 'cumulative' or 'incremental', found {kind!r}.")
        f = self.frame
        a, e = ("actual_cumulative", "expected_cumulative") if kind == "cumulative" else ("actual", "expected")
        unit = unit_label(self.time_unit, 1)
        fig = go.Figure()
        fig.add_scatter(x=f.index, y=f[a], mode="lines", name="actual")
        fig.add_scatter(x=f.index, y=f[e], mode="lines", name=f"expected ({self.model})", line={"dash": "dash"})
        fig.add_vline(x=self.calibration_end, line_dash="dot", line_color="grey")
        fig.add_annotation(x=self.calibration_end, y=1, yref="paper", text="end of calibration", showarrow=False,
                           xanchor="right", yanchor="bottom")
        what = "Cumulative repeat purchases" if kind == "cumulative" else f"Repeat purchases per {unit}"
        fig.update_layout(
            title=f"{what}: actual and expected, calibration customers",
            xaxis_title=f"{unit.capitalize()} (start date)",
            yaxis_title=f"Repeat purchase {unit_label(self.time_unit)} (count)",
        )
        return fig


def tracking(model, split: CalibrationHoldout) -> Tracking:
    """Actual repeat purchases per period against the model's expectation for the same customers.

    The expectation for a customer who first bought in period f is
    ``model.expected_purchases_new_customer(k − f)`` by period k (the unconditional
    expectation: it does not use the customer's history, so the holdout part is a fair
    test of the model, as in Fader, Hardie & Lee 2005).
    """
    split = _split_parts(split)
    unit = _check_continuous(model, "tracking")
    if unit is not None and unit != split.time_unit:
        raise ParameterError(
            f"model: fitted in {unit_label(unit)}, but the split is in {unit_label(split.time_unit)}."
        )
    rp = split.repeat_purchases
    offsets = rp["offset"].to_numpy()
    first = -split.calibration["T"].to_numpy(dtype=float)  # first period, as an offset
    f_vals, f_counts = np.unique(first, return_counts=True)
    elapsed = offsets[:, None] - f_vals[None, :]
    uniq, inv = np.unique(np.maximum(elapsed, 0.0), return_inverse=True)
    e_new = np.asarray(model.expected_purchases_new_customer(uniq), dtype=float)
    cum = (e_new[inv.reshape(elapsed.shape)] * f_counts[None, :]).sum(axis=1)
    actual = rp["repeat_purchases"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "offset": offsets,
            "actual": actual,
            "expected": np.diff(np.concatenate([[0.0], cum])),
            "actual_cumulative": np.cumsum(actual),
            "expected_cumulative": cum,
        },
        index=rp.index.copy(),
    )
    cal_start = split.calibration_end.to_period(_PERIOD[split.time_unit]).to_timestamp()
    return Tracking(frame=frame, calibration_end=cal_start, time_unit=split.time_unit, model=type(model).__name__)


# --------------------------------------------------------------------------- P(alive) matrix


@dataclass(frozen=True, eq=False)
class AliveMatrix:
    """P(alive) for every combination of frequency and recency, at one customer age T.

    Attributes
    ----------
    matrix : pandas.DataFrame
        Index ``recency`` (0 … max_recency), columns ``frequency`` (0 … max_frequency);
        NaN where the combination cannot occur (no repeat purchase but recency > 0, or
        more purchase periods than periods).
    T : float
    time_unit : str or None
    model : str
    """

    matrix: pd.DataFrame
    T: float
    time_unit: str | None
    model: str

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per (recency, frequency) that can occur."""
        long = self.matrix.stack().rename("prob_alive").reset_index()
        return long

    def summary(self) -> pd.DataFrame:
        """P(alive) at a few recencies (rows) for a few frequencies (columns)."""
        m = self.matrix
        rows = np.unique(np.linspace(0, len(m.index) - 1, 6).round().astype(int))
        cols = np.unique(np.linspace(0, len(m.columns) - 1, 6).round().astype(int))
        return m.iloc[rows, cols]

    def plot(self):
        """Heat map of P(alive) by recency and frequency."""
        import plotly.graph_objects as go

        unit = unit_label(self.time_unit)
        fig = go.Figure(
            go.Heatmap(
                z=self.matrix.to_numpy(), x=self.matrix.columns, y=self.matrix.index, zmin=0, zmax=1,
                colorscale="RdYlGn", colorbar={"title": "P(alive)"},
                hovertemplate="frequency %{x}<br>recency %{y}<br>P(alive) %{z:.2f}<extra></extra>",
            )
        )
        fig.update_layout(
            title=f"Probability that a customer is still active, for a customer first seen {fmt_number(self.T)} {unit} ago",
            xaxis_title=f"Frequency: repeat purchase {unit}",
            yaxis_title=f"Recency: {unit} from first to last purchase",
        )
        return fig


def prob_alive_matrix(model, max_frequency: int | None = None, max_recency: int | None = None, T: float | None = None) -> AliveMatrix:
    """P(alive) over a grid of frequency and recency, for customers of age ``T``.

    Defaults: ``T`` the oldest customer's T in the fitted data; ``max_recency = T``;
    ``max_frequency`` the largest frequency seen in fitting, at most 40.
    """
    _check_continuous(model, "prob_alive_matrix")
    T = float(T if T is not None else round(model.T_max_))
    if not (math.isfinite(T) and T > 0):
        raise ParameterError(f"T: expected a customer age > 0, found {T!r}.")
    max_recency = int(max_recency if max_recency is not None else math.floor(T))
    max_frequency = int(max_frequency if max_frequency is not None else min(int(model.frequency_max_), 40))
    if max_recency < 0 or max_frequency < 0 or max_recency > T:
        raise ParameterError(
            f"max_recency and max_frequency: expected 0 ≤ max_recency ≤ T ({fmt_number(T)}) and max_frequency ≥ 0, "
            f"found {max_recency} and {max_frequency}."
        )
    rec = np.arange(max_recency + 1, dtype=float)
    freq = np.arange(max_frequency + 1, dtype=float)
    R, F = np.meshgrid(rec, freq, indexing="ij")
    p = model.params_.to_numpy(dtype=float)
    vals = model._prob_alive(p, F.ravel(), R.ravel(), np.full(R.size, T)).reshape(R.shape)
    impossible = ((F == 0) & (R > 0)) | ((F > 0) & (R == 0))
    if model.time_unit_ is not None:  # purchases counted per period: at most one per period
        impossible |= F > R
    vals = np.where(impossible, np.nan, vals)
    matrix = pd.DataFrame(vals, index=pd.Index(rec.astype(int), name="recency"), columns=pd.Index(freq.astype(int), name="frequency"))
    return AliveMatrix(matrix=matrix, T=T, time_unit=model.time_unit_, model=type(model).__name__)
