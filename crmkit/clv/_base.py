"""Shared machinery of the CLV models: input checks, maximum likelihood, parameter tables.

Every model maximises its log-likelihood over the logarithms of its parameters (so they
stay positive) with BFGS and analytic gradients (numeric central differences for the
Pareto/NBD), then polishes the estimate with Newton steps on a finite-difference Hessian
of the gradient. The same Hessian gives the standard errors. A fit that does not reach a
stationary point with a positive definite Hessian raises :class:`ConvergenceError`
saying what to try; it never returns silent nonsense.

>>> info = FitInfo(True, "BFGS + Newton", 12, 15, 1e-9, 40.0, "converged", 1)
>>> info.converged
True
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from crmkit.errors import CrmkitError, DataValidationError, ParameterError

try:  # the error hierarchy lives in crmkit.errors; until it carries this one, it lives here
    from crmkit.errors import ConvergenceError  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the version of crmkit.errors

    class ConvergenceError(CrmkitError, RuntimeError):
        """A model fit did not converge; the message says what was found and what to try."""


__all__ = [
    "ConvergenceError",
    "AssumptionWarning",
    "FitInfo",
    "TIME_UNITS",
    "unit_label",
]


class AssumptionWarning(UserWarning):
    """A model assumption does not hold well in the data; the message gives the figure."""


#: Time units a model can be fit in: days, weeks, calendar months, years. ``None`` = unknown.
TIME_UNITS: dict[str, tuple[str, str, float]] = {
    "D": ("day", "days", 1.0),
    "W": ("week", "weeks", 7.0),
    "M": ("month", "months", 365.25 / 12.0),
    "Y": ("year", "years", 365.25),
}


def check_time_unit(time_unit, *, name: str = "time_unit", allow_none: bool = True) -> str | None:
    """``time_unit`` if it is one of :data:`TIME_UNITS` (or None when allowed), else raise."""
    if time_unit is None and allow_none:
        return None
    if isinstance(time_unit, str) and time_unit in TIME_UNITS:
        return time_unit
    allowed = ", ".join(f"{k!r} ({v[1]})" for k, v in TIME_UNITS.items())
    raise ParameterError(f"{name}: expected one of {allowed}, found {time_unit!r}.")


def unit_label(time_unit: str | None, n: float | None = None) -> str:
    """``"weeks"``, ``"week"`` (n == 1) or ``"periods"`` when the unit is unknown.

    >>> unit_label("W"), unit_label("D", 1), unit_label(None)
    ('weeks', 'day', 'periods')
    """
    if time_unit is None:
        return "period" if n == 1 else "periods"
    singular, plural, _ = TIME_UNITS[time_unit]
    return singular if n == 1 else plural


def fmt_number(value: float) -> str:
    """A number without trailing zeros (``39``, ``2.5``)."""
    return f"{value:g}"


# --------------------------------------------------------------------------- input checks


def _first_ids(index: pd.Index, mask: np.ndarray, k: int = 1) -> str:
    ids = index[np.flatnonzero(mask)[:k]]
    return ", ".join(repr(str(i)) for i in ids)


def column_values(frame: pd.DataFrame, col: str, *, what: str, arg: str, role: str) -> np.ndarray:
    """Column ``col`` of ``frame`` as float64, after checking it exists, is numeric and finite."""
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"{what}: expected a pandas DataFrame, found {type(frame).__name__}.")
    if col not in frame.columns:
        found = ", ".join(repr(str(c)) for c in frame.columns) or "none"
        raise DataValidationError(
            f"{what}: expected a column {col!r} ({role}), found columns {found}. "
            f"Rename the column or pass {arg}='<your column>'."
        )
    series = frame[col]
    if pd.api.types.is_bool_dtype(series.dtype) or not (
        pd.api.types.is_numeric_dtype(series.dtype)
    ):
        raise DataValidationError(
            f"{what}.{col}: expected numbers ({role}), found type {series.dtype}. "
            f"Convert it first, e.g. df[{col!r}] = pd.to_numeric(df[{col!r}])."
        )
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            f"{what}.{col}: expected a finite number ({role}), found missing or infinite values in "
            f"{int(bad.sum()):,} of {len(values):,} rows (first: customer {_first_ids(frame.index, bad)}). "
            f"Every customer must have a value; remove or fill these rows before fitting."
        )
    return values


def require(condition_bad: np.ndarray, frame: pd.DataFrame, *, what: str, expected: str, found: str) -> None:
    """Raise a :class:`DataValidationError` if any row is flagged in ``condition_bad``."""
    if condition_bad.any():
        n = int(condition_bad.sum())
        raise DataValidationError(
            f"{what}: expected {expected}, found {found} in {n:,} of {len(condition_bad):,} rows "
            f"(first: customer {_first_ids(frame.index, condition_bad)})."
        )


def weights_of(frame: pd.DataFrame, weights_col: str | None, *, what: str) -> np.ndarray:
    """Customer counts per row (grouped data) or ones."""
    if weights_col is None:
        return np.ones(len(frame))
    w = column_values(frame, weights_col, what=what, arg="weights_col", role="customers per row")
    require(w < 0, frame, what=f"{what}.{weights_col}", expected="a count of customers ≥ 0", found="negative counts")
    return w


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class FitInfo:
    """How a maximum-likelihood fit ended.

    Attributes
    ----------
    converged : bool
        A stationary point with a positive definite Hessian was reached.
    method : str
        The optimiser(s) used.
    iterations, evaluations : int
        Optimiser iterations and log-likelihood evaluations (of the successful start).
    gradient_max : float
        Largest absolute gradient of the mean negative log-likelihood with respect to the
        log-parameters, at the estimate (0 at an exact optimum).
    hessian_condition : float
        Condition number of the Hessian at the estimate (large = a poorly identified direction).
    message : str
        The optimiser's message.
    starts : int
        Starting points tried.
    """

    converged: bool
    method: str
    iterations: int
    evaluations: int
    gradient_max: float
    hessian_condition: float
    message: str
    starts: int


Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]

_GTOL = 1e-6  # on the mean negative log-likelihood, per log-parameter
# A log-parameter beyond ±11.5 (a parameter beyond 1e±5 on its working scale) has run off
# towards a boundary of the model; so has a fit whose Hessian is this ill-conditioned.
_MAX_ABS_LOG = 11.5
_MAX_CONDITION = 1e10


def numeric_gradient(fun: Callable[[np.ndarray], float], z: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central differences of ``fun`` at ``z`` (well conditioned for log-parameters)."""
    g = np.empty_like(z)
    for i in range(len(z)):
        e = np.zeros_like(z)
        e[i] = h
        g[i] = (fun(z + e) - fun(z - e)) / (2 * h)
    return g


