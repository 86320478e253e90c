"""The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = rng.integers(1, 8, 800).astype(float)
>>> nu = rng.gamma(4.0, 1 / 20.0, 800)
>>> m = rng.gamma(6.0 * x, 1 / (nu * x))          # mean of x spends ~ Gamma(p, nu)
>>> summary = pd.DataFrame({"frequency": x, "monetary_value": m})
>>> model = GammaGamma().fit(summary)
>>> list(model.params_.index)
['p', 'q', 'v']
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import digamma, gammaln

from crmkit.clv._base import AssumptionWarning, ModelBase, chunked, column_values, dot, maximise, require, weights_of
from crmkit.errors import DataValidationError, ParameterError

__all__ = ["GammaGamma", "SpendIndependence"]


@dataclass(frozen=True)
class SpendIndependence:
    """The Gamma-Gamma independence check: Pearson correlation of frequency and spend.

    Attributes
    ----------
    correlation : float
        Between repeat purchases and mean spend per repeat purchase, over repeat buyers.
    ci_low, ci_high : float
        95 % confidence interval (Fisher's z).
    p_value : float
        Test of zero correlation.
    n : int
        Repeat buyers used.
    threshold : float
        The absolute correlation above which the model warns.
    """

    correlation: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    threshold: float

    @property
    def holds(self) -> bool:
        """Whether ``|correlation| ≤ threshold``."""
        return abs(self.correlation) <= self.threshold

    def summary(self) -> pd.DataFrame:
        """One row: correlation, interval, p-value, n, threshold, holds."""
        return pd.DataFrame(
            [
                {
                    "correlation": self.correlation,
                    "ci_low_95%": self.ci_low,
                    "ci_high_95%": self.ci_high,
                    "p_value": self.p_value,
                    "repeat_buyers": self.n,
                    "threshold": self.threshold,
                    "assumption_holds": self.holds,
                }
            ]
        )


def _independence(x, m, threshold) -> SpendIndependence:
    n = len(x)
    if n < 4 or np.std(x) == 0 or np.std(m) == 0:
        return SpendIndependence(float("nan"), float("nan"), float("nan"), float("nan"), n, threshold)
    res = stats.pearsonr(x, m)
    ci = res.confidence_interval(0.95)
    return SpendIndependence(float(res.statistic), float(ci.low), float(ci.high), float(res.pvalue), n, threshold)


class GammaGamma(ModelBase):
    """Spend per purchase: each customer's purchases are Gamma(``p``, ν), ν ~ Gamma(``q``, ``v``).

    Fits on repeat buyers (``frequency > 0``) with their mean spend per repeat purchase
    (``monetary_value`` of :func:`crmkit.features.rfm_summary`). Customers without a
    repeat purchase carry no spend information and are set aside, as are repeat buyers
    with a mean spend ≤ 0 (returns, free orders) — counted, with reasons, in
    ``set_aside_``. The mean spend of a customer is ``p ν``; across customers it averages
    ``p v / (q − 1)``.

    The model assumes that how often a customer buys says nothing about how much they
    spend. :meth:`fit` checks it: the correlation of frequency and spend is kept in
    ``independence_``, and when its absolute value exceeds ``max_correlation`` an
    :class:`~crmkit.clv.AssumptionWarning` gives the figure.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters, as in lifetimes.
    max_correlation : float, default 0.3
        Absolute correlation of frequency and spend above which the model warns.

    Attributes
    ----------
    params_, standard_errors_, covariance_, log_likelihood_, convergence_
        As for the transaction models.
    independence_ : SpendIndependence
    set_aside_ : pandas.DataFrame
        ``reason`` and ``customers`` for the rows not used.
    n_customers_ : int
        Repeat buyers used.
    """

    _param_names = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0, max_correlation: float = 0.3):
        self.penalizer = penalizer
        self.max_correlation = max_correlation

    def fit(
        self,
        summary: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        monetary_value_col: str = "monetary_value",
        weights_col: str | None = None,
    ):
        """Fit on the repeat buyers of ``summary``; returns self."""
        if not (isinstance(self.max_correlation, (int, float)) and 0 <= self.max_correlation <= 1):
            raise ParameterError(f"max_correlation: expected a number in [0, 1], found {self.max_correlation!r}.")
        x = column_values(summary, frequency_col, what="summary", arg="frequency_col", role="repeat purchases")
        m = column_values(summary, monetary_value_col, what="summary", arg="monetary_value_col", role="mean spend per repeat purchase")
        w = weights_of(summary, weights_col, what="summary")
        require(x < 0, summary, what=f"summary.{frequency_col}", expected="frequency ≥ 0", found="negative values")
        no_repeat = x == 0
        non_positive = (x > 0) & (m <= 0)
        use = (x > 0) & (m > 0) & (w > 0)
        self.set_aside_ = pd.DataFrame(
            {
                "reason": [
                    "no repeat purchase (frequency 0): no spend to learn from",
                    "mean spend per repeat purchase ≤ 0",
                ],
                "customers": [float(w[no_repeat].sum()), float(w[non_positive].sum())],
            }
        )
        x, m, w = x[use], m[use], w[use]
        n = float(w.sum())
        if len(x) < 3:
            raise DataValidationError(
                f"summary: expected repeat buyers with a spend > 0 to fit the Gamma-Gamma model, found {len(x)}; "
                f"{float(self.set_aside_['customers'].sum()):,.0f} rows were set aside (see set_aside_)."
            )
        self.independence_ = _independence(np.repeat(x, w.astype(int)) if weights_col else x,
                                           np.repeat(m, w.astype(int)) if weights_col else m,
                                           float(self.max_correlation))
        if not self.independence_.holds:
            ind = self.independence_
            warnings.warn(
                f"GammaGamma: frequency and spend per purchase are correlated (Pearson r = {ind.correlation:.2f}, "
                f"95% CI {ind.ci_low:.2f} to {ind.ci_high:.2f}, over {ind.n:,} repeat buyers); the model assumes "
                f"they are independent (|r| ≤ {ind.threshold:g}), so its spend predictions will be biased for "
                f"frequent or infrequent buyers. Consider modelling spend by segment or using the observed mean.",
                AssumptionWarning,
                stacklevel=2,
            )
        mean_m = float(np.average(m, weights=w))
        starts = [np.log([2.0, 3.0, mean_m]), np.full(3, 0.1), np.log([6.0, 4.0, mean_m * 0.5])]
        z, nll, H, info = maximise(
            lambda z: self._nll(z, x, m, w),
            starts,
            n=n,
            penalizer=float(self.penalizer),
            model="GammaGamma",
            names=self._param_names,
            advice=(
                "a small penalizer, e.g. GammaGamma(penalizer=0.001); and a look at the spend data: a few "
                "extreme values (or amounts in the wrong unit) can make the spend distribution look "
                "heavy-tailed enough that q runs towards 1."
            ),
            max_abs_log=[11.5, 11.5, 23.0],  # v is in currency units and may be large
        )
        self._set_fit(np.exp(z), np.linalg.inv(H), nll, info, n)
        return self

    @staticmethod
    def _nll(z, x, m, w):
        p, q, v = np.exp(z)
        px = p * x
        lxmv = np.log(x * m + v)
        lm, lx = np.log(m), np.log(x)
        W = float(w.sum())
        ll = dot(w, gammaln(px + q) - gammaln(px) + (px - 1) * lm + px * lx - (px + q) * lxmv)
        ll += W * (q * math.log(v) - gammaln(q))
        dpq = digamma(px + q)
        g_p = dot(w, x * (dpq - digamma(px) + lm + lx - lxmv))
        g_q = dot(w, dpq - lxmv) + W * (math.log(v) - digamma(q))
        g_v = W * q / v - dot(w, (px + q) / (x * m + v))
        return -ll, -np.array([g_p * p, g_q * q, g_v * v])

    def _mean_spend(self, params, x, m):
        p, q, v = params
        if q <= 1:
            raise DataValidationError(
                f"GammaGamma: the fitted q = {q:.3g} ≤ 1 means the spend distribution has no finite mean, so "
                f"expected spend cannot be computed. Check the monetary values for extreme outliers or a wrong unit."
            )
        # A weighted average of the customer's own mean and the population mean (eq. 5 of note 025).
        xs = np.where(x > 0, x, 0.0)
        return (p * (v + xs * np.where(x > 0, m, 0.0))) / (p * xs + q - 1)

    def expected_spend(
        self,
        summary: pd.DataFrame,
        *,
        chunk_size: int = 250_000,
        frequency_col: str = "frequency",
        monetary_value_col: str = "monetary_value",
    ) -> pd.Series:
        """Expected spend per future purchase of each customer.

        For repeat buyers a weighted average of their own mean spend and the population
        mean (more weight the more purchases they made); for customers without repeat
        purchases the population mean ``p v / (q − 1)``.

        Returns a Series named ``expected_spend`` (currency units of the input).
        """
        self._check_fitted()
        x = column_values(summary, frequency_col, what="summary", arg="frequency_col", role="repeat purchases")
        m = column_values(summary, monetary_value_col, what="summary", arg="monetary_value_col", role="mean spend per repeat purchase")
        p = self.params_.to_numpy(dtype=float)
        out = np.empty(len(x))
        for sl in chunked(len(x), chunk_size):
            out[sl] = self._mean_spend(p, x[sl], np.maximum(m[sl], 0.0))
        s = pd.Series(out, index=summary.index.copy(), name="expected_spend")
        s.attrs["model"] = "GammaGamma"
        return s

    def population_mean_spend(self) -> float:
        """Average spend per purchase across customers, ``p v / (q − 1)``."""
        self._check_fitted()
        p, q, v = self.params_.to_numpy(dtype=float)
        return float(self._mean_spend((p, q, v), np.zeros(1), np.zeros(1))[0])
