"""The contact plan: optimised assignments with dates, a holdout, shadow prices and exports.

Holdout (documented choice): the holdout is drawn **after** optimisation, from the selected
contacts, at random within each offer (× segment when ``stratify`` is given): in a stratum of
n selected customers, round(share · n) are held out. Holdout customers are not contacted, so
they free the capacity and budget they would have used (the freed room is deliberately not
refilled: refilling would give the targets a different mix from the holdout and bias the
comparison). ``objective`` is the optimised expected profit of all selected contacts;
``expected_profit`` is that of the targets only, the profit the plan is expected to make.

Planned dates: per channel, the contacts (targets and holdout alike, so both groups have
comparable "would-be" dates) are ranked by expected profit and dealt round-robin over the
horizon's days: day = rank mod horizon_days. A channel with n ≤ capacity × days contacts then
gets at most ⌈n / days⌉ ≤ capacity a day. Caps hold whatever the dates (see
:mod:`crmkit.plan._eligibility`: each customer's allowance covers every window that overlaps
the horizon).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crmkit.errors import ParameterError, SourceError
from crmkit.plan import _optimize
from crmkit.plan._eligibility import Eligibility, _as_day
from crmkit.plan._optimize import Optimizer, Solution
from crmkit.plan._policy import ContactPolicy

__all__ = ["ContactPlan", "build_plan", "neutralise_formulas", "optimize"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EXPORT_COLUMNS = ["customer_id", "offer", "channel", "planned_date", "group", "expected_value"]
_CONTACT_FIELDS = ["first_name", "last_name", "email", "phone"]


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where every text cell starting with ``= + - @`` (or tab / carriage return) is
    prefixed with ``'`` so spreadsheets show it as text instead of running it (OWASP CSV
    injection). Phone numbers written ``+44…`` are therefore exported as ``'+44…``.

    >>> neutralise_formulas(pd.DataFrame({"x": ["=1+1", "ok", "@SUM(A1)"]}))["x"].tolist()
    ["'=1+1", 'ok', "'@SUM(A1)"]
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or isinstance(s.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            st = s.astype("string")
            bad = st.str.startswith(_FORMULA_START).fillna(False).to_numpy(dtype=bool)
            if bad.any():
                st = st.copy()
                st[bad] = "'" + st[bad]
                out[col] = st.astype(object).where(st.notna(), None)
            elif isinstance(s.dtype, pd.CategoricalDtype):
                out[col] = st
    return out


@dataclass(frozen=True, eq=False)
class ContactPlan:
    """An optimised contact plan.

    Attributes
    ----------
    rows : DataFrame
        One row per selected contact: customer_id, offer, channel, planned_date, group
        (``"target"`` | ``"holdout"``), expected_value (expected incremental value, currency,
        before cost), cost, profit (= expected_value − cost), value_sd.
    objective : float
        Expected incremental profit of all selected contacts (targets + holdout), the value the
        optimiser maximised.
    lp_bound : float
        Upper bound on the best possible objective (LP relaxation for ``highs-milp``; the best
        Lagrangian dual value for ``highs-lagrangian``, which is ≥ the LP bound).
    gap : float
        (lp_bound − objective) / lp_bound: how far the plan can at most be from the optimum.
    expected_profit, profit_low, profit_high : float
        Expected incremental profit of the targets, with a 95 % range of the realised profit
        (normal approximation over independent Bernoulli conversions; NaN when the values
        carry no uplift, see ``candidates``'s value_sd).
    """

    rows: pd.DataFrame
    objective: float
    lp_bound: float
    gap: float
    status: str
    solver: str
    volumes: pd.DataFrame
    shadow_prices: pd.DataFrame
    greedy: dict
    excluded: pd.DataFrame
    holdout: pd.DataFrame
    expected_profit: float
    profit_low: float
    profit_high: float
    start_date: pd.Timestamp
    horizon_days: int
    budget: float | None
    policy: ContactPolicy
    seconds: float = 0.0
    iterations: int = 0
    info: dict = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.policy.currency

    # ------------------------------------------------------------------ views
    def to_frame(self) -> pd.DataFrame:
        """customer_id, offer, channel, planned_date, group, expected_value, cost — one row per contact."""
        return self.rows[_EXPORT_COLUMNS + ["cost"]].copy()

    def summary(self) -> str:
        """The plan in words: profit with its range, volumes, gap to the bound, binding constraints."""
        cur = self.currency
        t = self.rows[self.rows["group"] == "target"]
        lines = [
            (f"Contact plan for {self.start_date.date()} + {self.horizon_days} days: {len(t):,} contacts to "
             f"{t['customer_id'].nunique():,} customers, {int((self.rows['group'] == 'holdout').sum()):,} held out."),
        ]
        if np.isfinite(self.profit_low):
            lines.append(f"Expected incremental profit of the targets: {cur}{self.expected_profit:,.0f} "
                         f"(95% range {cur}{self.profit_low:,.0f} to {cur}{self.profit_high:,.0f}); cost {cur}{t['cost'].sum():,.0f}.")
        else:
            lines.append(f"Expected incremental profit of the targets: {cur}{self.expected_profit:,.0f} (no range: the values "
                         f"carry no uplift); cost {cur}{t['cost'].sum():,.0f}.")
        lines.append(f"Optimised profit before the holdout {cur}{self.objective:,.2f}; bound {cur}{self.lp_bound:,.2f}; "
                     f"gap {self.gap:.3%} ({self.solver}, {self.status}).")
        v = self.volumes.groupby("channel")["contacts"].sum()
        lines.append("Contacts by channel: " + ", ".join(f"{c} {n:,}" for c, n in v.items() if n > 0) + ".")
        b = self.shadow_prices[self.shadow_prices["binding"]] if len(self.shadow_prices) else self.shadow_prices
        if len(b):
            lines.append("Binding constraints: " + " ".join(b["sentence"]))
        else:
            lines.append("No global constraint binds (capacity, budget and volumes all have slack).")
        if self.greedy:
            lines.append(f"A greedy ranking would make {cur}{self.greedy['objective']:,.2f} "
                         f"({cur}{self.greedy['difference']:,.2f} less than the optimised plan).")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Planned contacts per channel, stacked by offer (targets only), as a plotly figure.

        ``ax``: a plotly Figure to draw into (default a new one); returned."""
        import plotly.graph_objects as go

        fig = ax if ax is not None else go.Figure()
        t = self.rows[self.rows["group"] == "target"]
        tab = t.groupby(["channel", "offer"]).size().unstack(fill_value=0)
        for offer in tab.columns:
            fig.add_bar(x=tab.index.astype(str), y=tab[offer].to_numpy(), name=str(offer),
                        hovertemplate="%{x}: %{y:,} contacts of " + str(offer) + "<extra></extra>")
        fig.update_layout(barmode="stack", template="plotly_white", yaxis_title="planned contacts", xaxis_title="channel",
                          title=f"Contact plan: {len(t):,} contacts, expected incremental profit {self.currency}{self.expected_profit:,.0f}")
        return fig

    # ------------------------------------------------------------------ exports
    def _export_frame(self, contact_fields: bool, data) -> pd.DataFrame:
        out = self.rows[_EXPORT_COLUMNS].copy()
        out["planned_date"] = pd.to_datetime(out["planned_date"]).dt.date
        if contact_fields:
            if data is not None:
                from crmkit.plan._eligibility import crm_data

                data = crm_data(data)
            cust = getattr(data, "customers", None)
            if cust is None:
                raise ParameterError("contact_fields=True needs data= (a CRMData with customers) to look up names, e-mail and phone.")
            cols = [c for c in _CONTACT_FIELDS if c in cust.columns]
            look = cust[["customer_id"] + cols].copy()
            look["customer_id"] = look["customer_id"].astype(str)
            look = look.drop_duplicates("customer_id")
            out = out.merge(look, on="customer_id", how="left")
        return neutralise_formulas(out)

    def to_csv(self, path, *, contact_fields: bool = False, data=None) -> Path:
        """Write the plan for a marketing-automation tool (no personal data unless ``contact_fields``)."""
        path = Path(path)
        # 10 significant digits: exact enough for money, without float noise (0.026999999999999996)
        self._export_frame(contact_fields, data).to_csv(path, index=False, float_format="%.10g")
        return path

    def to_parquet(self, path, *, contact_fields: bool = False, data=None) -> Path:
        path = Path(path)
        self._export_frame(contact_fields, data).to_parquet(path, index=False)
        return path

    def to_store(self, store=None, campaign_id: str | None = None) -> str:
        """Append the plan to the DuckDB store as campaigns and campaign_members.

        One campaign per offer × channel cell (the ``campaigns`` table has one channel and one
        offer per campaign), with ids ``<campaign_id>-01``, ``-02`` …; members are the targets
        (group ``"treatment"``, contacted_at = planned date) and the holdout (``"control"``,
        contacted_at empty), converted False and revenue empty until the outcome is recorded.
        Returns the base ``campaign_id`` (default ``PLAN-<start date>``).
        """
        import duckdb

        if store in (None, ""):
            from crmkit import config

            path = config.default_store()
        else:
            path = Path(store).expanduser()
        if not path.is_file():
            raise SourceError(f"{path}: no DuckDB store there; create one first (crmkit.io.save_store).")
        base = campaign_id or f"PLAN-{self.start_date:%Y%m%d}"
        if not isinstance(base, str) or not base.strip():
            raise ParameterError(f"campaign_id: expected a non-empty text, found {campaign_id!r}.")
        cells = self.rows.groupby(["offer", "channel"], sort=True).size().index.tolist()
        cost = self.policy.channels.set_index("channel")["cost_per_contact"]
        camp_rows, members = [], []
        end = self.start_date + pd.Timedelta(days=self.horizon_days - 1)
        for n, (offer, channel) in enumerate(cells, start=1):
            cid = f"{base}-{n:02d}"
            camp_rows.append({"campaign_id": cid, "name": f"Contact plan {self.start_date.date()}: {offer} by {channel}",
                              "channel": channel, "offer": offer, "start": self.start_date, "end": end,
                              "cost_per_contact": float(cost.get(channel, np.nan))})
            sub = self.rows[(self.rows["offer"] == offer) & (self.rows["channel"] == channel)]
            treat = sub["group"].to_numpy() == "target"
            members.append(pd.DataFrame({
                "campaign_id": cid,
                "customer_id": sub["customer_id"].astype(str).to_numpy(),
                "group": np.where(treat, "treatment", "control"),
                "contacted_at": pd.to_datetime(sub["planned_date"]).where(treat, pd.NaT).to_numpy(),
                "converted": False,
                "revenue": np.nan,
            }))
        campaigns = pd.DataFrame(camp_rows)
        mem = pd.concat(members, ignore_index=True) if members else pd.DataFrame(
            columns=["campaign_id", "customer_id", "group", "contacted_at", "converted", "revenue"])
        try:
            con = duckdb.connect(str(path))
        except duckdb.Error as err:
            raise SourceError(f"{path}: cannot open the store for writing ({type(err).__name__}: {err}). "
                              "Close what else has it open and save again.") from None
        try:
            con.execute("SET enable_progress_bar = false")
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "campaigns" in tables:
                clash = con.execute("SELECT count(*) FROM campaigns WHERE campaign_id LIKE ? ", [base + "-%"]).fetchone()[0]
                if clash:
                    raise ParameterError(f"campaign_id: the store already holds campaigns {base}-…; pick another campaign_id.")
            con.register("_plan_campaigns", campaigns)
            con.register("_plan_members", mem)
            con.execute("BEGIN TRANSACTION")
            for table, frame in (("campaigns", "_plan_campaigns"), ("campaign_members", "_plan_members")):
                if table in tables:
                    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM {frame}')
                else:
                    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {frame}')
            con.execute("COMMIT")
        finally:
            con.close()
        return base


# ---------------------------------------------------------------------- building the plan
def _rank_within(groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rank (0, 1, …) of each row within its group, rows visited in ``order`` (a permutation)."""
    g = groups[order]
    start = np.r_[0, np.flatnonzero(np.diff(g) != 0) + 1]
    lens = np.diff(np.r_[start, len(g)])
    rank = np.empty(len(g), dtype=np.int64)
    rank[order] = np.arange(len(g)) - np.repeat(start, lens)
    return rank


def _assign_days(chan: np.ndarray, profit: np.ndarray, h: int) -> np.ndarray:
    """Day offset of each contact: per channel, rank by expected profit, dealt round-robin over h days."""
    if len(chan) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((-profit, chan))
    return _rank_within(chan, order) % h


def power_shares(rows: pd.DataFrame, power_params: dict) -> dict:
    """Holdout share per offer from the power calculation of :func:`crmkit.campaign.holdout_share`
    (the smallest control share that detects ``effect`` from ``baseline_rate`` with ``power``);
    0.5 when the offer's audience is too small to detect it at any split."""
    try:
        from crmkit.campaign import holdout_share as _power_holdout
    except ImportError as exc:  # crmkit.campaign not installed in this build
        raise ParameterError("holdout_share='power' needs crmkit.campaign; give a number instead.") from exc
    need = {"baseline_rate", "effect"}
    if not isinstance(power_params, dict) or not need <= set(power_params):
        raise ParameterError("holdout_share='power': pass power_params={'baseline_rate': …, 'effect': …[, 'power', 'alpha']}.")
    out = {}
    for offer, n in rows.groupby("offer").size().items():
        if n < 4:
            out[offer] = 0.0
            continue
        hp = _power_holdout(int(n), power_params["baseline_rate"], power_params["effect"],
                            power=power_params.get("power", 0.8), alpha=power_params.get("alpha", 0.05))
        out[offer] = 0.5 if hp.share is None else float(min(hp.share, 0.5))
    return out


def _draw_holdout(offer: np.ndarray, strata: np.ndarray, share, rng) -> np.ndarray:
    """Boolean mask of held-out rows: round(share·n) drawn at random in every offer (× segment)
    stratum of n selected contacts. ``share``: a number or an array of shares per offer code."""
    n = len(offer)
    hold = np.zeros(n, dtype=bool)
    if n == 0:
        return hold
    sh = np.asarray(share, dtype=float)
    per_row = sh[offer] if sh.ndim else np.full(n, float(sh))
    if not np.any(per_row > 0):
        return hold
    u = rng.random(n)
    order = np.lexsort((u, strata))
    rank = _rank_within(strata, order)
    size = np.bincount(strata)[strata]
    m = np.floor(per_row * size + 0.5)
    return rank < m


def build_plan(opt: Optimizer, sol: Solution, *, budget, holdout_share, stratify, start_date, eligibility,
               random_state, power_params=None) -> ContactPlan:
    """Turn a raw solution into a :class:`ContactPlan` (dates, holdout, tables), in numpy."""
    h = opt.horizon_days
    sel = np.flatnonzero(sol.selected)
    cu, of, ch = opt.cust[sel], opt.offer[sel], opt.chan[sel]
    value, cost, profit, vsd = opt.value[sel], opt.cost_row[sel], opt.profit[sel], opt.value_sd[sel]
    n_of, n_ch = len(opt.offers), len(opt.channels)
    day = _assign_days(ch, profit, h)
    rng = np.random.default_rng(random_state)
    if holdout_share == "power":
        counts = pd.DataFrame({"offer": np.asarray(opt.offers, dtype=object)[of]})
        shares = power_shares(counts, power_params)
        holdout_share = {o: shares.get(o, 0.0) for o in opt.offers}
    share_arr = np.array([holdout_share[o] for o in opt.offers]) if isinstance(holdout_share, dict) else float(holdout_share)
    strata = of.astype(np.int64)
    if stratify is not None:
        seg = pd.Series(stratify)
        seg.index = seg.index.astype(str)
        labels = seg.reindex(opt.customer_ids[cu]).astype(object).fillna("(none)").astype(str).to_numpy()
        seg_codes = pd.factorize(labels, sort=True)[0]
        strata = strata * (int(seg_codes.max()) + 1 if len(seg_codes) else 1) + seg_codes
    hold = _draw_holdout(of, strata, share_arr, rng)
    order = np.lexsort((cu, of, ch, day))
    cu, of, ch, day, hold = cu[order], of[order], ch[order], day[order], hold[order]
    value, cost, profit, vsd = value[order], cost[order], profit[order], vsd[order]
    rows = pd.DataFrame({
        "customer_id": opt.customer_ids[cu],
        "offer": np.asarray(opt.offers, dtype=object)[of],
        "channel": np.asarray(opt.channels, dtype=object)[ch],
        "planned_date": (start_date + pd.to_timedelta(day, unit="D")).to_numpy() if len(day) else np.array([], dtype="datetime64[ns]"),
        "group": np.where(hold, "holdout", "target").astype(object),
        "expected_value": value, "cost": cost, "profit": profit, "value_sd": vsd,
    })
    t = ~hold
    sd = float(np.sqrt(np.sum(vsd[t] ** 2)))
    exp_profit = float(profit[t].sum())
    low, high = (exp_profit - 1.96 * sd, exp_profit + 1.96 * sd) if np.isfinite(sd) else (np.nan, np.nan)

    # volumes per offer × channel (targets; holdout counted apart)
    cell = of * n_ch + ch
    m = n_of * n_ch

    def bc(mask, w=None):
        return np.bincount(cell[mask], weights=None if w is None else w[mask], minlength=m)

    contacts, n_hold = bc(t), bc(hold)
    var = bc(t, vsd ** 2)
    prof = bc(t, profit)
    keep = (contacts + n_hold) > 0
    oc, cc = np.divmod(np.arange(m), n_ch)
    vol = pd.DataFrame({
        "offer": np.asarray(opt.offers, dtype=object)[oc], "channel": np.asarray(opt.channels, dtype=object)[cc],
        "contacts": contacts.astype(np.int64), "cost": bc(t, cost), "expected_value": bc(t, value), "profit": prof,
        "profit_low": prof - 1.96 * np.sqrt(var), "profit_high": prof + 1.96 * np.sqrt(var), "holdout": n_hold.astype(np.int64),
    })[keep].reset_index(drop=True)
    nt, nh = np.bincount(of[t], minlength=n_of), np.bincount(of[hold], minlength=n_of)
    present = (nt + nh) > 0
    hold_tab = pd.DataFrame({"offer": np.asarray(opt.offers, dtype=object), "n_target": nt, "n_holdout": nh})[present].reset_index(drop=True)
    hold_tab["share"] = hold_tab["n_holdout"] / (hold_tab["n_target"] + hold_tab["n_holdout"])

    # exclusions: eligibility reasons + customers with a profitable candidate left out
    excl = []
    if eligibility is not None:
        c = eligibility.counts_under(opt.last_policy)  # the what-if caps, when they changed
        for _, r in c[c["reason"] != "eligible"].iterrows():
            excl.append({"reason": r["reason"], "customers": int(r["customers"]), "pairs": int(r["pairs"])})
    inst = opt.last_instance
    alive = inst["alive"]
    planned = np.zeros(opt.n_customers, dtype=bool)
    planned[opt.cust[sol.selected]] = True
    worth = np.zeros(opt.n_customers, dtype=bool)
    worth[opt.cust[alive & (opt.profit > 0)]] = True
    has = np.zeros(opt.n_customers, dtype=bool)
    has[opt.cust[alive]] = True
    excl.append({"reason": "not planned: budget / capacity / volume limits", "customers": int((worth & ~planned).sum()), "pairs": np.nan})
    excl.append({"reason": "not planned: value below cost", "customers": int((has & ~worth & ~planned).sum()), "pairs": np.nan})
    excluded = pd.DataFrame(excl, columns=["reason", "customers", "pairs"])

    greedy = {}
    if opt.last_greedy is not None:
        greedy = {"objective": opt.last_greedy["objective"], "contacts": opt.last_greedy["contacts"],
                  "difference": sol.objective - opt.last_greedy["objective"],
                  "relative": (sol.objective - opt.last_greedy["objective"]) / sol.objective if sol.objective else np.nan}
    gap = (sol.bound - sol.objective) / sol.bound if sol.bound > 0 else 0.0
    return ContactPlan(
        rows=rows, objective=sol.objective, lp_bound=sol.bound, gap=max(gap, 0.0), status=sol.status, solver=sol.solver,
        volumes=vol, shadow_prices=sol.multipliers, greedy=greedy, excluded=excluded, holdout=hold_tab,
        expected_profit=exp_profit, profit_low=low, profit_high=high, start_date=start_date, horizon_days=h,
        budget=budget, policy=opt.last_policy, seconds=sol.seconds, iterations=sol.iterations,
        info={"history": sol.history, "holdout_rule": "drawn from selected contacts per offer stratum; not refilled",
              "holdout_share": holdout_share},
    )


def optimize(candidates: pd.DataFrame, policy: ContactPolicy, *, budget=..., eligibility: Eligibility | None = None,
             holdout_share: float = 0.1, stratify=None, start_date=None, horizon_days: int | None = None,
             method: str = "auto", random_state=0, greedy: bool = True, tol: float = 2e-4,
             power_params: dict | None = None) -> ContactPlan:
    """Choose who gets which offer on which channel, maximising expected incremental profit.

    Parameters
    ----------
    candidates : DataFrame
        From :func:`crmkit.plan.candidates` (or your own with the same columns).
    policy : ContactPolicy
    budget : float or None
        Most the plan may spend on contacts; left out → ``policy.budget``; ``None`` → no budget.
    eligibility : Eligibility, optional
        For the exclusion counts (and what-if cap changes via :func:`prepare`).
    holdout_share : float or ``"power"``, default 0.1
        Share of the selected customers of each offer (× segment) held out, in [0, 0.9];
        ``"power"``: per offer, the smallest share with 80 % power from
        :func:`crmkit.campaign.holdout_share`, with ``power_params={"baseline_rate": …, "effect": …}``.
    stratify : Series, optional
        customer_id → segment label to stratify the holdout by.
    start_date : date, optional
        First planned day; default the candidates' ``as_of``. Must lie within the horizon the
        candidates were built for.
    method : ``"auto"`` | ``"milp"`` | ``"lagrangian"``
        ``auto``: exact HiGHS MILP up to 20,000 candidate rows, else the Lagrangian decomposition.

    Raises
    ------
    InfeasiblePolicyError
        When no plan can meet the policy (it names the conflicting constraints).
    """
    opt = candidates if isinstance(candidates, Optimizer) else Optimizer(candidates, policy, eligibility=eligibility, horizon_days=horizon_days)
    return solve_plan(opt, budget=budget, holdout_share=holdout_share, stratify=stratify, start_date=start_date,
                      method=method, random_state=random_state, greedy=greedy, tol=tol, eligibility=eligibility,
                      power_params=power_params)


def solve_plan(opt: Optimizer, *, budget=..., caps=None, capacity=None, holdout_share=0.1, stratify=None, start_date=None,
               method="auto", random_state=0, greedy=True, tol=2e-4, eligibility=None, power_params=None) -> ContactPlan:
    if holdout_share != "power" and (isinstance(holdout_share, bool) or not isinstance(holdout_share, (int, float, np.floating))
                                     or not 0 <= holdout_share <= 0.9):
        raise ParameterError(f"holdout_share: expected a share between 0 and 0.9 or 'power', found {holdout_share!r}.")
    if holdout_share == "power" and power_params is None:
        raise ParameterError("holdout_share='power': pass power_params={'baseline_rate': …, 'effect': …}.")
    as_of = opt.as_of
    if start_date is None:
        if as_of is None:
            raise ParameterError("start_date: the candidates carry no as_of date; pass start_date=.")
        start = _as_day(as_of)
    else:
        start = _as_day(start_date, "start_date")
        if as_of is not None and start != _as_day(as_of):
            raise ParameterError(
                f"start_date: the candidates' consent, caps and quiet periods were checked for the horizon starting "
                f"{_as_day(as_of).date()}; found start_date {start.date()}. Build candidates with as_of={start.date()}.")
    el = eligibility if eligibility is not None else opt.eligibility
    plan_key = None
    # remembered only when the plan is a function of the arguments: an integer seed (a Generator
    # or None draws a new holdout each time) and no stratify Series (not hashable)
    if stratify is None and isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        from crmkit.plan._optimize import _norm_changes

        hs = holdout_share if holdout_share == "power" else float(holdout_share)
        pp = None if power_params is None else repr(sorted(power_params.items()))
        plan_key = ("policy" if budget is ... else (None if budget is None else float(budget)), _norm_changes(caps),
                    _norm_changes(capacity), method, float(tol), bool(greedy), hs, pp, start, int(random_state), id(el))
        pmemo = opt.__dict__.setdefault("_plan_memo", OrderedDict())
        hit = pmemo.get(plan_key)
        if hit is not None:
            pmemo.move_to_end(plan_key)
            plan, state = hit
            # keep the optimiser's "last solve" state in step with the plan returned
            opt.last_instance, opt.last_policy, opt.last_greedy = state
            opt.last_memo_hit = True
            return plan
    sol = opt.solve_raw(budget=budget, caps=caps, capacity=capacity, method=method, tol=tol, greedy=greedy)
    if budget is ...:
        budget = opt.last_policy.budget
    plan = build_plan(opt, sol, budget=budget, holdout_share=holdout_share if holdout_share == "power" else float(holdout_share),
                      stratify=stratify, start_date=start, eligibility=el,
                      random_state=random_state, power_params=power_params)
    if plan_key is not None:
        inst = {k: v for k, v in opt.last_instance.items() if k not in ("allowed", "allowed_all")}
        pmemo[plan_key] = (plan, (inst, opt.last_policy, opt.last_greedy))
        while len(pmemo) > _optimize.MEMO_SIZE:
            pmemo.popitem(last=False)
    return plan