def _hessian(grad: Callable[[np.ndarray], np.ndarray], z: np.ndarray, h: float) -> np.ndarray:
    k = len(z)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        H[:, i] = (grad(z + e) - grad(z - e)) / (2 * h)
    return (H + H.T) / 2


def maximise(
    objective: Objective,
    starts: Sequence[np.ndarray],
    *,
    n: float,
    penalizer: float,
    model: str,
    names: Sequence[str],
    advice: str,
    hessian_step: float = 1e-4,
    max_iter: int = 2_000,
    natural: Callable[[np.ndarray], np.ndarray] | None = None,
    hess_inv: np.ndarray | None = None,
    max_abs_log: Sequence[float] | float = _MAX_ABS_LOG,
) -> tuple[np.ndarray, float, np.ndarray, FitInfo]:
    """Minimise ``objective`` (total negative log-likelihood and its gradient, in log-parameters).

    The optimiser works on the mean (``/ n``) plus ``penalizer * sum(exp(z) ** 2)``, the L2
    penalty of lifetimes on the (internal) parameters. Returns the estimate ``z``, the
    unpenalised total negative log-likelihood there, the Hessian of the *total* penalised
    objective (for standard errors) and a :class:`FitInfo`.

    Raises :class:`ConvergenceError` (with ``advice``) when no start reaches a stationary
    point with a positive definite Hessian and finite parameters.
    """
    if not (isinstance(penalizer, (int, float)) and math.isfinite(penalizer) and penalizer >= 0):
        raise ParameterError(f"{model}: penalizer must be a number ≥ 0, found {penalizer!r}.")
    if n <= 0:
        raise DataValidationError(f"{model}: the summary holds no customers to fit on.")

    def mean_objective(z):
        with np.errstate(all="ignore"):
            v, g = objective(z)
            p = np.exp(2 * z)
            v = v / n + penalizer * p.sum()
            g = g / n + 2 * penalizer * p
        if not np.isfinite(v) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros_like(z)
        return v, g

    def grad(z):
        return mean_objective(z)[1]

    limit = np.broadcast_to(np.asarray(max_abs_log, dtype=float), (len(names),))

    attempts = []
    for k, z0 in enumerate(starts, start=1):
        z0 = np.asarray(z0, dtype=float)
        # BFGS: the log-parameters need no bounds, and for four parameters its dense update
        # costs less per iteration than L-BFGS-B's bookkeeping.
        options = {"maxiter": max_iter, "gtol": 1e-9}
        if hess_inv is not None and k == 1:
            options["hess_inv0"] = hess_inv
        res = optimize.minimize(mean_objective, z0, jac=True, method="BFGS", options=options)
        z, f = res.x, res.fun
        if not np.isfinite(f) or np.any(np.abs(z) > 2 * limit):
            attempts.append((f if np.isfinite(f) else np.inf, z, None, res, "a parameter ran off towards 0 or infinity", k))
            continue
        H = _hessian(grad, z, hessian_step)
        # Newton polish: BFGS stops a little short; a few Newton steps make the
        # estimate exact to the last digits the data support.
        for _ in range(4):
            g = grad(z)
            if np.max(np.abs(g)) < 1e-10 or not np.all(np.isfinite(H)):
                break
            try:
                step = -np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
                break
            f_new = mean_objective(z + step)[0]
            if f_new <= f + 1e-13 * max(1.0, abs(f)):
                z, f = z + step, f_new
                if np.max(np.abs(step)) > 1e-3:  # the curvature barely moves over smaller steps
                    H = _hessian(grad, z, hessian_step)
            else:
                break
        g = grad(z)
        gmax = float(np.max(np.abs(g)))
        eig = np.linalg.eigvalsh(H) if np.all(np.isfinite(H)) else np.array([np.nan])
        if not np.all(np.isfinite(eig)):
            reason = "the Hessian could not be computed at the estimate"
        elif eig.min() <= 0:
            reason = "the log-likelihood is flat or not concave at the estimate (Hessian not positive definite)"
        elif np.any(np.abs(z) > limit):
            reason = "a parameter ran off towards 0 or infinity"
        elif eig.max() / eig.min() > _MAX_CONDITION:
            reason = (
                f"the log-likelihood is nearly flat in some direction at the estimate (Hessian condition number "
                f"{eig.max() / eig.min():.1e}), so at least one parameter is not identified by the data"
            )
        elif gmax > _GTOL:
            reason = f"the optimiser stopped before the gradient vanished ({res.message})"
        else:
            reason = ""
        attempts.append((f, z, H, res, reason, k))
        if not reason:
            cond = float(eig.max() / eig.min())
            info = FitInfo(
                converged=True,
                method="BFGS + Newton",
                iterations=int(res.nit),
                evaluations=int(res.nfev),
                gradient_max=gmax,
                hessian_condition=cond,
                message=str(res.message),
                starts=k,
            )
            nll = float(objective(z)[0])
            return z, nll, H * n, info

    best = min(attempts, key=lambda a: a[0])
    f, z, _, res, reason, _ = best
    z = np.clip(z, -700, 700)
    values = natural(z) if natural is not None else np.exp(z)
    shown = ", ".join(f"{nm}={v:.4g}" for nm, v in zip(names, values))
    extreme = [nm for nm, v, lim in zip(names, z, limit) if abs(v) > lim]
    hint = ""
    if extreme:
        towards = " or ".join(
            dict.fromkeys("0" if v < 0 else "infinity" for nm, v in zip(names, z) if nm in extreme)
        )
        hint = (
            f" {' and '.join(extreme)} ran towards {towards}: the data cannot tell that part of the model apart "
            f"from its limit"
        )
        if {"a", "b"} <= set(names) and {"a", "b"} & set(extreme):
            hint += (
                " (for the BG/NBD: a towards 0 or b towards infinity means nobody seems to leave; a and b growing "
                "together, that everybody leaves with the same probability)"
            )
        hint += "."
    raise ConvergenceError(
        f"{model}: the fit did not converge: {reason} (best of {len(attempts)} starting points, "
        f"{int(res.nit)} iterations; parameters there: {shown}).{hint} "
        f"Try: {advice} The estimate is not returned because it would not be a maximum of the likelihood."
    )


