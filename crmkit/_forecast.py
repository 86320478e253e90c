"""Monthly KPI forecasts with exponential smoothing (statsmodels ETS), intervals and a back-test.

:class:`MonthlyForecaster` first *detects seasonality*: an F-test of month-of-year
effects on the series around a cubic trend (ordinary least squares; seasonal when
p < ``seasonality_alpha``, and only with at least two full years). It then picks, by
AICc, an additive-error ETS model with no, additive or damped trend — seasonal models
(initial states set heuristically) when seasonality was detected, non-seasonal ones
(initial states estimated) otherwise — optionally also on the log scale (AICc made
comparable through the Jacobian of the log). It forecasts with prediction intervals
and is back-tested: the last months are held out, the whole procedure (detection,
selection, fit) is run on the months before them only, and its forecasts are compared
with the held-out actuals (MAPE, interval coverage, and the MAPE of a naive
last-value forecast for comparison).

``crmkit.kpis`` re-exports :class:`MonthlyForecaster` and :class:`ForecastResult`.

>>> import numpy as np, pandas as pd
>>> months = pd.date_range("2022-01-01", periods=36, freq="MS")
>>> y = pd.Series(100 + 5 * np.arange(36) + np.random.default_rng(0).normal(0, 3, 36), index=months)
>>> fc = MonthlyForecaster(horizon=3).fit(y)
>>> fc.seasonal_
False
>>> fc.forecast().summary().shape[0]
3
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit._intervals import check_confidence
from crmkit.errors import DataValidationError, ParameterError

__all__ = ["MonthlyForecaster", "ForecastResult", "seasonality_test"]

_TRENDS = ((None, False), ("add", False), ("add", True))


def _spec_name(trend, damped, seasonal, log) -> str:
    t = {None: "no trend", "add": "trend"}[trend]
    if damped:
        t = "damped trend"
    s = "additive seasonality" if seasonal else "no seasonality"
    return f"ETS(A,{'Ad' if damped else ('A' if trend else 'N')},{'A' if seasonal else 'N'}){' on log scale' if log else ''}: {t}, {s}"


def _fit_one(y: pd.Series, trend, damped, seasonal, log, period):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    values = np.log(y) if log else y
    model = ETSModel(
        values,
        error="add",
        trend=trend,
        damped_trend=damped,
        seasonal="add" if seasonal else None,
        seasonal_periods=period if seasonal else None,
        # estimating twelve initial seasonal states is slow and fragile on a few years
        initialization_method="heuristic" if seasonal else "estimated",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(disp=False)
    aicc = float(res.aicc) + (2.0 * float(np.log(y).sum()) if log else 0.0)
    return res, aicc, [str(w.message) for w in caught]


def seasonality_test(y: pd.Series, period: int = 12) -> float:
    """p-value of month-of-year effects around a cubic trend (F-test); ``nan`` with under two cycles + 2."""
    import statsmodels.api as sm

    n = len(y)
    if n < 2 * period + 2:
        return np.nan
    t = np.linspace(-1.0, 1.0, n)
    trend = np.c_[np.ones(n), t, t**2, t**3]
    pos = np.asarray(y.index.month if isinstance(y.index, pd.DatetimeIndex) else np.arange(n) % period) % period
    dummies = (pos[:, None] == np.arange(1, period)[None, :]).astype(float)
    values = y.to_numpy(dtype=float)
    full = sm.OLS(values, np.c_[trend, dummies]).fit()
    reduced = sm.OLS(values, trend).fit()
    f_value, p_value, _ = full.compare_f_test(reduced)
    return float(p_value)


def _select(y: pd.Series, period: int, allow_log: bool, alpha: float):
    """Detect seasonality, fit the candidates, return (table, p-value, best)."""
    p_season = seasonality_test(y, period)
    seasonal = bool(np.isfinite(p_season) and p_season < alpha)
    log_options = (False, True) if allow_log and (y > 0).all() else (False,)
    rows, best = [], None
    for log in log_options:
        for trend, damped in _TRENDS:
            try:
                res, aicc, warns = _fit_one(y, trend, damped, seasonal, log, period)
            except (ValueError, np.linalg.LinAlgError) as exc:  # a candidate that cannot be fitted is skipped
                rows.append({"model": _spec_name(trend, damped, seasonal, log), "aicc": np.nan, "note": str(exc)})
                continue
            spec = {"trend": trend, "damped": damped, "seasonal": seasonal, "log": log}
            rows.append({"model": _spec_name(**spec), "aicc": aicc, "note": "; ".join(dict.fromkeys(warns))[:200]})
            if np.isfinite(aicc) and (best is None or aicc < best[2]):
                best = (spec, res, aicc)
    table = pd.DataFrame(rows).sort_values("aicc", na_position="last").reset_index(drop=True)
    table["delta_aicc"] = table["aicc"] - table["aicc"].min()
    if best is None:
        raise DataValidationError("monthly series: no exponential smoothing model could be fitted to it.")
    return table, p_season, best


def _predict(res, spec, start: int, steps: int, confidence: float) -> pd.DataFrame:
    frame = res.get_prediction(start=start, end=start + steps - 1).summary_frame(alpha=1 - confidence)
    mean, lo, hi = frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()
    if spec["log"]:  # quantiles map through exp; the central forecast is the median
        mean, lo, hi = np.exp(mean), np.exp(lo), np.exp(hi)
    return pd.DataFrame({"forecast": mean, "lower": lo, "upper": hi})


@dataclass(frozen=True)
class ForecastResult:
    """A monthly forecast with its prediction interval and the back-test beside it.

    ``forecast``: one row per future month (``month``, ``forecast``, ``lower``,
    ``upper``); ``history``: the months the model was fitted on (``month``, ``actual``,
    ``fitted``); ``backtest``: the held-out months (``month``, ``actual``, ``forecast``,
    ``lower``, ``upper``, ``naive``) forecast by a model selected and fitted without
    them; ``backtest_mape`` and ``naive_mape`` (mean absolute percentage error of the
    model and of the last value carried forward), ``backtest_coverage`` (share of
    held-out actuals inside the interval). For a model on the log scale the forecast is
    the median.
    """

    name: str
    unit: str
    forecast: pd.DataFrame
    history: pd.DataFrame
    backtest: pd.DataFrame
    backtest_mape: float
    naive_mape: float
    backtest_coverage: float
    model: str
    seasonal: bool
    seasonality_p: float
    candidates: pd.DataFrame
    confidence: float
    dropped_months: tuple = ()

    def summary(self) -> pd.DataFrame:
        """The forecast months with their interval."""
        return self.forecast.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per month, history and forecast: ``actual``, ``fitted``, ``forecast``, ``lower``, ``upper``."""
        hist = self.history.set_index("month")
        fut = self.forecast.set_index("month")
        return pd.concat([hist, fut]).sort_index()

    def total(self, months: int | None = None) -> tuple[float, float, float]:
        """Sum of the central forecast over the first ``months`` (all by default) with a rough interval.

        The bounds add up the monthly bounds, which is conservative (months are not
        perfectly correlated), so the range is wider than the true one.
        """
        f = self.forecast.head(months) if months else self.forecast
        return float(f["forecast"].sum()), float(f["lower"].sum()), float(f["upper"].sum())

    def plot(self, *, history_months: int | None = None):
        """Actuals, the forecast with its band, and the back-test forecasts against what happened."""
        import plotly.graph_objects as go

        hist = self.history if history_months is None else self.history.tail(history_months)
        f = self.forecast
        pct = int(round(self.confidence * 100))
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=hist["month"], y=hist["actual"], mode="lines+markers", name="actual", line={"color": "#1f2937"}))
        band_x = list(f["month"]) + list(f["month"][::-1])
        band_y = list(f["upper"]) + list(f["lower"][::-1])
        fig.add_trace(go.Scatter(x=band_x, y=band_y, mode="lines", fill="toself", fillcolor="rgba(37,99,235,0.15)", line={"width": 0},
                                 name=f"{pct}% prediction interval", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=f["month"], y=f["forecast"], mode="lines+markers", name="forecast",
                                 line={"color": "#2563eb", "dash": "dash"}))
        if len(self.backtest):
            b = self.backtest
            fig.add_trace(go.Scatter(x=b["month"], y=b["forecast"], mode="markers", name="back-test forecast",
                                     marker={"color": "#f59e0b", "symbol": "diamond", "size": 8}))
        fig.update_layout(
            template="plotly_white",
            title={"text": f"{self.name}: forecast with {pct}% interval (back-test error {self.backtest_mape:.1%} "
                           f"vs {self.naive_mape:.1%} naive)", "x": 0.01, "xanchor": "left"},
            xaxis_title="Month",
            yaxis_title=f"{self.name} ({self.unit})",
            margin={"l": 70, "r": 30, "t": 60, "b": 60},
            legend={"orientation": "h", "y": -0.2},
        )
        return fig


