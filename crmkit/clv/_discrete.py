"""Discrete-time models: BG/BB (non-contractual, purchase opportunities) and sBG (contractual).

>>> import pandas as pd
>>> survivors = [1000, 631, 468, 382, 326, 289, 262, 241]   # Fader & Hardie (2007), "regular"
>>> model = ShiftedBetaGeometric().fit(survivors)
>>> model.params_.round(3).tolist()
[0.704, 1.182]
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1

from crmkit.clv._base import (
    ModelBase,
    check_time_unit,
    chunked,
    column_values,
    dot,
    fmt_number,
    maximise,
    require,
    weights_of,
)
from crmkit.errors import DataValidationError, ParameterError

__all__ = ["BetaGeoBetaBinom", "ShiftedBetaGeometric"]

_CELLS = 4_000_000  # rows x purchase opportunities evaluated at once (bounds memory)


def _bgbb_arrays(summary, frequency_col, recency_col, n_periods_col, what="summary"):
    x = column_values(summary, frequency_col, what=what, arg="frequency_col", role="repeat purchase periods")
    tx = column_values(summary, recency_col, what=what, arg="recency_col", role="period of the last purchase")
    n = column_values(summary, n_periods_col, what=what, arg="n_periods_col", role="purchase opportunities")
    whole = (x == np.round(x)) & (tx == np.round(tx)) & (n == np.round(n))
    require(~whole, summary, what=what, expected="whole numbers of periods", found="fractional values")
    require(x < 0, summary, what=f"{what}.{frequency_col}", expected="frequency ≥ 0", found="negative values")
    require(
        (tx > n) | (tx < x), summary, what=f"{what}.{recency_col}",
        expected=f"{frequency_col} ≤ {recency_col} ≤ {n_periods_col}", found="values outside that range",
    )
    require(
        (x == 0) & (tx != 0), summary, what=f"{what}.{recency_col}",
        expected="recency 0 for customers without repeat purchases", found="frequency 0 with recency > 0",
    )
    return x, tx, n


def _bgbb_terms(p, x, tx, n):
    """Log of each term of the BG/BB likelihood and their arguments, rows x (1 + max(n - t_x)).

    Term 0: alive through period n; term 1 + i: last alive in period t_x + i (dropped after).
    """
    al, be, ga, de = p
    J = int((n - tx).max(initial=0))
    i = np.arange(J)[None, :]
    k = np.concatenate([(n - x)[:, None], (tx - x)[:, None] + i], axis=1)  # beta argument offsets
    g = np.concatenate([np.zeros((len(x), 1)), np.ones((len(x), J))], axis=1)
    h = np.concatenate([n[:, None], tx[:, None] + i], axis=1)
    valid = np.concatenate([np.ones((len(x), 1), bool), i < (n - tx)[:, None]], axis=1)
    xb = x[:, None]
    log_t = betaln(al + xb, be + k) - betaln(al, be) + betaln(ga + g, de + h) - betaln(ga, de)
    log_t = np.where(valid, log_t, -np.inf)
    return log_t, xb, k, g, h, valid


def _logsumexp_rows(a):
    m = a.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    s = np.exp(a - m).sum(axis=1)
    return np.log(s) + m[:, 0], np.exp(a - m) / s[:, None]


class BetaGeoBetaBinom(ModelBase):
    """The BG/BB model (Fader, Hardie & Shang 2010) for discrete purchase opportunities.

    In each period (an annual fund-raiser, a weekly event) an active customer buys with
    probability p and, before the next opportunity, drops out with probability θ; across
    customers p ~ Beta(``alpha``, ``beta``) and θ ~ Beta(``gamma``, ``delta``).

    The summary holds, per customer or per group of identical customers: ``frequency``
    (periods with a repeat purchase, *x*), ``recency`` (the period of the last one,
    *t_x*, 0 if none) and ``n_periods`` (repeat-purchase opportunities, *n*), plus a
    count column for grouped data (``weights_col``).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters, as in lifetimes.

    Examples
    --------
    The donations data of Fader, Hardie & Shang (2010): 11,104 first-time donors of 1995,
    their repeat donations in the six annual campaigns 1996–2001, grouped.

    >>> import pandas as pd
    >>> rows = [(0, 0, 3464), (1, 1, 1091), (1, 2, 277), (1, 3, 129), (1, 4, 78), (1, 5, 119),
    ...         (1, 6, 129), (2, 2, 613), (2, 3, 255), (2, 4, 155), (2, 5, 173), (2, 6, 234),
    ...         (3, 3, 322), (3, 4, 181), (3, 5, 225), (3, 6, 357), (4, 4, 240), (4, 5, 284),
    ...         (4, 6, 512), (5, 5, 335), (5, 6, 728), (6, 6, 1203)]
    >>> donations = pd.DataFrame(rows, columns=["frequency", "recency", "donors"]).assign(n_periods=6)
    >>> model = BetaGeoBetaBinom().fit(donations, weights_col="donors", time_unit="Y")
    >>> model.params_.round(3).tolist()       # their Table 2: 1.204, 0.750, 0.657, 2.783
    [1.204, 0.75, 0.657, 2.783]
    """

    _param_names = ("alpha", "beta", "gamma", "delta")

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(
        self,
        summary: pd.DataFrame,
        *,
        time_unit: str | None = None,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        n_periods_col: str = "n_periods",
        weights_col: str | None = None,
    ):
        """Fit by maximum likelihood; identical rows are evaluated once. Returns self."""
        x, tx, n = _bgbb_arrays(summary, frequency_col, recency_col, n_periods_col)
        w = weights_of(summary, weights_col, what="summary")
        self.time_unit_ = check_time_unit(time_unit if time_unit is not None else summary.attrs.get("time_unit"))
        keep = w > 0
        frame = pd.DataFrame({"x": x[keep], "tx": tx[keep], "n": n[keep], "w": w[keep]})
        frame = frame.groupby(["x", "tx", "n"], as_index=False)["w"].sum()
        x, tx, n, w = (frame[c].to_numpy(dtype=float) for c in ("x", "tx", "n", "w"))
        total = float(w.sum())
        z, nll, H, info = maximise(
            lambda z: self._nll(z, x, tx, n, w),
            [np.full(4, 0.1), np.zeros(4), np.array([0.5, 0.0, -0.5, 1.0])],
            n=total,
            penalizer=float(self.penalizer),
            model="BetaGeoBetaBinom",
            names=self._param_names,
            advice=(
                "a small penalizer, e.g. BetaGeoBetaBinom(penalizer=0.001); and a look at the data: the model "
                "needs customers with several purchase opportunities and some repeat purchases."
            ),
        )
        self._set_fit(np.exp(z), np.linalg.inv(H), nll, info, total)
        self.n_periods_max_ = float(n.max(initial=0))
        return self

    def _nll(self, z, x, tx, n, w):
        p = np.exp(z)
        al, be, ga, de = p
        ll = 0.0
        grad = np.zeros(4)
        J = int((n - tx).max(initial=0)) + 1
        step = max(1, _CELLS // max(J, 1))
        for sl in chunked(len(x), step):
            log_t, xb, k, g, h, valid = _bgbb_terms(p, x[sl], tx[sl], n[sl])
            lse, wts = _logsumexp_rows(log_t)
            ww = wts * w[sl][:, None]
            ll += dot(w[sl], lse)
            d_al = digamma(al + xb) - digamma(al + be + xb + k) - (digamma(al) - digamma(al + be))
            d_be = digamma(be + k) - digamma(al + be + xb + k) - (digamma(be) - digamma(al + be))
            d_ga = digamma(ga + g) - digamma(ga + de + g + h) - (digamma(ga) - digamma(ga + de))
            d_de = digamma(de + h) - digamma(ga + de + g + h) - (digamma(de) - digamma(ga + de))
            for j, d in enumerate((d_al, d_be, d_ga, d_de)):
                grad[j] += np.sum(np.where(valid, ww * d, 0.0))
        return -ll, -(grad * p)

    # -- predictions ----------------------------------------------------------------------
    def _arrays(self, summary, frequency_col, recency_col, n_periods_col):
        self._check_fitted()
        return _bgbb_arrays(summary, frequency_col, recency_col, n_periods_col)

    def _loglik(self, p, x, tx, n):
        out = np.empty(len(x))
        J = int((n - tx).max(initial=0)) + 1
        for sl in chunked(len(x), max(1, _CELLS // J)):
            out[sl] = _logsumexp_rows(_bgbb_terms(p, x[sl], tx[sl], n[sl])[0])[0]
        return out

    def _expected(self, p, x, tx, n, m, loglik=None):
        al, be, ga, de = p
        ll = self._loglik(p, x, tx, n) if loglik is None else loglik
        log_front = betaln(al + x + 1, be + n - x) - betaln(al, be) - ll
        with np.errstate(all="ignore"):
            a1 = np.exp(gammaln(1 + de + n) - gammaln(ga + de + n))
            a2 = np.exp(gammaln(1 + de + n + m) - gammaln(ga + de + n + m))
            if abs(ga - 1.0) < 1e-10:  # the limit gamma -> 1: delta * log((delta + n + m) / (delta + n))
                factor = de * (np.log(de + n + m) - np.log(de + n))
            else:
                factor = de / (ga - 1.0) * math.exp(gammaln(ga + de) - gammaln(1 + de)) * (a1 - a2)
        return np.exp(log_front) * factor

    def expected_purchases(
        self,
        summary: pd.DataFrame,
        t: int,
        *,
        chunk_size: int = 250_000,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        n_periods_col: str = "n_periods",
    ) -> pd.Series:
        """Expected purchases of each customer in the next ``t`` periods (Fader et al. 2010, eq. 13).

        Returns a Series named ``expected_purchases_next_<t><unit>``.
        """
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ParameterError(f"t: expected a whole number of periods ≥ 0, found {t!r}.")
        x, tx, n = self._arrays(summary, frequency_col, recency_col, n_periods_col)
        p = self.params_.to_numpy(dtype=float)
        out = np.empty(len(x))
        for sl in chunked(len(x), chunk_size):
            out[sl] = self._expected(p, x[sl], tx[sl], n[sl], float(t))
        unit = self.time_unit_ or "periods"
        s = pd.Series(out, index=summary.index.copy(), name=f"expected_purchases_next_{t}{unit}")
        s.attrs.update(model="BetaGeoBetaBinom", t=float(t), time_unit=self.time_unit_)
        return s

    def prob_alive(
        self,
        summary: pd.DataFrame,
        t: int = 0,
        *,
        chunk_size: int = 250_000,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        n_periods_col: str = "n_periods",
    ) -> pd.Series:
        """Probability that each customer is alive at period ``n + t`` (default: at the end, t = 0)."""
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ParameterError(f"t: expected a whole number of periods ≥ 0, found {t!r}.")
        x, tx, n = self._arrays(summary, frequency_col, recency_col, n_periods_col)
        al, be, ga, de = p = self.params_.to_numpy(dtype=float)
        out = np.empty(len(x))
        for sl in chunked(len(x), chunk_size):
            xs, ns = x[sl], n[sl]
            ll = self._loglik(p, xs, tx[sl], ns)
            out[sl] = np.exp(
                betaln(al + xs, be + ns - xs) - betaln(al, be) + betaln(ga, de + ns + t) - betaln(ga, de) - ll
            )
        s = pd.Series(out, index=summary.index.copy(), name="prob_alive")
        s.attrs.update(model="BetaGeoBetaBinom", time_unit=self.time_unit_)
        return s

    def expected_purchases_new_customer(self, t):
        """Expected repeat purchases of a new customer in the first ``t`` opportunities (eq. 7)."""
        self._check_fitted()
        al, be, ga, de = self.params_.to_numpy(dtype=float)
        t_arr = np.asarray(t, dtype=float)
        if np.any(t_arr < 0) or np.any(t_arr != np.round(t_arr)):
            raise ParameterError(f"t: expected whole numbers of periods ≥ 0, found {t!r}.")
        ratio = np.exp(gammaln(ga + de) - gammaln(ga + de + t_arr) + gammaln(1 + de + t_arr) - gammaln(1 + de))
        out = al / (al + be) * de / (ga - 1.0) * (1.0 - ratio)
        return float(out) if np.ndim(out) == 0 else out

    def _discounted_purchases(self, p, x, tx, n, horizon, delta):
        """Purchases in periods n+1 … n+horizon, the k-th discounted by exp(-delta k)."""
        if horizon != int(horizon):
            raise ParameterError(f"horizon: the BG/BB counts whole periods, found {horizon!r}.")
        ll = self._loglik(p, x, tx, n)
        prev = np.zeros(len(x))
        disc = np.zeros(len(x))
        for k in range(1, int(horizon) + 1):
            cur = self._expected(p, x, tx, n, float(k), loglik=ll)
            disc += math.exp(-delta * k) * (cur - prev)
            prev = cur
        return disc, prev

    def _prob_alive(self, p, x, tx, n):
        al, be, ga, de = p
        return np.exp(
            betaln(al + x, be + n - x) - betaln(al, be) + betaln(ga, de + n) - betaln(ga, de) - self._loglik(p, x, tx, n)
        )


# --------------------------------------------------------------------------- sBG


def _survivor_table(survivors) -> np.ndarray:
    """Survivors as a (periods x cohorts) float array; NaN after a cohort's last observed period."""
    if isinstance(survivors, pd.DataFrame):
        arr = survivors.to_numpy(dtype=float, na_value=np.nan)
    elif isinstance(survivors, pd.Series):
        arr = survivors.to_numpy(dtype=float, na_value=np.nan)[:, None]
    else:
        try:
            arr = np.asarray(survivors, dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"survivors: expected numbers of customers still active per period, found {survivors!r}."
            ) from None
        if arr.ndim == 1:
            arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise DataValidationError(
            "survivors: expected customers active at the start (period 0) and in at least one later period, "
            f"found an array of shape {arr.shape}."
        )
    for c in range(arr.shape[1]):
        col = arr[:, c]
        seen = ~np.isnan(col)
        last = int(np.flatnonzero(seen).max(initial=-1))
        where = f"survivors (cohort {c})" if arr.shape[1] > 1 else "survivors"
        if last < 1 or not seen[: last + 1].all():
            raise DataValidationError(
                f"{where}: expected counts from period 0 onward without gaps (missing values only after the "
                f"last observed period), found {col.tolist()}."
            )
        obs = col[: last + 1]
        if obs[0] <= 0 or np.any(obs < 0) or np.any(np.diff(obs) > 0):
            raise DataValidationError(
                f"{where}: expected a cohort size > 0 followed by non-increasing counts ≥ 0 (customers who "
                f"left do not come back), found {obs.tolist()}."
            )
    return arr


