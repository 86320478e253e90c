"""Customer lifetime value: buy-till-you-die models, spend models and value per customer.

Maximum-likelihood estimators in the scikit-learn style (parameters in ``__init__``,
``fit`` returns self, learned attributes end in ``_``), each with ``params_`` under the
conventional names, ``standard_errors_`` and ``covariance_`` from the Hessian,
``log_likelihood_``, ``convergence_`` and ``summary()``. A fit that does not converge
raises :class:`ConvergenceError` saying what to try.

============================  ===========================  ==========================================
model                         ``params_``                  fits on
============================  ===========================  ==========================================
:class:`BetaGeo` (BG/NBD)     r, alpha, a, b               frequency, recency, T
:class:`ParetoNBD`            r, alpha, s, beta            frequency, recency, T
:class:`ModifiedBetaGeo`      r, alpha, a, b               frequency, recency, T
:class:`BetaGeoBetaBinom`     alpha, beta, gamma, delta    frequency, recency, n_periods (+ counts)
:class:`GammaGamma`           p, q, v                      frequency, monetary_value of repeat buyers
:class:`ShiftedBetaGeometric` alpha, beta                  survivors per period of a cohort
============================  ===========================  ==========================================

Value: :func:`customer_lifetime_value` (horizon, time unit and discounting stated in the
result), :func:`iter_customer_value` (batches, constant memory). Checks:
:func:`calibration_and_holdout`, :func:`holdout_validation`, :func:`tracking`,
:func:`prob_alive_matrix`.

>>> import crmkit.clv as clv
>>> s = clv.simulate_bgnbd(2_000, T=78, r=0.25, alpha=4.4, a=0.8, b=2.4, random_state=3, time_unit="W")
>>> model = clv.BetaGeo().fit(s)
>>> model.summary().columns.tolist()
['estimate', 'std_error', 'ci_low_95%', 'ci_high_95%']
>>> model.prob_alive(s).between(0, 1).all()
np.True_
"""

from __future__ import annotations

from crmkit.clv._base import TIME_UNITS, AssumptionWarning, ConvergenceError, FitInfo
from crmkit.clv._diagnostics import (
    AliveMatrix,
    CalibrationHoldout,
    HoldoutValidation,
    Tracking,
    calibration_and_holdout,
    holdout_validation,
    prob_alive_matrix,
    tracking,
)
from crmkit.clv._discrete import BetaGeoBetaBinom, ShiftedBetaGeometric
from crmkit.clv._simulate import simulate_bgnbd
from crmkit.clv._spend import GammaGamma, SpendIndependence
from crmkit.clv._transaction import BetaGeo, ModifiedBetaGeo, ParetoNBD
from crmkit.clv._value import (
    VALUE_COLUMNS,
    CustomerValue,
    customer_lifetime_value,
    iter_customer_value,
    per_period_discount_rate,
)

__all__ = [
    "BetaGeo",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "BetaGeoBetaBinom",
    "GammaGamma",
    "ShiftedBetaGeometric",
    "customer_lifetime_value",
    "iter_customer_value",
    "per_period_discount_rate",
    "CustomerValue",
    "VALUE_COLUMNS",
    "calibration_and_holdout",
    "CalibrationHoldout",
    "holdout_validation",
    "HoldoutValidation",
    "tracking",
    "Tracking",
    "prob_alive_matrix",
    "AliveMatrix",
    "simulate_bgnbd",
    "SpendIndependence",
    "FitInfo",
    "ConvergenceError",
    "AssumptionWarning",
    "TIME_UNITS",
]
