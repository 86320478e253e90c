"""Draw customer summaries from the BG/NBD process (for tests, benchmarks and what-ifs).

>>> s = simulate_bgnbd(5, T=52, r=0.25, alpha=4.0, a=0.8, b=2.5, random_state=0)
>>> list(s.columns)
['frequency', 'recency', 'T', 'true_rate', 'true_dropout', 'true_alive']
>>> bool((s["recency"] <= s["T"]).all())
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.clv._base import check_time_unit
from crmkit.errors import ParameterError

__all__ = ["simulate_bgnbd"]


def simulate_bgnbd(
    n_customers: int,
    T,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    random_state: int | np.random.Generator | None = 0,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Simulate the BG/NBD buying process for ``n_customers`` customers.

    Each customer makes a first purchase at time 0, then buys as a Poisson process with
    rate λ ~ Gamma(shape ``r``, rate ``alpha``) and drops out after each repeat purchase
    with probability p ~ Beta(``a``, ``b``), observed until ``T``.

    Parameters
    ----------
    n_customers : int
    T : float or array of float
        Time from each customer's first purchase to the end of observation (one value
        for all, or one per customer).
    r, alpha, a, b : float
        BG/NBD parameters (``alpha`` in the time unit of ``T``).
    random_state : int, Generator or None, default 0
    time_unit : str, optional
        Stored in ``attrs["time_unit"]`` so that models fitted on the result know it.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (``"S0000001"`` …): ``frequency``, ``recency``, ``T``
        (continuous time, as in Fader, Hardie & Lee 2005) and the drawn truth:
        ``true_rate`` (λ), ``true_dropout`` (p), ``true_alive`` (not dropped out by T).
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < 1:
        raise ParameterError(f"n_customers: expected a whole number ≥ 1, found {n_customers!r}.")
    for name, value in {"r": r, "alpha": alpha, "a": a, "b": b}.items():
        if not (isinstance(value, (int, float, np.floating)) and value > 0 and np.isfinite(value)):
            raise ParameterError(f"{name}: expected a number > 0, found {value!r}.")
    T = np.broadcast_to(np.asarray(T, dtype=float), (int(n_customers),)).copy()
    if np.any(~np.isfinite(T)) or np.any(T < 0):
        raise ParameterError("T: expected observation times ≥ 0.")
    rng = np.random.default_rng(random_state)
    n = int(n_customers)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
    M = rng.poisson(lam * T)  # purchases an immortal customer would make in (0, T]
    J = rng.geometric(p)  # the repeat purchase after which the customer drops out
    x = np.minimum(M, J)
    alive = J > M
    # The x-th of M uniform purchase times on (0, T] is T * Beta(x, M - x + 1).
    has = x > 0
    tx = np.zeros(n)
    tx[has] = T[has] * rng.beta(x[has], M[has] - x[has] + 1)
    width = max(7, len(str(n)))
    index = pd.Index([f"S{i:0{width}d}" for i in range(1, n + 1)], name="customer_id", dtype="string")
    out = pd.DataFrame(
        {
            "frequency": x.astype(float),
            "recency": tx,
            "T": T,
            "true_rate": lam,
            "true_dropout": p,
            "true_alive": alive,
        },
        index=index,
    )
    out.attrs["time_unit"] = check_time_unit(time_unit)
    return out