class ShiftedBetaGeometric(ModelBase):
    """The shifted-beta-geometric (sBG) model of contract renewal (Fader & Hardie 2007).

    Each customer renews at the end of each period with a constant probability 1 − θ;
    across customers θ ~ Beta(``alpha``, ``beta``). The model fits on the number of
    customers of a cohort still active at the start of each period (period 0 = the
    cohort size) and projects retention beyond the data.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters.

    Examples
    --------
    >>> survivors = [1000, 869, 743, 653, 593, 551, 517, 491]   # Fader & Hardie (2007), "high end"
    >>> model = ShiftedBetaGeometric().fit(survivors, time_unit="Y")
    >>> model.params_.round(3).tolist()
    [0.668, 3.806]
    >>> model.retention_curve(12)["survival"].round(3).iloc[-1]   # projected share active in year 12
    np.float64(0.378)
    """

    _param_names = ("alpha", "beta")

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, survivors, *, time_unit: str | None = None):
        """Fit on customers still active per period.

        Parameters
        ----------
        survivors : sequence of numbers, pandas.Series or pandas.DataFrame
            Customers active at the start of periods 0, 1, …, n (period 0: the cohort
            size); counts never increase. A DataFrame holds several cohorts, one per
            column, with missing values after each cohort's last observed period.
        time_unit : {"D", "W", "M", "Y"}, optional
            The length of a period.

        Returns
        -------
        self
        """
        S = _survivor_table(survivors)
        self.time_unit_ = check_time_unit(time_unit)
        lost_t, lost_w, cens_n, cens_w = [], [], [], []
        for c in range(S.shape[1]):
            col = S[:, c]
            last = int(np.flatnonzero(~np.isnan(col)).max())
            obs = col[: last + 1]
            lost = -np.diff(obs)
            lost_t.append(np.arange(1, last + 1, dtype=float))
            lost_w.append(lost)
            cens_n.append(float(last))
            cens_w.append(obs[-1])
        t, wl = np.concatenate(lost_t), np.concatenate(lost_w)
        n_c, wc = np.array(cens_n), np.array(cens_w)
        total = float(wl.sum() + wc.sum())
        self._observed = S
        z, nll, H, info = maximise(
            lambda z: self._nll(z, t, wl, n_c, wc),
            [np.zeros(2), np.array([-0.5, 0.5]), np.array([1.0, 2.0])],
            n=total,
            penalizer=float(self.penalizer),
            model="ShiftedBetaGeometric",
            names=self._param_names,
            advice="a small penalizer, e.g. ShiftedBetaGeometric(penalizer=0.001); and more periods of data "
            "(the model needs the retention rate to change over at least three periods).",
        )
        self._set_fit(np.exp(z), np.linalg.inv(H), nll, info, total)
        return self

    @staticmethod
    def _nll(z, t, wl, n_c, wc):
        al, be = np.exp(z)
        base = betaln(al, be)
        # P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta); S(n) = B(alpha, beta + n) / B(alpha, beta)
        ll = dot(wl, betaln(al + 1, be + t - 1) - base) + dot(wc, betaln(al, be + n_c) - base)
        d_base_a = digamma(al) - digamma(al + be)
        d_base_b = digamma(be) - digamma(al + be)
        g_a = dot(wl, digamma(al + 1) - digamma(al + be + t) - d_base_a) + dot(
            wc, digamma(al) - digamma(al + be + n_c) - d_base_a
        )
        g_b = dot(wl, digamma(be + t - 1) - digamma(al + be + t) - d_base_b) + dot(
            wc, digamma(be + n_c) - digamma(al + be + n_c) - d_base_b
        )
        return -ll, -np.array([g_a * al, g_b * be])

    def survival(self, t):
        """Share of a cohort still active at the start of period ``t`` (S(0) = 1)."""
        self._check_fitted()
        al, be = self.params_.to_numpy(dtype=float)
        t = np.asarray(t, dtype=float)
        return np.exp(betaln(al, be + t) - betaln(al, be))

    def retention_rate(self, t):
        """Share of those active in period ``t - 1`` who renew into period ``t`` (t ≥ 1):
        ``(beta + t - 1) / (alpha + beta + t - 1)``, rising with t as the cohort sorts itself."""
        self._check_fitted()
        al, be = self.params_.to_numpy(dtype=float)
        t = np.asarray(t, dtype=float)
        if np.any(t < 1):
            raise ParameterError("t: retention is defined from period 1 on.")
        return (be + t - 1) / (al + be + t - 1)

    def churn_probability(self, t):
        """P(a new customer's last period is t − 1), i.e. leaving at the end of period t − 1, t ≥ 1."""
        self._check_fitted()
        al, be = self.params_.to_numpy(dtype=float)
        t = np.asarray(t, dtype=float)
        return np.exp(betaln(al + 1, be + t - 1) - betaln(al, be))

    def retention_curve(self, periods: int) -> pd.DataFrame:
        """Survival and retention for periods 0 … ``periods``, with the observed values beside them.

        Returns a DataFrame indexed by ``period`` with ``survival`` (model), ``retention``
        (model, NaN at 0), ``observed_survival`` and ``observed_retention`` (first cohort,
        NaN where not observed).
        """
        self._check_fitted()
        if isinstance(periods, bool) or not isinstance(periods, (int, np.integer)) or periods < 1:
            raise ParameterError(f"periods: expected a whole number ≥ 1, found {periods!r}.")
        t = np.arange(periods + 1, dtype=float)
        obs = np.full(periods + 1, np.nan)
        first = self._observed[:, 0]
        k = min(len(first), periods + 1)
        obs[:k] = first[:k] / first[0]
        ret = np.full(periods + 1, np.nan)
        ret[1:] = self.retention_rate(t[1:])
        obs_ret = np.full(periods + 1, np.nan)
        obs_ret[1:] = obs[1:] / obs[:-1]
        out = pd.DataFrame(
            {"survival": self.survival(t), "retention": ret, "observed_survival": obs, "observed_retention": obs_ret},
            index=pd.Index(np.arange(periods + 1), name="period"),
        )
        out.attrs["time_unit"] = self.time_unit_
        return out

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL: expected discounted number of payments of a new customer, the first at period 0.

        ``sum_t S(t) / (1 + d)^t = 2F1(1, beta; alpha + beta; 1 / (1 + d))`` (Fader &
        Hardie 2010, eq. 4). Multiply by the payment per period to get the expected CLV
        of a customer about to sign up. ``discount_rate`` is per period.
        """
        return self.discounted_expected_residual_lifetime(discount_rate, renewals=-1) * 1.0

    def discounted_expected_residual_lifetime(self, discount_rate: float, renewals: int = 0) -> float:
        """DERL of a customer who has made ``renewals`` renewals (Fader & Hardie 2010, eq. 6).

        The expected discounted number of payments still to come, standing at the end of
        period ``n = renewals + 1`` just before the customer decides whether to renew:
        ``(beta + n - 1) / (alpha + beta + n - 1) · 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d))``.
        The next payment (if the customer renews) is not discounted; each later one by
        one more period. ``discount_rate`` is per period (a year for annual contracts);
        multiply by the payment per period for the residual value. ``renewals=-1`` gives
        :meth:`discounted_expected_lifetime`.
        """
        self._check_fitted()
        if not (isinstance(discount_rate, (int, float, np.floating)) and discount_rate > 0):
            raise ParameterError(
                f"discount_rate: expected a rate per period > 0 (e.g. 0.1 for 10 %), found {discount_rate!r}."
            )
        if isinstance(renewals, bool) or not isinstance(renewals, (int, np.integer)) or renewals < -1:
            raise ParameterError(f"renewals: expected a whole number ≥ 0, found {renewals!r}.")
        al, be = self.params_.to_numpy(dtype=float)
        n = renewals + 1
        z = 1.0 / (1.0 + discount_rate)
        if n == 0:
            return float(hyp2f1(1.0, be, al + be, z))
        return float((be + n - 1) / (al + be + n - 1) * hyp2f1(1.0, be + n, al + be + n, z))

    def plot(self, periods: int | None = None):
        """Observed and projected survival of the cohort (plotly Figure)."""
        import plotly.graph_objects as go

        periods = periods or max(12, 2 * (self._observed.shape[0] - 1))
        curve = self.retention_curve(periods)
        unit = {None: "Period", "D": "Day", "W": "Week", "M": "Month", "Y": "Year"}[self.time_unit_]
        fig = go.Figure()
        fig.add_scatter(x=curve.index, y=100 * curve["survival"], mode="lines", name="sBG model")
        fig.add_scatter(x=curve.index, y=100 * curve["observed_survival"], mode="markers", name="observed")
        fig.update_layout(
            title=f"Share of the cohort still active: observed and projected (sBG, alpha={fmt_number(round(self.params_['alpha'], 3))}, "
            f"beta={fmt_number(round(self.params_['beta'], 3))})",
            xaxis_title=f"{unit} since acquisition",
            yaxis_title="Customers still active (% of cohort)",
        )
        return fig