class MonthlyForecaster:
    """Exponential smoothing for a monthly KPI, chosen by AICc, with a back-test.

    Parameters
    ----------
    horizon : int
        Months to forecast.
    seasonal_periods : int
        Length of a seasonal cycle in months (12); seasonality is only tested for with
        at least two full cycles and two more months.
    seasonality_alpha : float
        Significance level of the seasonality test.
    confidence : float
        Level of the prediction intervals.
    backtest_months : int, optional
        Months held out for the back-test (default: ``horizon``; fewer when the series is
        short, so that at least 12 months remain to fit on).
    allow_log : bool
        Also try each model on the log scale (positive series only; twice the fits).
    per_day : bool
        Model the value per calendar day and scale forecasts by the days of each month,
        so that short months (February) do not look like a season. For flows such as
        revenue or orders; intervals scale with the days too.

    Attributes
    ----------
    model_ : str
        The chosen model, in words.
    seasonal_ : bool
        Whether seasonality was detected (and a seasonal model fitted).
    seasonality_p_ : float
        p-value of the seasonality test (``nan`` when the series is too short for it).
    candidates_ : DataFrame
        Every candidate with its AICc and distance from the best.
    result_ : statsmodels ETSResults
    backtest_ : DataFrame
    backtest_mape_, naive_mape_, backtest_coverage_ : float
    """

    def __init__(self, horizon: int = 6, *, seasonal_periods: int = 12, seasonality_alpha: float = 0.01,
                 confidence: float = 0.9, backtest_months: int | None = None, allow_log: bool = False,
                 per_day: bool = False):
        self.horizon = horizon
        self.per_day = per_day
        self.seasonal_periods = seasonal_periods
        self.seasonality_alpha = seasonality_alpha
        self.confidence = confidence
        self.backtest_months = backtest_months
        self.allow_log = allow_log

    def _check(self, series) -> pd.Series:
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, (int, np.integer)) or self.horizon < 1:
            raise ParameterError(f"horizon: expected a whole number of months ≥ 1, found {self.horizon!r}.")
        check_confidence(self.confidence)
        if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
            raise DataValidationError("monthly series: expected a pandas Series indexed by month-start dates.")
        y = series.astype("float64").sort_index()
        expected = pd.date_range(y.index.min(), y.index.max(), freq="MS") if len(y) else y.index
        if len(y) and (len(expected) != len(y) or not (expected == y.index).all()):
            raise DataValidationError(
                f"monthly series: expected one value per calendar month (month starts, no gaps), found {len(y)} values "
                f"for {len(expected)} months from {y.index.min():%Y-%m} to {y.index.max():%Y-%m}."
            )
        if y.isna().any():
            raise DataValidationError(f"monthly series: {int(y.isna().sum())} months have no value; expected a number for each.")
        if len(y) < 12:
            raise DataValidationError(f"monthly series: expected at least 12 months to forecast from, found {len(y)}.")
        y.index = pd.DatetimeIndex(y.index, freq="MS")
        return y

    def _days(self, months: pd.DatetimeIndex) -> np.ndarray:
        """Days of each month when modelling per day, else ones."""
        return np.asarray(months.days_in_month, dtype=float) if self.per_day else np.ones(len(months))

    def fit(self, series: pd.Series) -> "MonthlyForecaster":
        """Select and fit the model on ``series`` (monthly, month-start index) and back-test it."""
        y = self._check(series)
        period = int(self.seasonal_periods)
        alpha = float(self.seasonality_alpha)
        days = self._days(y.index)
        self.candidates_, self.seasonality_p_, (self.spec_, self.result_, self.aicc_) = _select(y / days, period, self.allow_log, alpha)
        self.model_ = _spec_name(**self.spec_) + ("; per day, times the days of each month" if self.per_day else "")
        self.seasonal_ = bool(self.spec_["seasonal"])
        self.series_ = y
        # back-test: hold out the last months; select and fit on the earlier ones only
        k = self.horizon if self.backtest_months is None else int(self.backtest_months)
        k = max(0, min(k, len(y) - 12))
        self.backtest_months_ = k
        if k:
            train, test = y.iloc[:-k], y.iloc[-k:]
            _, _, (spec, res, _) = _select(train / days[:-k], period, self.allow_log, alpha)
            pred = _predict(res, spec, len(train), k, float(self.confidence)).mul(days[-k:], axis=0)
            self.backtest_ = pd.DataFrame(
                {
                    "month": test.index,
                    "actual": test.to_numpy(),
                    "forecast": pred["forecast"].to_numpy(),
                    "lower": pred["lower"].to_numpy(),
                    "upper": pred["upper"].to_numpy(),
                    "naive": np.full(k, train.iloc[-1]),
                }
            )
            b = self.backtest_[self.backtest_["actual"] != 0]
            self.backtest_mape_ = float((np.abs(b["forecast"] - b["actual"]) / np.abs(b["actual"])).mean()) if len(b) else np.nan
            self.naive_mape_ = float((np.abs(b["naive"] - b["actual"]) / np.abs(b["actual"])).mean()) if len(b) else np.nan
            inside = (self.backtest_["actual"] >= self.backtest_["lower"]) & (self.backtest_["actual"] <= self.backtest_["upper"])
            self.backtest_coverage_ = float(inside.mean())
        else:
            self.backtest_ = pd.DataFrame(columns=["month", "actual", "forecast", "lower", "upper", "naive"])
            self.backtest_mape_ = self.naive_mape_ = self.backtest_coverage_ = np.nan
        return self

    def forecast(self, *, name: str = "KPI", unit: str = "", dropped_months=()) -> ForecastResult:
        """The next ``horizon`` months with intervals, and the back-test beside them."""
        if not hasattr(self, "result_"):
            raise ParameterError("MonthlyForecaster: call fit(series) before forecast().")
        y = self.series_
        months = pd.date_range(y.index[-1] + pd.offsets.MonthBegin(1), periods=int(self.horizon), freq="MS")
        pred = _predict(self.result_, self.spec_, len(y), int(self.horizon), float(self.confidence)).mul(self._days(months), axis=0)
        fitted = np.asarray(self.result_.fittedvalues, dtype=float)
        if self.spec_["log"]:
            fitted = np.exp(fitted)
        fitted = fitted * self._days(y.index)
        return ForecastResult(
            name=name,
            unit=unit,
            forecast=pd.concat([pd.DataFrame({"month": months}), pred], axis=1),
            history=pd.DataFrame({"month": y.index, "actual": y.to_numpy(), "fitted": fitted}),
            backtest=self.backtest_.copy(),
            backtest_mape=self.backtest_mape_,
            naive_mape=self.naive_mape_,
            backtest_coverage=self.backtest_coverage_,
            model=self.model_,
            seasonal=self.seasonal_,
            seasonality_p=self.seasonality_p_,
            candidates=self.candidates_.copy(),
            confidence=float(self.confidence),
            dropped_months=tuple(dropped_months),
        )
