"""The offer × channel assignment as a binary programme, solved with HiGHS.

Variables: ``x_i ∈ {0, 1}`` for every candidate row i (customer, offer, channel).
Maximise ``Σ (expected_value_i − cost_i) x_i`` subject to

- local, per customer: at most ``k`` offers; at most one channel per offer; for every
  channel the planned weight ≤ the customer's remaining allowance on it; across channels
  the planned weight ≤ the cross-channel allowance (see :mod:`crmkit.plan._eligibility`);
- global: contacts on channel c ≤ capacity_per_day_c × horizon days; Σ cost ≤ budget;
  min_volume_o ≤ contacts of offer o ≤ max_volume_o.

Two solvers:

``"highs-milp"`` (small instances): the exact programme with :func:`scipy.optimize.milp`;
its LP relaxation with :func:`scipy.optimize.linprog` (``method="highs"``) gives the bound
and the shadow prices (``res.ineqlin.marginals``).

``"highs-lagrangian"`` (large instances): the global constraints are dualised with
multipliers y ≥ 0 (one per channel capacity, the budget, each offer's min and max volume).
For fixed y the problem splits by customer: each takes its rows of highest *reduced value*
``r_i = value_i − cost_i − y_cap[c] − y_budget·cost_i − y_max[o] + y_min[o]`` — one vectorised
numpy pass over all rows. The dual function
``L(y) = Σ_customers best local subset of r + y·b`` is convex piecewise-linear and every
value of it is an upper bound on the optimum (≥ the LP bound; equal to it at the minimum
when k = 1, because the per-customer polytope is then integral). It is minimised with
Kelley's cutting planes in a box trust region: each master step is a small
``linprog(method="highs")`` LP over the multipliers. For k > 1 the per-customer value used in
the bound drops the per-channel caps (each offer's best row, the top min(k, ⌊cross-channel
allowance / lightest weight⌋)): still an upper bound, but a looser one (a few per cent on
small instances), so k > 1 plans report a larger gap. Rows with profit ≤ 0 are left out of
every pass when no offer has a minimum volume (they can never have a positive reduced value).
Warm start and determinism: the cuts of the *first* solve of a constraint structure (same rows
alive, same dualised constraints — e.g. budget moves and capacity moves share one) are kept
as that structure's anchor and rebuilt for new right-hand sides; every later solve of the
structure starts from the anchor's cuts and multipliers, never from the previous solve's, and
every solution is remembered per input tuple (:meth:`Optimizer.solve_raw`). So the same inputs
give the same plan whatever was solved in between (a what-if slider that returns to a value
shows the numbers it showed before), and a warm-started plan and a fresh one
(:func:`crmkit.plan.optimize`) are both within their reported gap of the optimum. The exact
MILP's diagnostic line from HiGHS' C++ code is kept out of stdout (:func:`quiet_stdout`).

The integral plan is built from the final multipliers: every customer takes its best rows
with ``r > 0`` (feasible for the local constraints), then a repair drops the lowest-r
contacts until each channel's capacity, the budget and the offers' maxima hold, then a fill
adds rows greedily (highest r first) into the slack left — first for offers under their
minimum, then any row with positive profit, then (k = 1) upgrades of planned customers to a
more profitable row of theirs where the slack allows. The rows to start from are the
Dantzig-Wolfe recovery x̄ = Σ α_j x_j (α: the master LP's duals on its cuts) rounded at ½.
When that plan is still more than 10 × tol below the bound, the 400 customers whose choice is
least clear at the final multipliers are re-decided exactly by a HiGHS MILP ("core"), the
others keeping their best row. ``gap = (bound − objective) / bound``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from crmkit.errors import ParameterError
from crmkit.plan._policy import CHANNEL_WORDS, ContactPolicy, InfeasiblePolicyError

__all__ = ["MILP_MAX_ROWS", "Optimizer", "Solution", "prepare", "quiet_stdout"]

#: Above this many candidate rows ``method="auto"`` uses the Lagrangian decomposition.
MILP_MAX_ROWS = 20_000

#: Solutions (and plans) an :class:`Optimizer` remembers per input tuple (least recently used dropped).
MEMO_SIZE = 16
#: Constraint structures whose warm-start anchor an :class:`Optimizer` keeps.
ANCHOR_SIZE = 8


@contextlib.contextmanager
def quiet_stdout():
    """Silence what C/C++ code writes to file descriptor 1 (HiGHS' MILP prints
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();`` from inside
    scipy, past Python's ``sys.stdout``): fd 1 points at ``/dev/null`` inside the block and is
    restored afterwards, whatever happens. Python's own ``print`` output is flushed first."""
    with contextlib.suppress(Exception):  # a closed or odd stdout must not stop the solve
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 (embedded interpreters): nothing to silence
        yield
        return
    libc = None
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.fflush(None)
    except Exception:  # noqa: BLE001 - without libc the C buffer is flushed at exit instead
        libc = None
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        if libc is not None:
            with contextlib.suppress(Exception):
                libc.fflush(None)  # C stdio buffers go to /dev/null, not to the restored stdout
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _norm_changes(d) -> tuple:
    """A hashable, order-free form of a caps/capacity dict (keys as text, values as floats)."""
    if not d:
        return ()
    out = []
    for k, v in d.items():
        key = tuple(str(x).lower() for x in k) if isinstance(k, tuple) else str(k).lower()
        val = None if v is None else float(v)
        if val is not None and np.isnan(val):
            val = None
        out.append((repr(key), val))
    return tuple(sorted(out, key=lambda t: t[0]))


@dataclass
class Solution:
    """Raw result of one solve (arrays over the prepared rows)."""

    selected: np.ndarray  # bool per row
    objective: float  # Σ (value - cost) of the selected rows
    bound: float  # upper bound on the optimum
    solver: str
    status: str
    multipliers: pd.DataFrame  # constraint, kind, target (channel/offer), rhs, used, shadow_price
    iterations: int = 0
    seconds: float = 0.0
    reduced: np.ndarray | None = None  # reduced value per row at the final multipliers
    history: list = field(default_factory=list)


def _codes(series: pd.Series, names: list[str]) -> np.ndarray:
    """Position of each value in ``names`` (−1 when absent), fast for categoricals."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        m = pd.Index(names).get_indexer(series.cat.categories.astype(str))
        codes = series.cat.codes.to_numpy()
        return np.where(codes >= 0, m[codes], -1).astype(np.int64)
    return pd.Index(names).get_indexer(series.astype(str)).astype(np.int64)


class _Ledger:
    """What a plan under construction uses, and what is left: contacts per customer (and,
    when a customer may get several, their weight per channel and in all, and the offers
    they have), contacts left per channel and per offer, and the budget left.

    ``take(pool, sel)`` adds the rows of ``pool`` in the order given while every constraint
    still holds; the repair of an integral plan and the greedy ranking both build through it.
    Arrays are over the rows of one instance (``cust``, ``off``, ``chan`` are codes).
    """

    CHUNK = 20_000  # rows pre-filtered at once (resources only shrink, so a row that does not fit now never will)

    def __init__(self, *, sel, cust, off, chan, w, cost, a_row, aa_row, k, n_ch, n_customers, cap, max_volume, budget):
        self.cust, self.off, self.chan, self.w, self.cost = cust, off, chan, w, cost
        self.a_row, self.aa_row, self.k, self.n_ch = a_row, aa_row, k, n_ch
        self.n_taken = np.bincount(cust[sel], minlength=n_customers)
        self.used_all = np.bincount(cust[sel], weights=w[sel], minlength=n_customers) if k > 1 else None
        self.used_cc, self.taken_co = {}, set()
        if k > 1:
            for i in np.flatnonzero(sel).tolist():
                key = cust[i] * n_ch + chan[i]
                self.used_cc[key] = self.used_cc.get(key, 0.0) + w[i]
            self.taken_co = set(zip(cust[sel].tolist(), off[sel].tolist()))
        self.ch_left = np.where(np.isfinite(cap), np.floor(cap + 1e-9), np.inf) - np.bincount(chan[sel], minlength=n_ch)
        self.of_count = np.bincount(off[sel], minlength=len(max_volume)).astype(float)
        self.of_left = np.where(np.isfinite(max_volume), np.floor(max_volume + 1e-9), np.inf) - self.of_count
        self.budget_left = np.inf if budget is None else budget - cost[sel].sum()
        self.min_cost = cost.min() if len(cost) else 0.0

    def room(self, rows) -> np.ndarray:
        """Which of ``rows`` still fit the channel, offer, budget and per-customer count."""
        return ((self.ch_left[self.chan[rows]] > 0) & (self.of_left[self.off[rows]] > 0)
                & (self.cost[rows] <= self.budget_left + 1e-9) & (self.n_taken[self.cust[rows]] < self.k))

    def take(self, pool, sel, *, deficit=None) -> list:
        """Add the rows of ``pool`` (in order) that fit, marking them in ``sel``; stop once
        ``deficit`` rows were taken when it is given. Returns the rows taken."""
        cust, off, chan, w, cost = self.cust, self.off, self.chan, self.w, self.cost
        a_row, aa_row, k, n_ch = self.a_row, self.aa_row, self.k, self.n_ch
        n_taken, ch_left, of_left, of_count = self.n_taken, self.ch_left, self.of_left, self.of_count
        used_cc, used_all, taken_co = self.used_cc, self.used_all, self.taken_co
        taken = []
        for start in range(0, len(pool), self.CHUNK):
            part = pool[start:start + self.CHUNK]
            part = part[self.room(part)]
            if len(part) == 0:
                if not np.any(ch_left > 0) or not np.any(of_left > 0):
                    break
                continue
            for i in part.tolist():
                c = cust[i]
                if n_taken[c] >= k or ch_left[chan[i]] <= 0 or of_left[off[i]] <= 0 or cost[i] > self.budget_left + 1e-9:
                    continue
                if k > 1:
                    if (c, off[i]) in taken_co:
                        continue
                    key = c * n_ch + chan[i]
                    if used_cc.get(key, 0.0) + w[i] > a_row[i] + 1e-9 or used_all[c] + w[i] > aa_row[i] + 1e-9:
                        continue
                    used_cc[key] = used_cc.get(key, 0.0) + w[i]
                    used_all[c] += w[i]
                    taken_co.add((c, off[i]))
                sel[i] = True
                n_taken[c] += 1
                ch_left[chan[i]] -= 1
                of_left[off[i]] -= 1
                of_count[off[i]] += 1
                self.budget_left -= cost[i]
                taken.append(i)
                if deficit is not None:
                    deficit -= 1
                    if deficit <= 0:
                        return taken
            if self.budget_left < self.min_cost - 1e-12 or not np.any(ch_left > 0):
                break
        return taken


class Optimizer:
    """Candidate arrays prepared once, solved many times (for what-if sliders).

    Parameters
    ----------
    candidates : DataFrame
        As returned by :func:`crmkit.plan.candidates` (customer_id, offer, channel,
        expected_value, cost; optional weight, allowed, allowed_all).
    policy : ContactPolicy
    eligibility : Eligibility, optional
        Needed only when a later :meth:`solve` changes the caps (the allowances are then
        recomputed from the stored history usage); pair it with candidates built with
        ``include_capped=True``.
    horizon_days : int, optional
        Days of the plan (capacity per day × days); default ``candidates.attrs["horizon_days"]`` or 7.
    """

    def __init__(self, candidates: pd.DataFrame, policy: ContactPolicy, *, eligibility=None, horizon_days=None):
        if not isinstance(policy, ContactPolicy):
            raise ParameterError(f"policy: expected a crmkit.plan.ContactPolicy, found {type(policy).__name__}.")
        if not isinstance(candidates, pd.DataFrame):
            raise ParameterError(f"candidates: expected a DataFrame, found {type(candidates).__name__}.")
        need = ["customer_id", "offer", "channel", "expected_value", "cost"]
        miss = [c for c in need if c not in candidates.columns]
        if miss:
            raise ParameterError(f"candidates: missing column(s) {miss}; expected {need} (see crmkit.plan.candidates).")
        self.policy = policy
        self.eligibility = eligibility
        self.horizon_days = int(horizon_days or candidates.attrs.get("horizon_days", 7))
        self.as_of = candidates.attrs.get("as_of")
        self.channels = list(policy.channels["channel"])
        self.offers = list(policy.offers["offer"])
        cand = candidates
        ch = _codes(cand["channel"], self.channels)
        of = _codes(cand["offer"], self.offers)
        if (ch < 0).any():
            raise ParameterError(f"candidates.channel: {cand['channel'][ch < 0].iloc[0]!r} (row {int(np.flatnonzero(ch < 0)[0])}) is not a channel of the policy {self.channels}.")
        if (of < 0).any():
            raise ParameterError(f"candidates.offer: {cand['offer'][of < 0].iloc[0]!r} (row {int(np.flatnonzero(of < 0)[0])}) is not an offer of the policy {self.offers}.")
        v = pd.to_numeric(cand["expected_value"], errors="coerce").to_numpy(dtype=float)
        c = pd.to_numeric(cand["cost"], errors="coerce").to_numpy(dtype=float)
        for name, arr in (("expected_value", v), ("cost", c)):
            bad = ~np.isfinite(arr) | ((arr < 0) if name == "cost" else False)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ParameterError(f"candidates.{name}: expected a finite number{' ≥ 0' if name == 'cost' else ''}, found {cand[name].iloc[i]!r} in row {i}.")
        cid = cand["customer_id"]
        if isinstance(cid.dtype, pd.CategoricalDtype):
            cust_codes = cid.cat.codes.to_numpy().astype(np.int64)
            cust_uniques = cid.cat.categories.astype(str)
        else:
            cust_codes, cust_uniques = pd.factorize(cid.astype(str), sort=False)
        key = (cust_codes.astype(np.int64) * len(self.offers) + of) * len(self.channels) + ch
        order = np.arange(len(key)) if (len(key) < 2 or bool(np.all(key[1:] >= key[:-1]))) else np.lexsort((ch, of, cust_codes))
        self._order = order  # prepared row i = candidates row order[i]
        self.customer_ids = np.asarray(cust_uniques, dtype=object)
        self.cust = cust_codes[order].astype(np.int64)
        self.chan = ch[order].astype(np.int64)
        self.offer = of[order].astype(np.int64)
        self.value = v[order]
        self.cost_row = c[order]
        wmap = policy.offers.set_index("offer")["weight"]
        self.weight = (cand["weight"].to_numpy(float) if "weight" in cand.columns else wmap.reindex(self.offers).to_numpy(float)[of])[order]
        self.value_sd = (pd.to_numeric(cand["value_sd"], errors="coerce").to_numpy(float) if "value_sd" in cand.columns else np.full(len(cand), np.nan))[order]
        self.allowed0 = (cand["allowed"].to_numpy(float) if "allowed" in cand.columns else np.full(len(cand), np.inf))[order]
        self.allowed_all0 = (cand["allowed_all"].to_numpy(float) if "allowed_all" in cand.columns else np.full(len(cand), np.inf))[order]
        dup = (np.diff(self.cust) == 0) & (np.diff(self.offer) == 0) & (np.diff(self.chan) == 0)
        if dup.any():
            i = int(order[np.flatnonzero(dup)[0]])
            raise ParameterError(f"candidates: customer {cand['customer_id'].iloc[i]!r} × offer {cand['offer'].iloc[i]!r} × channel {cand['channel'].iloc[i]!r} appears twice.")
        self.n_rows = len(order)
        self.n_customers = len(self.customer_ids)
        self.profit = self.value - self.cost_row
        self.co = self.chan * len(self.offers) + self.offer  # channel × offer cell of each row
        if eligibility is not None:
            # map each prepared row to its eligibility customer index, for cap changes
            self._el_ci = eligibility.allowed.index.get_indexer(self.customer_ids[self.cust])
            if (self._el_ci < 0).any():
                raise ParameterError("eligibility: a candidate customer is not in the eligibility table; compute both for the same data.")
            self._el_cj = pd.Index(list(eligibility.allowed.columns)).get_indexer(np.asarray(self.channels)[self.chan])

    # ------------------------------------------------------------------ the instance under one policy
    def _instance(self, policy: ContactPolicy, budget):
        n_ch, n_of = len(self.channels), len(self.offers)
        if self.eligibility is not None and not policy.caps.equals(self.policy.caps):
            allowed, allowed_all = self.eligibility.allowed_under(policy)
            a_row = allowed[self._el_ci, self._el_cj]
            aa_row = allowed_all[self._el_ci]
        else:
            if not policy.caps.equals(self.policy.caps) and self.eligibility is None:
                raise ParameterError("caps: changing caps needs prepare(..., eligibility=...) with candidates(include_capped=True).")
            a_row, aa_row = self.allowed0, self.allowed_all0
        alive = (self.weight <= a_row + 1e-9) & (self.weight <= aa_row + 1e-9)
        ch = policy.channels.set_index("channel").reindex(self.channels)
        cap = ch["capacity_per_day"].to_numpy(float) * self.horizon_days
        cost_ch = ch["cost_per_contact"].to_numpy(float)
        of = policy.offers.set_index("offer").reindex(self.offers)
        # offers whose allowed channels changed: rows on disallowed channels die
        och = policy.offer_channels()
        ok_co = np.zeros(n_ch * n_of, dtype=bool)
        for oi, o in enumerate(self.offers):
            for ci, c in enumerate(self.channels):
                ok_co[ci * n_of + oi] = c in och[o]
        alive &= ok_co[self.co]
        return {
            "alive": alive,
            "allowed": a_row,
            "allowed_all": aa_row,
            "cap": cap,
            "cost_ch": cost_ch,
            "budget": budget,
            "min": of["min_volume"].to_numpy(float),
            "max": of["max_volume"].to_numpy(float),
            "k": policy.max_offers_per_customer,
        }

    def check_feasible(self, inst) -> None:
        """Raise :class:`InfeasiblePolicyError` for policies no plan can satisfy."""
        alive = inst["alive"]
        problems = []
        n_of = len(self.offers)
        cap = inst["cap"]
        # per offer: eligible customers, channel capacity reachable
        for oi, o in enumerate(self.offers):
            mn = inst["min"][oi]
            mx = inst["max"][oi]
            if np.isnan(mn) or mn <= 0:
                continue
            if not np.isnan(mx) and mn > mx:
                problems.append(f"offer {o!r}: min_volume {mn:,.0f} > max_volume {mx:,.0f}")
                continue
            rows = alive & (self.offer == oi)
            n_elig = len(np.unique(self.cust[rows]))
            if mn > n_elig:
                problems.append(f"offer {o!r}: min_volume {mn:,.0f} > {n_elig:,} customers eligible for it (consent, caps, quiet periods)")
            chans = np.unique(self.chan[rows])
            reach = np.nansum(np.where(np.isinf(cap[chans]) | np.isnan(cap[chans]), np.inf, cap[chans])) if len(chans) else 0.0
            if mn > reach:
                problems.append(f"offer {o!r}: min_volume {mn:,.0f} > capacity of its channels over {self.horizon_days} days ({reach:,.0f})")
            if inst["budget"] is not None and len(chans):
                cheapest = inst["cost_ch"][chans].min()
                if mn * cheapest > inst["budget"] + 1e-9:
                    problems.append(f"offer {o!r}: min_volume {mn:,.0f} × cheapest cost {cheapest:.3g} > budget {inst['budget']:,.2f}")
        mins = np.nan_to_num(inst["min"], nan=0.0)
        if mins.sum() > 0:
            n_c = len(np.unique(self.cust[alive]))
            if mins.sum() > inst["k"] * n_c:
                problems.append(f"all offers: the minimum volumes add up to {mins.sum():,.0f} > {inst['k']} offer(s) × {n_c:,} eligible customers")
            total_cap = np.where(np.isnan(cap), np.inf, cap).sum()
            if mins.sum() > total_cap:
                problems.append(f"all offers: the minimum volumes add up to {mins.sum():,.0f} > total channel capacity over {self.horizon_days} days ({total_cap:,.0f})")
            if inst["budget"] is not None:
                need = 0.0
                for oi in range(n_of):
                    rows = alive & (self.offer == oi)
                    if mins[oi] > 0 and rows.any():
                        need += mins[oi] * inst["cost_ch"][np.unique(self.chan[rows])].min()
                if need > inst["budget"] + 1e-9:
                    problems.append(f"budget {inst['budget']:,.2f} < {need:,.2f}, the cheapest cost of the minimum volumes")
        if problems:
            raise InfeasiblePolicyError(
                "The contact policy cannot be met; conflicting constraints:\n  - " + "\n  - ".join(problems)
                + "\nLower the minimum volumes, raise capacity or budget, or loosen the caps.",
                problems,
            )

    # ------------------------------------------------------------------ solve
    def solve(self, *, budget=..., caps: dict | None = None, capacity: dict | None = None,
              holdout_share: float = 0.1, stratify=None, start_date=None, method: str = "auto",
              random_state=0, greedy: bool = True, tol: float = 2e-4, power_params: dict | None = None):
        """Re-optimise under the prepared policy changed by ``budget``/``caps``/``capacity``
        and return a :class:`~crmkit.plan.ContactPlan` (the prepared arrays are reused).

        ``budget=...`` (left out) uses ``policy.budget``; ``None`` = no budget. ``caps``:
        ``{scope: max_weight}`` or ``{(scope, window): max_weight}``; ``capacity``:
        ``{channel: contacts per day}``. ``greedy=False`` skips the greedy comparison (faster).

        Same inputs → the same plan (the same object while remembered: the last
        :data:`MEMO_SIZE` plans per input tuple, when ``random_state`` is an integer and no
        ``stratify`` is given), whatever was solved in between; see :meth:`solve_raw`.
        ``plan.seconds`` is the time of the solve that made the plan.
        """
        from crmkit.plan._plan import solve_plan

        return solve_plan(self, budget=budget, caps=caps, capacity=capacity, holdout_share=holdout_share,
                          stratify=stratify, start_date=start_date, method=method, random_state=random_state,
                          greedy=greedy, tol=tol, power_params=power_params)

    def solve_raw(self, *, budget=..., caps: dict | None = None, capacity: dict | None = None,
                  method: str = "auto", tol: float = 2e-4, max_iter: int = 150, greedy: bool = True,
                  time_limit: float | None = None) -> Solution:
        """The raw :class:`Solution` (selected rows, objective, bound, multipliers) of one solve.

        ``tol``: the Lagrangian stops when (bound − integral)/bound ≤ tol.

        Same inputs → same solution: solutions are remembered per input tuple (budget, caps,
        capacity, method, tol, max_iter, time_limit; the last :data:`MEMO_SIZE`), so a slider
        that returns to a value gives back exactly the plan it showed before. The Lagrangian's
        warm start uses the cuts of the *first* solve of the same constraint structure (the
        anchor), not of the previous solve, so the result does not drift with the order of
        slider moves; a warm-started plan and a fresh one (:func:`crmkit.plan.optimize`) are
        both within their reported gap of the optimum, hence within that gap of each other.
        """
        budget_key = "policy" if budget is ... else (None if budget is None else float(budget))
        key = (budget_key, _norm_changes(caps), _norm_changes(capacity), method, float(tol), int(max_iter),
               None if time_limit is None else float(time_limit))
        memo = self.__dict__.setdefault("_memo", OrderedDict())
        hit = memo.get(key)
        if hit is not None:
            memo.move_to_end(key)
            self.last_instance = hit["inst"]
            self.last_policy = hit["policy"]
            if greedy and hit["greedy"] is None:
                hit["greedy"] = self.greedy(self._instance(hit["policy"], hit["inst"]["budget"]))
            self.last_greedy = hit["greedy"] if greedy else None
            self.last_memo_hit = True
            sol = hit["solution"]
            return replace(sol, multipliers=sol.multipliers.copy(), history=list(sol.history))
        self.last_memo_hit = False
        policy = self.policy
        if caps or capacity:
            policy = policy.with_changes(caps=caps, capacity=capacity)
        if budget is ...:
            budget = policy.budget
        if budget is not None:
            budget = float(budget)
            if not np.isfinite(budget) or budget < 0:
                raise ParameterError(f"budget: expected a number ≥ 0 or None, found {budget!r}.")
        inst = self._instance(policy, budget)
        self.check_feasible(inst)
        if method not in ("auto", "milp", "lagrangian"):
            raise ParameterError(f"method: expected 'auto', 'milp' or 'lagrangian', found {method!r}.")
        if method == "auto":
            method = "milp" if inst["alive"].sum() <= MILP_MAX_ROWS else "lagrangian"
        t0 = time.perf_counter()
        self._solving_key = key
        sol = self._milp(inst, time_limit) if method == "milp" else self._lagrangian(inst, tol, max_iter)
        sol.seconds = time.perf_counter() - t0
        self.last_instance = inst
        self.last_policy = policy
        self.last_greedy = self.greedy(inst) if greedy else None
        # remember a light copy (the plan needs only "alive" of the instance; no per-row reduced values)
        light = {k: v for k, v in inst.items() if k not in ("allowed", "allowed_all")}
        memo[key] = {"solution": replace(sol, reduced=None, multipliers=sol.multipliers.copy(), history=list(sol.history)),
                     "inst": light, "policy": policy, "greedy": self.last_greedy}
        # drop the least recently used, but never the input that anchors a warm start: solved again
        # it would start from its own cuts and could land on another plan within the gap
        pinned = {a.get("input") for a in self.__dict__.get("_lag_anchors", {}).values()}
        for old in [k for k in memo if k not in pinned][:max(len(memo) - MEMO_SIZE, 0)]:
            del memo[old]
        return sol

    # ------------------------------------------------------------------ exact
    def _local_rows(self, inst):
        """Sparse local constraints (customer k, customer×offer, customer×channel cap, customer all cap)."""
        from scipy import sparse

        idx = np.flatnonzero(inst["alive"])
        cust, off, chan, w = self.cust[idx], self.offer[idx], self.chan[idx], self.weight[idx]
        n = len(idx)
        rows, cols, vals, ub = [], [], [], []
        r0 = 0

        def add(groups, coef, rhs_per_group, need):
            nonlocal r0
            uniq, inv = np.unique(groups, return_inverse=True)
            tot = np.bincount(inv, weights=coef, minlength=len(uniq))
            rhs = rhs_per_group(uniq, inv)
            keep_g = tot > rhs + 1e-9 if need else np.ones(len(uniq), dtype=bool)
            newid = np.full(len(uniq), -1)
            newid[keep_g] = np.arange(keep_g.sum()) + r0
            m = keep_g[inv]
            rows.append(newid[inv][m])
            cols.append(np.arange(n)[m])
            vals.append(coef[m])
            ub.append(rhs[keep_g])
            r0 += int(keep_g.sum())

        n_of, n_ch = len(self.offers), len(self.channels)
        ones = np.ones(n)
        add(cust, ones, lambda u, inv: np.full(len(u), float(inst["k"])), True)
        add(cust * n_of + off, ones, lambda u, inv: np.ones(len(u)), True)
        a_row, aa_row = inst["allowed"][idx], inst["allowed_all"][idx]

        def rhs_of(arr):
            def f(u, inv):
                out = np.empty(len(u))
                out[inv] = arr
                return out
            return f

        add(cust * n_ch + chan, w, rhs_of(a_row), True)
        add(cust, w, rhs_of(aa_row), True)
        A = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r0, n))
        return idx, A, np.concatenate(ub) if ub else np.zeros(0)

    def _global_rows(self, inst, idx):
        """Global constraints as (A, lb, ub, meta) over the alive rows ``idx``."""
        from scipy import sparse

        n = len(idx)
        chan, off, cost = self.chan[idx], self.offer[idx], self.cost_row[idx]
        rows, lbs, ubs, meta = [], [], [], []
        for ci, c in enumerate(self.channels):
            cap = inst["cap"][ci]
            if np.isfinite(cap):
                rows.append((chan == ci).astype(float))
                lbs.append(-np.inf)
                ubs.append(cap)
                meta.append(("capacity", c, cap))
        if inst["budget"] is not None:
            rows.append(cost.astype(float))
            lbs.append(-np.inf)
            ubs.append(inst["budget"])
            meta.append(("budget", "", inst["budget"]))
        for oi, o in enumerate(self.offers):
            mx, mn = inst["max"][oi], inst["min"][oi]
            if np.isfinite(mx):
                rows.append((off == oi).astype(float))
                lbs.append(-np.inf)
                ubs.append(mx)
                meta.append(("max_volume", o, mx))
            if np.isfinite(mn) and mn > 0:
                rows.append((off == oi).astype(float))
                lbs.append(mn)
                ubs.append(np.inf)
                meta.append(("min_volume", o, mn))
        A = sparse.csr_matrix(np.vstack(rows)) if rows else sparse.csr_matrix((0, n))
        return A, np.array(lbs, float), np.array(ubs, float), meta

    def _milp(self, inst, time_limit=None, with_lp=True) -> Solution:
        from scipy import sparse
        from scipy.optimize import Bounds, LinearConstraint, linprog, milp

        idx, A_loc, ub_loc = self._local_rows(inst)
        A_glob, lb_g, ub_g, meta = self._global_rows(inst, idx)
        profit = self.profit[idx]
        n = len(idx)
        selected = np.zeros(self.n_rows, dtype=bool)
        if n == 0:
            return Solution(selected, 0.0, 0.0, "highs-milp", "optimal", self._mult_frame(meta, np.zeros(len(meta)), inst, selected))
        A = sparse.vstack([A_loc, A_glob]).tocsr()
        lb = np.concatenate([np.full(A_loc.shape[0], -np.inf), lb_g])
        ub = np.concatenate([ub_loc, ub_g])
        opts = {"disp": False, "mip_rel_gap": 1e-6}
        if time_limit:
            opts["time_limit"] = float(time_limit)
        with quiet_stdout():  # HiGHS' MILP writes a diagnostic line to fd 1 from C++
            res = milp(-profit, integrality=np.ones(n), bounds=Bounds(0, 1), constraints=LinearConstraint(A, lb, ub), options=opts)
        if res.x is None:
            raise InfeasiblePolicyError(
                f"HiGHS found no plan that satisfies the policy ({res.message}). The binding combination is among: "
                + "; ".join(f"{k} {t}".strip() for k, t, _ in meta), [f"{k} {t}".strip() for k, t, _ in meta])
        x = res.x > 0.5
        selected[idx[x]] = True
        if not with_lp:
            return Solution(selected, float(profit[x].sum()), float(-res.fun), "highs-milp", "core", pd.DataFrame())
        # LP relaxation: the bound and the shadow prices (duals of the global rows)
        A_ub_parts, b_ub = [A_loc], [ub_loc]
        sign_rows = []
        for r, (lo_, hi_) in enumerate(zip(lb_g, ub_g)):
            if np.isfinite(hi_):
                A_ub_parts.append(A_glob[r])
                b_ub.append([hi_])
                sign_rows.append((r, 1.0))
            else:
                A_ub_parts.append(-A_glob[r])
                b_ub.append([-lo_])
                sign_rows.append((r, -1.0))
        A_ub = sparse.vstack(A_ub_parts).tocsr()
        lp = linprog(-profit, A_ub=A_ub, b_ub=np.concatenate([np.asarray(b, float) for b in b_ub]), bounds=(0, 1), method="highs")
        duals = np.zeros(len(meta))
        bound = float(-res.fun) if lp.status != 0 else float(-lp.fun)
        if lp.status == 0:
            marg = -lp.ineqlin.marginals[A_loc.shape[0]:]  # ≥ 0: profit gained per unit of relaxed constraint
            for (r, _s), mval in zip(sign_rows, marg):
                duals[r] = mval
        mip_bound = getattr(res, "mip_dual_bound", None)
        status = "optimal" if res.status == 0 else f"stopped: {res.message}"
        sol = Solution(selected, float(profit[x].sum()), max(bound, float(-res.fun)), "highs-milp", status,
                       self._mult_frame(meta, duals, inst, selected))
        sol.reduced = np.where(inst["alive"], self.profit, -np.inf)
        sol.history = [{"lp_bound": bound, "mip_dual_bound": None if mip_bound is None else -float(mip_bound)}]
        return sol

    # ------------------------------------------------------------------ Lagrangian
    def _lagrangian(self, inst, tol, max_iter) -> Solution:
        from scipy.optimize import linprog

        self.allowed_all_row = inst["allowed_all"]

        alive = inst["alive"]
        has_min = bool(np.any(np.nan_to_num(inst["min"], nan=0.0) > 0))
        # without minimum volumes every multiplier penalises, so a row with profit ≤ 0 never has
        # a positive reduced value and never enters a plan: leave those rows out of every pass
        idx = np.flatnonzero(alive if has_min else alive & (self.profit > 0))
        n_ch, n_of = len(self.channels), len(self.offers)
        cust = self.cust[idx]
        profit = self.profit[idx]
        co = self.co[idx]
        cost_ch = inst["cost_ch"]
        k = inst["k"]
        # customers' row blocks (rows are sorted by customer)
        starts = np.flatnonzero(np.r_[True, np.diff(cust) != 0]) if len(idx) else np.zeros(0, dtype=np.int64)
        # the dualised constraints: (kind, index, rhs); subgradient = rhs - usage (for ≤) or usage - rhs (for ≥)
        cons = []
        for ci in range(n_ch):
            if np.isfinite(inst["cap"][ci]):
                cons.append(("capacity", ci, inst["cap"][ci]))
        if inst["budget"] is not None:
            cons.append(("budget", -1, inst["budget"]))
        for oi in range(n_of):
            if np.isfinite(inst["max"][oi]):
                cons.append(("max_volume", oi, inst["max"][oi]))
            if np.isfinite(inst["min"][oi]) and inst["min"][oi] > 0:
                cons.append(("min_volume", oi, inst["min"][oi]))
        d = len(cons)
        rhs = np.array([c[2] for c in cons], float)
        pmax = float(np.max(np.abs(profit))) if len(profit) else 1.0
        ub_y = np.array([(pmax / max(cost_ch.min(), 1e-9) + 1.0) if c[0] == "budget" else 2.0 * (pmax + cost_ch.max()) + 1.0 for c in cons])
        ub_y = np.minimum(ub_y, 1e6)

        # penalty per (channel × offer) cell as a linear function of y: pen = P @ y
        P = np.zeros((n_ch * n_of, d))
        for j, (kind, i, _) in enumerate(cons):
            for cell in range(n_ch * n_of):
                ch_, of_ = divmod(cell, n_of)
                if kind == "capacity" and ch_ == i:
                    P[cell, j] = 1.0
                elif kind == "budget":
                    P[cell, j] = cost_ch[ch_]
                elif kind == "max_volume" and of_ == i:
                    P[cell, j] = 1.0
                elif kind == "min_volume" and of_ == i:
                    P[cell, j] = -1.0
        sign = np.array([-1.0 if c[0] == "min_volume" else 1.0 for c in cons])

        def usage_of(cell_counts):
            u = np.zeros(d)
            for j, (kind, i, _) in enumerate(cons):
                if kind == "capacity":
                    u[j] = cell_counts.reshape(n_ch, n_of)[i].sum()
                elif kind == "budget":
                    u[j] = (cell_counts.reshape(n_ch, n_of).sum(axis=1) * cost_ch).sum()
                else:
                    u[j] = cell_counts.reshape(n_ch, n_of)[:, i].sum()
            return u

        # k = 1: a dense customer × (channel, offer) table makes each pass two contiguous numpy ops
        dense = dense_row = rows_c = None
        if k == 1 and len(idx) and n_ch * n_of <= 64:
            dkey = (hash(idx.tobytes()), len(idx))
            dc = getattr(self, "_dense_cache", None)
            if dc is not None and dc[0] == dkey:
                dense, dense_row = dc[1], dc[2]
            else:
                cl = np.cumsum(np.r_[0, np.diff(cust) != 0])
                dense = np.full((int(cl[-1]) + 1, n_ch * n_of), -np.inf)
                dense[cl, co] = profit
                dense_row = np.full(dense.shape, -1, dtype=np.int32)
                dense_row[cl, co] = np.arange(len(idx), dtype=np.int32)
                self._dense_cache = (dkey, dense, dense_row)
            rows_c = np.arange(dense.shape[0])

        def oracle(y):
            """Dual value L(y), a subgradient, and the per-customer choice."""
            pen = P @ y
            r = profit - pen[co] if dense is None else None
            if len(idx) == 0:
                return float(np.dot(sign * rhs, y)), sign * rhs, r, np.zeros(0, dtype=np.int32)
            if dense is not None:
                R = dense - pen[None, :]
                am = R.argmax(axis=1)
                best = R[rows_c, am]
                pos = best > 0
                chosen = np.sort(dense_row[rows_c[pos], am[pos]])
                local = float(best[pos].sum())
                r = None  # the per-row reduced values are only formed when needed (primal)
            elif k == 1:
                best = np.maximum.reduceat(r, starts)
                pos = best > 0
                # first row attaining the best of each customer
                is_best = r == np.repeat(best, np.diff(np.r_[starts, len(r)]))
                first = np.flatnonzero(is_best)
                firstc = cust[first]
                keepf = np.r_[True, np.diff(firstc) != 0]
                chosen = first[keepf]
                chosen = chosen[pos[np.searchsorted(cust[starts], cust[chosen])]].astype(np.int32)
                local = float(best[pos].sum())
            else:
                chosen = self._topk_bound_rows(r, idx, k).astype(np.int32)
                local = float(r[chosen].sum())
            counts = np.bincount(co[chosen], minlength=n_ch * n_of).astype(float)
            used = usage_of(counts)
            # L(y) = local + Σ_j y_j * sign_j * (rhs_j) ; ∂L/∂y_j = sign_j * (rhs_j - used_j)
            val = local + float(np.dot(y * sign, rhs))
            g = sign * (rhs - used)
            return val, g, r, chosen

        # warm start: cuts of earlier solves on the same rows and constraint set stay valid when
        # only the right-hand sides (budget, capacity, volumes) change — rebuild them for the new rhs
        key = (tuple((c[0], c[1]) for c in cons), k, hash(alive.tobytes()), hash(self.profit.tobytes()))
        anchors = self.__dict__.setdefault("_lag_anchors", OrderedDict())
        cache = anchors.get(key)
        prior = cache["cuts"] if cache is not None else []
        y = np.clip(cache["best_y"], 0.0, ub_y) if prior else np.zeros(d)
        best_val, best_g, _, chosen0 = oracle(y)
        best_y = y.copy()
        cuts_A, cuts_b, cut_choices = [], [], []
        store = []
        for (y_j, local_j, used_j, ch_j) in prior:
            g_j = sign * (rhs - used_j)
            val_j = local_j + float(np.dot(y_j * sign, rhs))
            cuts_A.append(np.r_[-1.0, g_j])
            cuts_b.append(float(np.dot(g_j, y_j) - val_j))
            cut_choices.append(ch_j)
            store.append((y_j, local_j, used_j, ch_j))
        history = []
        primal_sel, primal_obj = None, -np.inf
        delta = 0.5 * ub_y
        it = 0
        status = "optimal"
        if d == 0:
            max_iter = 0
        cut_y, cut_val, cut_g, cut_ch = y.copy(), best_val, best_g, chosen0
        weights = None
        last_primal = -10
        rscale = float(np.max(np.abs(profit))) + 1e-12 if len(profit) else 1.0

        def recover(weights):
            """Primal from the master's cut weights: x̄ = Σ α_j x_j (Dantzig-Wolfe recovery), rounded."""
            if weights is None or len(idx) == 0:
                return None
            xbar = np.zeros(len(idx))
            for a_j, ch_j in zip(weights, cut_choices):
                if a_j > 1e-9 and len(ch_j):
                    xbar[ch_j] += a_j
            r_now = profit - (P @ best_y)[co]
            key = xbar + 1e-4 * r_now / rscale
            return self._primal(inst, idx, key, init=xbar >= 0.5 - 1e-9)

        for it in range(1, max_iter + 1):
            # cut: θ ≥ val + g·(y' − y)
            cuts_A.append(np.r_[-1.0, cut_g])
            cuts_b.append(float(np.dot(cut_g, cut_y) - cut_val))
            cut_choices.append(cut_ch)
            store.append((cut_y.copy(), cut_val - float(np.dot(cut_y * sign, rhs)), rhs - cut_g * sign, cut_ch))
            lo = np.maximum(best_y - delta, 0.0)
            hi = np.minimum(best_y + delta, ub_y)
            res = linprog(np.r_[1.0, np.zeros(d)], A_ub=np.array(cuts_A), b_ub=np.array(cuts_b),
                          bounds=[(None, None)] + list(zip(lo, hi)), method="highs")
            if res.status != 0:
                status = f"master LP: {res.message}"
                break
            weights = -np.asarray(res.ineqlin.marginals)
            y_new = res.x[1:]
            model_val = float(res.x[0])
            val, g, _, chosen = oracle(y_new)
            predicted = best_val - model_val
            history.append({"iteration": it, "dual": val, "best_dual": min(best_val, val), "model": model_val})
            if val < best_val - 0.1 * max(predicted, 0.0):
                best_val, best_y, best_g = val, y_new, g
                if np.any(np.isclose(y_new, hi) & (hi < ub_y)) or np.any(np.isclose(y_new, lo) & (lo > 0)):
                    delta = np.minimum(delta * 2.0, ub_y)
            elif val > best_val:
                delta = np.maximum(delta * 0.5, 1e-9 * ub_y)
            cut_y, cut_val, cut_g, cut_ch = y_new, val, g, chosen
            near = predicted <= tol * 0.5 * abs(best_val)
            if (near and it - last_primal >= 3) or it == max_iter:
                last_primal = it
                cand = recover(weights)
                if cand is not None and cand[1] > primal_obj:
                    primal_sel, primal_obj = cand
                if best_val <= 0 or (best_val - primal_obj) <= tol * abs(best_val):
                    break
                if predicted <= 1e-9 * max(abs(best_val), 1.0):
                    break
        r_final = profit - (P @ best_y)[co]
        if primal_sel is None:
            cand = recover(weights)
            if cand is not None:
                primal_sel, primal_obj = cand
        if primal_sel is None or (best_val - primal_obj) > tol * abs(best_val):
            cand = self._primal(inst, idx, r_final)  # rounding from the final multipliers alone
            if primal_sel is None or cand[1] > primal_obj:
                primal_sel, primal_obj = cand
        if key not in anchors:
            # the first solve of this constraint structure (a cold one) becomes its warm-start
            # anchor for good: later solves start from its cuts, not from the previous solve's,
            # so a solve's result does not depend on the order of the solves after it
            anchors[key] = {"cuts": store[-30:], "best_y": best_y.copy(), "input": getattr(self, "_solving_key", None)}
            while len(anchors) > ANCHOR_SIZE:
                anchors.popitem(last=False)
        core_used = False
        if k == 1 and best_val > 0 and (best_val - primal_obj) > 10 * tol * abs(best_val):
            # the rounding lost more than 10 × tol: re-decide the customers whose choice is least
            # clear at the final multipliers exactly with HiGHS (a "core" MILP), the rest fixed
            core = self._core_milp(inst, idx, r_final, primal_sel)
            if core is not None and core[1] > primal_obj + 1e-9:
                primal_sel, primal_obj = core
                core_used = True
        counts_of = np.bincount(self.offer[idx[primal_sel]], minlength=n_of)
        short = [oi for oi in range(n_of) if np.isfinite(inst["min"][oi]) and counts_of[oi] < inst["min"][oi] - 1e-9]
        if short:
            if len(idx) <= 10 * MILP_MAX_ROWS:
                sol = self._milp(inst)  # the heuristic missed a minimum: settle it exactly
                sol.status += " (exact: the decomposition's plan missed a minimum volume)"
                return sol
            names = [f"min volume: {self.offers[oi]} ({inst['min'][oi]:,.0f})" for oi in short]
            raise InfeasiblePolicyError(
                "The decomposition could not meet the minimum volume(s) " + ", ".join(names)
                + " together with capacity, budget and the caps; lower them or loosen capacity/budget.", names)
        if best_val > 0 and (best_val - primal_obj) > tol * abs(best_val) and status == "optimal":
            status = f"stopped after {it} iterations (gap above {tol:.2%})"
        if core_used:
            status += "; least clear customers re-decided by an exact core MILP"
        selected = np.zeros(self.n_rows, dtype=bool)
        selected[idx[primal_sel]] = True
        meta = []
        for kind, i, b in cons:
            target = "" if kind == "budget" else (self.channels[i] if kind == "capacity" else self.offers[i])
            meta.append((kind, target, b))
        mult = self._mult_frame(meta, best_y, inst, selected)
        reduced = np.full(self.n_rows, -np.inf)
        reduced[idx] = r_final
        return Solution(selected, float(primal_obj), float(best_val), "highs-lagrangian", status, mult, it, reduced=reduced, history=history)

    def _core_milp(self, inst, idx, r, base_sel, n_core: int = 400):
        """Exact HiGHS MILP over the ``n_core`` customers with the smallest decision margin at the
        final reduced values ``r`` (best row vs their second option, or vs no contact), the other
        customers kept as in ``base_sel``. Returns (selected positions into idx, objective) or None."""
        cust = self.cust[idx]
        n = len(idx)
        if n == 0:
            return None
        starts = np.flatnonzero(np.r_[True, np.diff(cust) != 0])
        lens = np.diff(np.r_[starts, n])
        b1 = np.maximum.reduceat(r, starts)
        is1 = r == np.repeat(b1, lens)
        b2 = np.maximum.reduceat(np.where(is1, -np.inf, r), starts)
        margin = np.where(b1 > 0, b1 - np.maximum(b2, 0.0), -b1)
        n_c = len(starts)
        if n_c <= n_core:
            core_c = np.ones(n_c, dtype=bool)
        else:
            core_c = np.zeros(n_c, dtype=bool)
            core_c[np.argpartition(margin, n_core)[:n_core]] = True
        core_row = np.repeat(core_c, lens)
        # outside the core every customer takes their best row if its reduced value is positive
        first = np.flatnonzero(is1 & (np.repeat(b1, lens) > 0))
        if len(first):
            first = first[np.r_[True, np.diff(cust[first]) != 0]]
        fixed = np.zeros(n, dtype=bool)
        fixed[first] = True
        fixed &= ~core_row
        sub = dict(inst)
        alive_core = np.zeros(self.n_rows, dtype=bool)
        alive_core[idx[core_row]] = True
        sub["alive"] = alive_core
        n_ch, n_of = len(self.channels), len(self.offers)
        ch_used = np.bincount(self.chan[idx[fixed]], minlength=n_ch)
        of_used = np.bincount(self.offer[idx[fixed]], minlength=n_of)
        sub["cap"] = np.where(np.isfinite(inst["cap"]), np.floor(inst["cap"] + 1e-9) - ch_used, inst["cap"])
        sub["max"] = np.where(np.isfinite(inst["max"]), inst["max"] - of_used, inst["max"])
        sub["min"] = np.where(np.isfinite(inst["min"]), np.maximum(inst["min"] - of_used, 0.0), inst["min"])
        if inst["budget"] is not None:
            sub["budget"] = inst["budget"] - float(self.cost_row[idx[fixed]].sum())
        if np.any(sub["cap"] < 0) or np.any(sub["max"] < 0) or (sub["budget"] is not None and sub["budget"] < 0):
            return None
        try:
            sol = self._milp(sub, time_limit=20.0, with_lp=False)
        except InfeasiblePolicyError:
            return None
        sel = fixed.copy()
        sel[np.searchsorted(idx, np.flatnonzero(sol.selected))] = True
        return np.flatnonzero(sel), float(self.profit[idx[sel]].sum())

    def _topk_bound_rows(self, r, idx, k):
        """Rows of the k>1 relaxation: per customer×offer the best positive row, then the top k."""
        cust = self.cust[idx]
        off = self.offer[idx]
        pos = np.flatnonzero(r > 0)
        if len(pos) == 0:
            return pos
        o = np.lexsort((-r[pos], off[pos], cust[pos]))
        p = pos[o]
        first = np.r_[True, (np.diff(cust[p]) != 0) | (np.diff(off[p]) != 0)]
        p = p[first]
        o2 = np.lexsort((-r[p], cust[p]))
        p = p[o2]
        rank = np.arange(len(p)) - np.searchsorted(cust[p], cust[p], "left")
        # a customer can take at most ⌊cross-channel allowance / lightest weight⌋ contacts
        wmin = float(self.weight[idx].min())
        k_c = np.minimum(k, np.floor(self.allowed_all_row[idx[p]] / wmin + 1e-9))
        return np.sort(p[rank < k_c])

    # ------------------------------------------------------------------ primal construction
    def _primal(self, inst, idx, r, init=None):
        """Integral plan over alive rows idx ordered by the key ``r`` (higher = better): the
        initial rows (``init``, default r > 0) best first per customer, repair, fill.

        Returns (selected positions into idx, objective)."""
        n = len(idx)
        if n == 0:
            return np.zeros(0, dtype=np.int64), 0.0
        cust, off, chan = self.cust[idx], self.offer[idx], self.chan[idx]
        w = self.weight[idx]
        profit = self.profit[idx]
        cost = self.cost_row[idx]
        a_row, aa_row = inst["allowed"][idx], inst["allowed_all"][idx]
        n_ch, n_of = len(self.channels), len(self.offers)
        k = inst["k"]
        sel = np.zeros(n, dtype=bool)
        # per-customer state of the local choice (indexed by customer code; k > 1 only)
        n_taken = np.zeros(self.n_customers, dtype=np.int64)
        used_all = np.zeros(self.n_customers)
        taken_co = set()
        # 1. local choice: k rounds of "best feasible row with r > 0"
        mask = (r > 0) if init is None else np.asarray(init, dtype=bool)
        if k == 1:
            # rows are sorted by customer: per-customer best masked row in one reduceat pass
            starts = np.flatnonzero(np.r_[True, np.diff(cust) != 0])
            rm = np.where(mask, r, -np.inf)
            best = np.maximum.reduceat(rm, starts)
            is_best = mask & (rm == np.repeat(best, np.diff(np.r_[starts, n])))
            first = np.flatnonzero(is_best)
            if len(first):
                first = first[np.r_[True, np.diff(cust[first]) != 0]]
            sel[first] = True
        else:
            cand = np.flatnonzero(mask)
            cand = cand[np.argsort(-r[cand], kind="stable")]
            cand = cand[np.argsort(cust[cand], kind="stable")]
            used_cc = {}  # sparse: (cust*n_ch+chan) -> weight
            for i in cand.tolist():
                c = cust[i]
                if n_taken[c] >= k or (c, off[i]) in taken_co:
                    continue
                key = c * n_ch + chan[i]
                if used_cc.get(key, 0.0) + w[i] > a_row[i] + 1e-9 or used_all[c] + w[i] > aa_row[i] + 1e-9:
                    continue
                sel[i] = True
                n_taken[c] += 1
                taken_co.add((c, off[i]))
                used_cc[key] = used_cc.get(key, 0.0) + w[i]
                used_all[c] += w[i]
        # 2. repair global constraints: drop the lowest-r contacts
        cap = inst["cap"]
        for ci in range(n_ch):
            if np.isfinite(cap[ci]):
                s = np.flatnonzero(sel & (chan == ci))
                excess = len(s) - int(np.floor(cap[ci] + 1e-9))
                if excess > 0:
                    sel[s[np.argsort(r[s], kind="stable")[:excess]]] = False
        for oi in range(n_of):
            mx = inst["max"][oi]
            if np.isfinite(mx):
                s = np.flatnonzero(sel & (off == oi))
                excess = len(s) - int(np.floor(mx + 1e-9))
                if excess > 0:
                    sel[s[np.argsort(r[s], kind="stable")[:excess]]] = False
        if inst["budget"] is not None:
            s = np.flatnonzero(sel)
            spent = cost[s].sum()
            if spent > inst["budget"] + 1e-9:
                # drop lowest reduced value per unit of cost first (free contacts are never dropped)
                ratio = np.where(cost[s] > 0, r[s] / np.maximum(cost[s], 1e-12), np.inf)
                o = np.argsort(ratio, kind="stable")
                cum = np.cumsum(cost[s][o])
                m = int(np.searchsorted(cum, spent - inst["budget"] - 1e-9, "left")) + 1
                sel[s[o[:m]]] = False
        # state after repair
        ledger = _Ledger(sel=sel, cust=cust, off=off, chan=chan, w=w, cost=cost, a_row=a_row, aa_row=aa_row, k=k,
                         n_ch=n_ch, n_customers=self.n_customers, cap=cap, max_volume=inst["max"], budget=inst["budget"])
        ch_left, of_left, of_count = ledger.ch_left, ledger.of_left, ledger.of_count
        mins = np.where(np.isfinite(inst["min"]), np.ceil(inst["min"] - 1e-9), 0.0)

        def fill(pool, need_offer=None):
            if len(pool) == 0:
                return []
            pool = pool[ledger.room(pool)]
            pool = pool[np.argsort(-r[pool], kind="stable")]
            deficit = None if need_offer is None else mins[need_offer] - of_count[need_offer]
            return ledger.take(pool, sel, deficit=deficit)

        # 3a. offers under their minimum: best rows of that offer among customers with room
        for oi in range(n_of):
            if mins[oi] > of_count[oi]:
                pool = np.flatnonzero(~sel & (off == oi) & (ledger.n_taken[cust] < k))
                fill(pool, need_offer=oi)
        # 3b. swap pass if still short: move customers from other offers to this one
        for oi in range(n_of):
            if mins[oi] > of_count[oi]:
                self._swap_for_min(sel, oi, mins, of_count, of_left, ch_left, r, cust, off, chan, cost, inst, idx)
                ledger.budget_left = np.inf if inst["budget"] is None else inst["budget"] - cost[sel].sum()
                ledger.n_taken = np.bincount(cust[sel], minlength=self.n_customers)
        # 3c. anything else with positive profit
        pool = np.flatnonzero(~sel & (profit > 0) & (ledger.n_taken[cust] < k))
        fill(pool)
        # 4. (k = 1) upgrades: move a planned customer to a more profitable row of theirs when the
        # slack allows (capacity on the new channel, the budget, the offer's maximum, minima kept)
        if k == 1 and sel.any():
            cur = np.full(self.n_customers, -1)
            s_idx = np.flatnonzero(sel)
            cur[cust[s_idx]] = s_idx
            j = cur[cust]
            up = np.flatnonzero((j >= 0) & ~sel & (profit > profit[np.maximum(j, 0)] + 1e-12))
            if len(up):
                jj = j[up]
                extra = cost[up] - cost[jj]
                ok = (extra <= ledger.budget_left + 1e-9) & ((chan[up] == chan[jj]) | (ch_left[chan[up]] > 0)) & (
                    (off[up] == off[jj]) | (of_left[off[up]] > 0))
                up, jj, extra = up[ok], jj[ok], extra[ok]
                gain = profit[up] - profit[jj]
                o = np.argsort(-gain, kind="stable")[:200_000]
                moved = set()
                for t in o.tolist():
                    i, jo = int(up[t]), int(jj[t])
                    c = cust[i]
                    if c in moved or not sel[jo]:
                        continue
                    if extra[t] > ledger.budget_left + 1e-9:
                        continue
                    if chan[i] != chan[jo] and ch_left[chan[i]] <= 0:
                        continue
                    if off[i] != off[jo] and (of_left[off[i]] <= 0 or of_count[off[jo]] - 1 < mins[off[jo]]):
                        continue
                    sel[jo], sel[i] = False, True
                    moved.add(c)
                    ch_left[chan[jo]] += 1
                    ch_left[chan[i]] -= 1
                    of_left[off[jo]] += 1
                    of_left[off[i]] -= 1
                    of_count[off[jo]] -= 1
                    of_count[off[i]] += 1
                    ledger.budget_left -= extra[t]
                if moved:
                    ledger.n_taken = np.bincount(cust[sel], minlength=self.n_customers)
                    fill(np.flatnonzero(~sel & (profit > 0) & (ledger.n_taken[cust] < k)))
        return np.flatnonzero(sel), float(profit[sel].sum())

    def _swap_for_min(self, sel, oi, mins, of_count, of_left, ch_left, r, cust, off, chan, cost, inst, idx):
        """Reassign customers planned for offers with slack above their minimum to offer ``oi``
        (same customer, k = 1 style swap), cheapest loss of reduced value first."""
        if inst["k"] != 1:
            return
        rows_o = np.flatnonzero(~sel & (off == oi) & (ch_left[chan] >= 0))
        if len(rows_o) == 0:
            return
        cur = np.full(self.n_customers, -1)
        s = np.flatnonzero(sel)
        cur[cust[s]] = s
        rows_o = rows_o[cur[cust[rows_o]] >= 0]
        if len(rows_o) == 0:
            return
        old = cur[cust[rows_o]]
        loss = r[old] - r[rows_o]
        order = np.argsort(loss, kind="stable")
        budget_left = np.inf if inst["budget"] is None else inst["budget"] - cost[sel].sum()
        done = set()
        for t in order.tolist():
            if mins[oi] <= of_count[oi]:
                break
            i, j = int(rows_o[t]), int(old[t])
            c = cust[i]
            if c in done or not sel[j]:
                continue
            oj = off[j]
            if of_count[oj] - 1 < mins[oj] or of_left[oi] <= 0:
                continue
            if chan[i] != chan[j] and ch_left[chan[i]] <= 0:
                continue
            if cost[i] - cost[j] > budget_left + 1e-9:
                continue
            sel[j] = False
            sel[i] = True
            done.add(c)
            of_count[oj] -= 1
            of_left[oj] += 1
            of_count[oi] += 1
            of_left[oi] -= 1
            ch_left[chan[j]] += 1
            ch_left[chan[i]] -= 1
            budget_left -= cost[i] - cost[j]

    # ------------------------------------------------------------------ greedy ranking
    def greedy(self, inst) -> dict:
        """Greedy ranking: rows by profit per unit of the scarce resource (profit/cost when a
        budget is set, else profit), taken in order while every constraint still holds."""
        idx = np.flatnonzero(inst["alive"] & (self.profit > 0))
        score = self.profit[idx] / np.maximum(self.cost_row[idx], 1e-6) if inst["budget"] is not None else self.profit[idx]
        r = np.full(self.n_rows, -np.inf)
        r[idx] = score
        alive_idx = np.flatnonzero(inst["alive"])
        pos_sel, obj = self._greedy_take(inst, alive_idx, r[alive_idx])
        selected = np.zeros(self.n_rows, dtype=bool)
        selected[alive_idx[pos_sel]] = True
        return {"objective": obj, "selected": selected, "contacts": int(selected.sum())}

    def _greedy_take(self, inst, idx, score):
        """Take rows in order of ``score`` (only score > −inf), respecting all constraints
        (minimum volumes aside: greedy ignores them)."""
        n = len(idx)
        sel = np.zeros(n, dtype=bool)
        cust, off, chan = self.cust[idx], self.offer[idx], self.chan[idx]
        cost, profit = self.cost_row[idx], self.profit[idx]
        ledger = _Ledger(sel=sel, cust=cust, off=off, chan=chan, w=self.weight[idx], cost=cost,
                         a_row=inst["allowed"][idx], aa_row=inst["allowed_all"][idx], k=inst["k"],
                         n_ch=len(self.channels), n_customers=self.n_customers, cap=inst["cap"],
                         max_volume=inst["max"], budget=inst["budget"])
        pool = np.flatnonzero(np.isfinite(score))
        ledger.take(pool[np.argsort(-score[pool], kind="stable")], sel)
        return np.flatnonzero(sel), float(profit[sel].sum())

    # ------------------------------------------------------------------ shadow prices
    def _mult_frame(self, meta, duals, inst, selected) -> pd.DataFrame:
        cur = self.policy.currency
        h = self.horizon_days
        rows = []
        for (kind, target, rhs), y in zip(meta, duals):
            if kind == "capacity":
                used = float((selected & (self.chan == self.channels.index(target))).sum())
                per_day = y * h
                word = CHANNEL_WORDS.get(target, target)
                sentence = (f"One more {word} per day (over the {h}-day plan) is worth {cur}{per_day:,.2f} of expected profit "
                            f"({cur}{y:,.2f} per contact).")
                constraint = f"capacity: {target} ({rhs / h:,.0f} a day)"
            elif kind == "budget":
                used = float(self.cost_row[selected].sum())
                sentence = f"One more {cur}1 of budget is worth {cur}{y:,.2f} of expected profit."
                constraint = f"budget ({cur}{rhs:,.2f})"
            elif kind == "max_volume":
                used = float((selected & (self.offer == self.offers.index(target))).sum())
                sentence = f"Allowing one more {target!r} contact is worth {cur}{y:,.2f} of expected profit."
                constraint = f"max volume: {target} ({rhs:,.0f})"
            else:
                used = float((selected & (self.offer == self.offers.index(target))).sum())
                sentence = f"Requiring one more {target!r} contact costs {cur}{y:,.2f} of expected profit."
                constraint = f"min volume: {target} ({rhs:,.0f})"
            binding = bool(y > 1e-7)
            rows.append({"constraint": constraint, "kind": kind, "target": target, "limit": float(rhs), "used": used,
                         "binding": binding, "shadow_price": float(y),
                         "sentence": sentence if binding else f"Not binding: {constraint} has slack (shadow price 0)."})
        return pd.DataFrame(rows, columns=["constraint", "kind", "target", "limit", "used", "binding", "shadow_price", "sentence"])


def prepare(candidates: pd.DataFrame, policy: ContactPolicy, *, eligibility=None, horizon_days=None) -> Optimizer:
    """Prepare candidate arrays once for repeated solves (``Optimizer.solve(budget=…, caps=…, capacity=…)``)."""
    return Optimizer(candidates, policy, eligibility=eligibility, horizon_days=horizon_days)
