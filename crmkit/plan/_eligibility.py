"""Contact pressure and eligibility: who may still be contacted on which channel, and how much.

The plan covers the days ``as_of`` … ``as_of + horizon_days - 1`` (day granularity; times are
floored to the day). For a customer and a channel the **remaining weight** the plan may add is

    min over the caps that cover the channel (its own and the ``"all"`` caps) of
        max_weight - (the largest history weight in any one window of that cap that
                      overlaps the plan's days)

History is every outbound contact in ``interactions`` (each weighs 1), whenever dated.
Because a planned contact always falls in the horizon, the plan adds at most its own total
weight to any window: so if the plan's weight per customer and scope stays within the
remaining weight, **no sliding or calendar window can exceed its cap, whatever days the
contacts are given**. This is conservative when the horizon is longer than a window (two
windows in the horizon share one allowance), and it is what makes the guarantee simple.

Consent: the latest ``consents`` row dated on or before ``as_of`` (an undated row counts as
dated at the beginning of time) must grant the channel, and no row dated after ``as_of``
may withdraw it (a withdrawal already in the data is honoured). No row: no consent.

Quiet periods: an event on day ``e`` (a ticket opened = complaint, an order = purchase)
forbids marketing on days ``e`` … ``e + days``; a customer whose quiet days overlap the
horizon is set aside for the whole horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.plan._policy import ContactPolicy, sliding_days

__all__ = ["Eligibility", "contact_pressure", "eligibility", "outbound_history"]

_DAY = np.timedelta64(1, "D")


def crm_data(data):
    """The CRM tables to plan on: ``data`` itself, or a source read and validated with
    :func:`crmkit.io.load` (a DuckDB store, a folder, a workbook or an engine URL)."""
    import os

    if isinstance(data, (str, os.PathLike)):
        from crmkit.io import load

        return load(data).data
    return data


def _as_day(value, name="as_of") -> pd.Timestamp:
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}: expected a date such as '2025-06-30', found {value!r}.") from exc
    if t is pd.NaT or pd.isna(t):
        raise ParameterError(f"{name}: expected a date such as '2025-06-30', found {value!r}.")
    return t.normalize()


def _days(ts) -> np.ndarray:
    """Whole days since 1970-01-01 of a datetime Series/array (floored)."""
    v = pd.to_datetime(pd.Series(ts)).to_numpy(dtype="datetime64[ns]")
    return v.astype("datetime64[D]").astype(np.int64)


def outbound_history(data) -> pd.DataFrame:
    """Outbound contacts of ``interactions``: customer_id, channel, day (datetime64, floored)."""
    inter = getattr(data, "interactions", None)
    if inter is None or len(inter) == 0:
        return pd.DataFrame({"customer_id": pd.Series([], dtype=object), "channel": pd.Series([], dtype=object),
                             "day": pd.Series([], dtype="datetime64[ns]")})
    for col in ("customer_id", "at", "channel"):
        if col not in inter.columns:
            raise DataValidationError(f"interactions.{col}: the column is missing; it is needed to count past contacts.")
    if "direction" in inter.columns:
        mask = (inter["direction"].astype("string") == "outbound").fillna(False).to_numpy(dtype=bool)
    else:
        mask = np.ones(len(inter), dtype=bool)
    mask &= inter["at"].notna().to_numpy()
    sub = inter.loc[mask]
    return pd.DataFrame({
        "customer_id": sub["customer_id"].astype(str).to_numpy(dtype=object),
        "channel": sub["channel"].astype(str).to_numpy(dtype=object),
        "day": pd.to_datetime(sub["at"]).dt.floor("D").to_numpy(),
    })


@dataclass(frozen=True, eq=False)
class Eligibility:
    """Who may be contacted on which channel over the plan horizon, and how much.

    Attributes
    ----------
    allowed : DataFrame
        customer_id × channel: remaining message weight the plan may add (0 = none; ``inf`` =
        no cap applies). Already the minimum with the customer's ``"all"``-channel allowance.
    allowed_all : Series
        customer_id → remaining weight across all channels (``inf`` = no cross-channel cap).
    excluded : DataFrame
        customer_id, channel, reason (first reason that applies: ``"no consent"``,
        ``"quiet period: complaint"``/``"…: purchase"``, or a cap such as ``"cap: email 3 in 7 days"``).
    counts : DataFrame
        reason, pairs (customer × channel pairs set aside), customers; plus a row
        ``"eligible"``; pairs add up to customers × channels.
    """

    allowed: pd.DataFrame
    allowed_all: pd.Series
    excluded: pd.DataFrame
    counts: pd.DataFrame
    as_of: pd.Timestamp
    horizon_days: int
    blocked: np.ndarray | None = None   # customer × channel: no consent or quiet period
    usage: np.ndarray | None = None     # customer × cap: history weight in the fullest window
    caps: pd.DataFrame | None = None
    blocked_reason: np.ndarray | None = None  # customer × channel: "no consent" / "quiet period: …" / ""

    def counts_under(self, policy: ContactPolicy) -> pd.DataFrame:
        """:attr:`counts` recomputed for the caps of ``policy`` (same cap rows, other max_weight)."""
        if self.blocked_reason is None or policy.caps.equals(self.caps):
            return self.counts.copy()
        self.allowed_under(policy)  # checks the caps are the same rows
        memo_key = tuple(policy.caps["max_weight"].astype(float).tolist())
        memo = self.__dict__.setdefault("_counts_memo", {})
        if memo_key in memo:
            return memo[memo_key].copy()
        channels = list(self.allowed.columns)
        reason = self.blocked_reason.copy()
        for k, (_, cap) in enumerate(policy.caps.iterrows()):
            full = cap["max_weight"] - self.usage[:, k] <= 0
            label = policy.cap_label(cap)
            if cap["scope"] == "all":
                reason[full[:, None] & (reason == "")] = label
            else:
                j = channels.index(cap["scope"])
                reason[full & (reason[:, j] == ""), j] = label
        out = _count_reasons(reason)
        if len(memo) >= 16:
            memo.pop(next(iter(memo)))
        memo[memo_key] = out
        return out.copy()

    def allowed_under(self, policy: ContactPolicy) -> tuple[np.ndarray, np.ndarray]:
        """(customer × channel allowance, customer allowance across channels) under the caps of
        ``policy`` (same cap rows as the policy this was computed for; ``max_weight`` may differ)."""
        caps = policy.caps
        if self.caps is None or len(caps) != len(self.caps) or not (
            caps[["scope", "kind", "window"]].reset_index(drop=True).equals(self.caps[["scope", "kind", "window"]].reset_index(drop=True))
        ):
            raise ParameterError("caps: only the max_weight of existing caps can change after eligibility(); "
                                 "for new caps compute eligibility() again.")
        channels = list(self.allowed.columns)
        n, m = self.blocked.shape
        remaining = np.full((n, m), np.inf)
        remaining_all = np.full(n, np.inf)
        for k, (_, cap) in enumerate(caps.iterrows()):
            rem = np.maximum(cap["max_weight"] - self.usage[:, k], 0.0)
            if cap["scope"] == "all":
                remaining_all = np.minimum(remaining_all, rem)
            else:
                j = channels.index(cap["scope"])
                remaining[:, j] = np.minimum(remaining[:, j], rem)
        allowed = np.minimum(remaining, remaining_all[:, None])
        allowed[self.blocked] = 0.0
        return allowed, remaining_all

    def summary(self) -> pd.DataFrame:
        return self.counts.copy()

    def to_frame(self) -> pd.DataFrame:
        return self.allowed.copy()

    def plot(self, ax=None):
        """Customer × channel pairs set aside, by reason (plotly horizontal bars)."""
        import plotly.graph_objects as go

        fig = ax if ax is not None else go.Figure()
        c = self.counts[self.counts["reason"] != "eligible"].iloc[::-1]
        fig.add_bar(y=c["reason"], x=c["pairs"], orientation="h", name="set aside",
                    hovertemplate="%{y}: %{x:,} customer × channel pairs<extra></extra>")
        fig.update_layout(template="plotly_white", xaxis_title="customer × channel pairs set aside",
                          title=f"Who may not be contacted from {self.as_of.date()} ({self.horizon_days} days)")
        return fig


def _window_max_sliding(cust, day, w, n_groups, W, a, b) -> np.ndarray:
    """Per group: the largest weight in any window [s, s+W-1] with s in [a, b]."""
    out = np.zeros(n_groups)
    keep = (day >= a) & (day <= b + W - 1)
    if not keep.any():
        return out
    g, d, wt = cust[keep], day[keep], w[keep]
    order = np.lexsort((d, g))
    g, d, wt = g[order], d[order], wt[order]
    span = np.int64(b + W + 1 - a + 2)
    key = g.astype(np.int64) * span + (d - a)
    cw = np.concatenate([[0.0], np.cumsum(wt)])
    s = np.minimum(d, b)
    lo = np.searchsorted(key, g * span + (s - a), "left")
    hi = np.searchsorted(key, g * span + (s - a) + W, "left")
    np.maximum.at(out, g, cw[hi] - cw[lo])
    return out


def calendar_period(day: np.ndarray, unit: str) -> np.ndarray:
    """Calendar period number of whole days since 1970-01-01: ISO weeks (Monday first) or months."""
    day = np.asarray(day, dtype=np.int64)
    if unit == "week":
        return (day + 3) // 7  # 1970-01-01 was a Thursday; weeks start on Monday
    return day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _window_max_calendar(cust, day, w, n_groups, unit, T, h) -> np.ndarray:
    """Per group: the largest weight in one calendar period overlapping days T … T+h-1."""
    out = np.zeros(n_groups)
    period = calendar_period(day, unit)
    first, last = calendar_period(np.array([T]), unit)[0], calendar_period(np.array([T + h - 1]), unit)[0]
    keep = (period >= first) & (period <= last)
    if not keep.any():
        return out
    frame = pd.DataFrame({"g": cust[keep], "p": period[keep], "w": w[keep]})
    sums = frame.groupby(["g", "p"])["w"].sum().groupby(level=0).max()
    out[sums.index.to_numpy()] = sums.to_numpy()
    return out


def _consent_matrix(data, customers: pd.Index, channels: list[str], as_of: pd.Timestamp) -> np.ndarray:
    cons = getattr(data, "consents", None)
    ok = np.zeros((len(customers), len(channels)), dtype=bool)
    if cons is None or len(cons) == 0:
        return ok
    for col in ("customer_id", "channel", "granted"):
        if col not in cons.columns:
            raise DataValidationError(f"consents.{col}: the column is missing; consent cannot be checked without it.")
    c = pd.DataFrame({
        "ci": customers.get_indexer(cons["customer_id"].astype(str)),
        "ch": pd.Index(channels).get_indexer(cons["channel"].astype(str)),
        "granted": cons["granted"].astype("boolean").fillna(False).to_numpy(dtype=bool),
        "at": pd.to_datetime(cons["updated_at"]) if "updated_at" in cons.columns else pd.NaT,
    })
    c = c[(c["ci"] >= 0) & (c["ch"] >= 0)]
    c["at"] = c["at"].fillna(pd.Timestamp("1900-01-01"))
    end_of_day = as_of + pd.Timedelta(days=1)
    past = c[c["at"] < end_of_day].copy()
    # the latest row(s) dated on or before as_of decide; on a tie in time every row must grant
    past["latest"] = past.groupby(["ci", "ch"])["at"].transform("max")
    lat = past[past["at"] == past["latest"]].groupby(["ci", "ch"])["granted"].all()
    idx = np.array(lat.index.tolist(), dtype=np.int64).reshape(-1, 2)
    if len(idx):
        ok[idx[:, 0], idx[:, 1]] = lat.to_numpy(dtype=bool)
    fut = c[(c["at"] >= end_of_day) & ~c["granted"]]
    if len(fut):
        ok[fut["ci"].to_numpy(), fut["ch"].to_numpy()] = False
    return ok


def _count_reasons(reason: np.ndarray) -> pd.DataFrame:
    """reason, pairs, customers per exclusion reason, plus the ``eligible`` row.

    Labels are hashed once (``pd.factorize``) and counted on integer codes: no sort of the
    customer × channel text array (the what-if dashboard recounts it on every cap change)."""
    n, m = reason.shape if reason.ndim == 2 else (len(reason), 1)
    codes, labels = pd.factorize(np.asarray(reason, dtype=object).ravel(), sort=False)
    codes = codes.reshape(n, m)
    labels = [str(x) for x in labels]
    pairs = np.bincount(codes.ravel(), minlength=len(labels))
    rows = []
    eligible = {"reason": "eligible", "pairs": 0, "customers": 0}
    for j in sorted(range(len(labels)), key=lambda j: labels[j]):
        customers = int((codes == j).any(axis=1).sum())
        if labels[j] == "":
            eligible = {"reason": "eligible", "pairs": int(pairs[j]), "customers": customers}
        else:
            rows.append({"reason": labels[j], "pairs": int(pairs[j]), "customers": customers})
    rows.append(eligible)
    return pd.DataFrame(rows, columns=["reason", "pairs", "customers"])


def eligibility(data, policy: ContactPolicy, as_of, *, horizon_days: int = 7) -> Eligibility:
    """Remaining contact allowance per customer and channel over the plan horizon.

    Parameters
    ----------
    data : CRMData
        Needs ``customers`` and ``consents``; uses ``interactions`` (outbound = history),
        ``tickets`` (complaints) and ``transactions`` (purchases) when present.
    policy : ContactPolicy
    as_of : date
        First day of the plan; history and consent are read as of this day.
    horizon_days : int, default 7
        Days the plan covers.
    """
    if not isinstance(policy, ContactPolicy):
        raise ParameterError(f"policy: expected a crmkit.plan.ContactPolicy, found {type(policy).__name__}.")
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, (int, np.integer)) or horizon_days < 1:
        raise ParameterError(f"horizon_days: expected a whole number ≥ 1, found {horizon_days!r}.")
    h = int(horizon_days)
    as_of = _as_day(as_of)
    data = crm_data(data)
    if getattr(data, "customers", None) is None or "customer_id" not in data.customers.columns:
        raise DataValidationError("customers: the table (with customer_id) is needed to plan contacts.")
    if getattr(data, "consents", None) is None:
        raise DataValidationError("consents: the table is needed; without a recorded consent nobody may be contacted.")
    customers = pd.Index(data.customers["customer_id"].astype(str).unique(), name="customer_id")
    channels = list(policy.channels["channel"])
    n, m = len(customers), len(channels)
    T = int(np.datetime64(as_of.to_datetime64(), "D").astype(np.int64))

    reason = np.full((n, m), "", dtype=object)
    consent = _consent_matrix(data, customers, channels, as_of)
    reason[~consent] = "no consent"

    # quiet periods
    for _, q in policy.quiet_periods.iterrows():
        if q["event"] == "complaint":
            tab, col = getattr(data, "tickets", None), "opened_at"
        else:
            tab, col = getattr(data, "transactions", None), "ordered_at"
        if tab is None or len(tab) == 0 or col not in tab.columns:
            continue
        e = _days(tab[col])
        ci = customers.get_indexer(tab["customer_id"].astype(str))
        hit = (ci >= 0) & ~pd.isna(tab[col]).to_numpy() & (e <= T + h - 1) & (e + int(q["days"]) >= T)
        quiet = np.zeros(n, dtype=bool)
        quiet[ci[hit]] = True
        free = (reason == "") & quiet[:, None]
        reason[free] = f"quiet period: {q['event']}"

    # caps
    hist = outbound_history(data)
    hci = customers.get_indexer(hist["customer_id"])
    hch = pd.Index(channels).get_indexer(hist["channel"])
    keep = hci >= 0
    hday = _days(hist["day"])[keep] if len(hist) else np.array([], dtype=np.int64)
    hci, hch = hci[keep], hch[keep]
    hw = np.ones(len(hci))
    remaining = np.full((n, m), np.inf)
    remaining_all = np.full(n, np.inf)
    blocked = reason != ""
    blocked_reason = reason.copy()
    usage = np.zeros((n, len(policy.caps)))
    for k, (_, cap) in enumerate(policy.caps.iterrows()):
        label = policy.cap_label(cap)
        if cap["scope"] == "all":
            g, ng, ww, d = hci, n, hw, hday
        else:
            sel = hch == channels.index(cap["scope"])
            g, ng, ww, d = hci[sel], n, hw[sel], hday[sel]
        if cap["kind"] == "sliding":
            W = sliding_days(cap["window"])
            used = _window_max_sliding(g, d, ww, ng, W, T - W + 1, T + h - 1)
        else:
            used = _window_max_calendar(g, d, ww, ng, cap["window"], T, h)
        usage[:, k] = used
        rem = np.maximum(cap["max_weight"] - used, 0.0)
        if cap["scope"] == "all":
            newly = (rem <= 0)[:, None] & (reason == "")
            reason[newly] = label
            remaining_all = np.minimum(remaining_all, rem)
        else:
            j = channels.index(cap["scope"])
            newly = (rem <= 0) & (reason[:, j] == "")
            reason[newly, j] = label
            remaining[:, j] = np.minimum(remaining[:, j], rem)
    allowed = np.minimum(remaining, remaining_all[:, None])
    allowed[reason != ""] = 0.0

    ex_i, ex_j = np.nonzero(reason != "")
    counts = _count_reasons(reason)
    excluded = pd.DataFrame({
        "customer_id": customers.to_numpy()[ex_i],
        "channel": np.asarray(channels, dtype=object)[ex_j],
        "reason": reason[ex_i, ex_j].astype(str),
    })
    return Eligibility(
        allowed=pd.DataFrame(allowed, index=customers, columns=pd.Index(channels, name="channel")),
        allowed_all=pd.Series(remaining_all, index=customers, name="allowed_all"),
        excluded=excluded,
        counts=counts,
        as_of=as_of,
        horizon_days=h,
        blocked=blocked,
        usage=usage,
        caps=policy.caps.copy(),
        blocked_reason=blocked_reason,
    )


def contact_pressure(data, as_of, *, window_days: int = 30, by=None, policy: ContactPolicy | None = None) -> pd.DataFrame:
    """Outbound contacts per customer and channel in the ``window_days`` days up to ``as_of``.

    Returns one row per channel (and segment when ``by``, a Series customer_id → label, is
    given; customers without a label are ``"(none)"``): customers, contacts, mean contacts
    per customer (all customers count, contacted or not), the 90th percentile, the share of
    customers contacted at least once and, when ``policy`` is given, ``share_at_cap``: the
    share of customers whose contacts in the window already reach the smallest cap of
    that channel scaled to the window (a sliding cap of M per W days → M·window/W).
    """
    as_of = _as_day(as_of)
    if isinstance(window_days, bool) or not isinstance(window_days, (int, np.integer)) or window_days < 1:
        raise ParameterError(f"window_days: expected a whole number ≥ 1, found {window_days!r}.")
    data = crm_data(data)
    if getattr(data, "customers", None) is None:
        raise DataValidationError("customers: the table is needed to measure contact pressure.")
    customers = pd.Index(data.customers["customer_id"].astype(str).unique(), name="customer_id")
    hist = outbound_history(data)
    lo = as_of - pd.Timedelta(days=window_days - 1)
    hist = hist[(hist["day"] >= lo) & (hist["day"] <= as_of)]
    labels = pd.Series("(all)", index=customers) if by is None else (
        pd.Series(by).rename(index=str).reindex(customers).astype(object).fillna("(none)").astype(str))
    counts = hist.groupby(["customer_id", "channel"]).size().unstack(fill_value=0).reindex(customers, fill_value=0)
    rows = []
    caps = {}
    if policy is not None:
        for _, c in policy.caps.iterrows():
            if c["kind"] == "sliding":
                lim = c["max_weight"] * window_days / sliding_days(c["window"])
            else:
                lim = c["max_weight"] * window_days / (7 if c["window"] == "week" else 30.44)
            caps[c["scope"]] = min(caps.get(c["scope"], np.inf), lim)
    chans = sorted(set(counts.columns) | (set(policy.channels["channel"]) if policy is not None else set()))
    counts = counts.reindex(columns=chans, fill_value=0)
    counts["all"] = counts.sum(axis=1)
    for seg, idx in labels.groupby(labels).groups.items():
        sub = counts.loc[idx]
        for ch in list(chans) + ["all"]:
            x = sub[ch].to_numpy()
            row = {"segment": seg, "channel": ch, "customers": len(x), "contacts": int(x.sum()),
                   "mean_per_customer": float(x.mean()) if len(x) else np.nan,
                   "p90": float(np.percentile(x, 90)) if len(x) else np.nan,
                   "share_contacted": float((x > 0).mean()) if len(x) else np.nan}
            if policy is not None:
                row["share_at_cap"] = float((x >= caps[ch]).mean()) if ch in caps and len(x) else np.nan
            rows.append(row)
    out = pd.DataFrame(rows)
    if by is None:
        out = out.drop(columns="segment")
    out.attrs["window_days"] = window_days
    return out