def parameter_table(
    params: pd.Series, log_cov: np.ndarray, level: float = 0.95
) -> pd.DataFrame:
    """Estimate, standard error and a confidence interval per parameter.

    The interval is computed on the log scale and transformed back (so it stays
    positive): ``exp(log θ ± z · se(log θ))``; the standard error is the delta-method one
    on the natural scale, ``θ · se(log θ)``.
    """
    if not 0 < level < 1:
        raise ParameterError(f"level: expected a probability between 0 and 1, found {level!r}.")
    se_log = np.sqrt(np.diag(log_cov))
    zq = stats.norm.ppf(0.5 + level / 2)
    est = params.to_numpy(dtype=float)
    pct = f"{level:.0%}"
    return pd.DataFrame(
        {
            "estimate": est,
            "std_error": est * se_log,
            f"ci_low_{pct}": est * np.exp(-zq * se_log),
            f"ci_high_{pct}": est * np.exp(zq * se_log),
        },
        index=pd.Index(params.index, name="parameter"),
    )


class ModelBase:
    """What every crmkit CLV model shares: parameters in ``__init__``, learned attributes after ``fit``."""

    _param_names: tuple[str, ...] = ()
    _label: str = "model"

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name, p in sig.parameters.items():
            if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            value = getattr(self, name, p.default)
            if value is not p.default:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def get_params(self, deep: bool = True) -> dict:
        """The ``__init__`` parameters (scikit-learn convention)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def set_params(self, **params):
        """Set ``__init__`` parameters (scikit-learn convention); returns self."""
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ParameterError(f"{type(self).__name__}: unknown parameter {k!r}; parameters are {', '.join(valid)}.")
            setattr(self, k, v)
        return self

    # -- after fit -------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ParameterError(f"{type(self).__name__} is not fitted yet: call .fit(...) first.")

    def _set_fit(self, params: np.ndarray, log_cov: np.ndarray, nll: float, info: FitInfo, n: float) -> None:
        names = list(self._param_names)
        self.params_ = pd.Series(params, index=names, name="estimate")
        self._log_cov = log_cov
        cov = np.outer(params, params) * log_cov
        self.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names, name="std_error")
        self.log_likelihood_ = -float(nll)
        self.convergence_ = info
        self.n_customers_ = float(n) if not float(n).is_integer() else int(n)

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals of the parameters (log-scale Wald intervals, always positive)."""
        self._check_fitted()
        table = parameter_table(self.params_, self._log_cov, level)
        return table.iloc[:, 2:].set_axis(["low", "high"], axis=1)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Parameters with standard errors and confidence intervals, one row each.

        ``attrs`` carry the log-likelihood, the number of customers and the time unit.
        """
        self._check_fitted()
        table = parameter_table(self.params_, self._log_cov, level)
        table.attrs.update(
            model=type(self).__name__,
            log_likelihood=self.log_likelihood_,
            n_customers=self.n_customers_,
            time_unit=getattr(self, "time_unit_", None),
        )
        return table

    @property
    def aic_(self) -> float:
        """Akaike's information criterion, ``2k − 2 log L``."""
        self._check_fitted()
        return 2 * len(self._param_names) - 2 * self.log_likelihood_

    def _with_params(self, params: np.ndarray):
        """A copy of this fitted model with other parameter values (for parameter draws)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.params_ = pd.Series(np.asarray(params, dtype=float), index=list(self._param_names), name="estimate")
        return clone

    def _param_draws(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Parameter vectors drawn from the estimate's asymptotic normal distribution (log scale)."""
        self._check_fitted()
        z = np.log(self.params_.to_numpy(dtype=float))
        return np.exp(rng.multivariate_normal(z, self._log_cov, size=n_draws, method="eigh"))


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """The dot product of two vectors, through einsum rather than BLAS.

    A threaded BLAS dot wakes its thread pool even for short vectors; on a machine whose
    cores are busy that costs milliseconds per call, 40x the arithmetic.
    """
    return float(np.einsum("i,i->", a, b))


def chunked(n: int, chunk_size: int):
    """Slices of ``range(n)`` of at most ``chunk_size`` rows."""
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ParameterError(f"chunk_size: expected a whole number ≥ 1, found {chunk_size!r}.")
    for start in range(0, n, int(chunk_size)):
        yield slice(start, min(start + int(chunk_size), n))
