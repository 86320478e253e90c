"""Candidate contacts: customer × offer × channel rows with an expected incremental value.

Where the value comes from (first that applies):

1. ``value`` is a table with columns ``offer, channel[, segment], value``: the expected
   incremental value of one contact (currency), joined on offer × channel (× the customer's
   segment from ``segment=``).
2. ``uplift`` is a table ``customer_id, offer[, channel], uplift``: the incremental
   conversion probability of the contact; times the value of a conversion, which is
   ``value`` when it is a Series customer_id → value (e.g. CLV), else the offer's margin
   in :data:`DEFAULT_VALUE_TABLE`.
3. ``value`` is a Series customer_id → value of a conversion: times the default uplift of
   the offer × channel in :data:`DEFAULT_VALUE_TABLE`.
4. Nothing given: the documented fallback, ``uplift × margin`` of :data:`DEFAULT_VALUE_TABLE`
   times a customer factor = the customer's spend in the 365 days before ``as_of`` over the
   mean spend of customers who bought (clipped to 0.1–10; 0.3 for customers with no order).

The default table's numbers are illustrative, not measured: a consultant replaces them with
the campaign readouts' measured uplifts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.plan._eligibility import Eligibility, _as_day, crm_data
from crmkit.plan._eligibility import eligibility as _eligibility
from crmkit.plan._policy import ContactPolicy

__all__ = ["DEFAULT_VALUE_TABLE", "candidates", "default_value_table"]

_CHANNEL_UPLIFT = {"email": 0.010, "sms": 0.015, "push": 0.006, "phone": 0.080, "post": 0.035}
_OFFER_MARGIN = {"10% off": 9.0, "flash sale": 7.0, "£10 voucher": 8.0, "free delivery": 6.0, "double points": 5.0}
# offer × channel affinity (multiplies the channel uplift): flash sales work on fast channels, vouchers by post
_AFFINITY = {("flash sale", "sms"): 1.5, ("flash sale", "push"): 1.5, ("£10 voucher", "post"): 1.4,
             ("double points", "email"): 1.2, ("free delivery", "push"): 1.2, ("10% off", "phone"): 1.2}


def default_value_table() -> pd.DataFrame:
    """offer, channel, uplift (incremental conversions per contact), margin (currency per
    conversion), value = uplift × margin (currency per contact). Illustrative numbers."""
    rows = []
    for o, mg in _OFFER_MARGIN.items():
        for c, u in _CHANNEL_UPLIFT.items():
            up = u * _AFFINITY.get((o, c), 1.0)
            rows.append({"offer": o, "channel": c, "uplift": up, "margin": mg, "value": up * mg})
    return pd.DataFrame(rows)


DEFAULT_VALUE_TABLE = default_value_table()


def _customer_factor(data, customers: pd.Index, as_of: pd.Timestamp) -> np.ndarray:
    tx = getattr(data, "transactions", None)
    f = np.full(len(customers), 0.3)
    if tx is None or len(tx) == 0:
        return np.ones(len(customers))
    t = pd.to_datetime(tx["ordered_at"])
    sel = (t < as_of) & (t >= as_of - pd.Timedelta(days=365))
    spend = tx.loc[sel].groupby(tx.loc[sel, "customer_id"].astype(str))["amount"].sum()
    spend = spend[spend > 0]
    if len(spend):
        pos = customers.get_indexer(spend.index)
        ok = pos >= 0
        f[pos[ok]] = np.clip(spend.to_numpy()[ok] / spend.mean(), 0.1, 10.0)
    return f


def candidates(data, policy: ContactPolicy, as_of, *, value=None, uplift=None, horizon_days: int = 7,
               segment=None, eligibility: Eligibility | None = None, include_capped: bool = False) -> pd.DataFrame:
    """Candidate contacts for the plan: one row per eligible customer × offer × channel.

    Returns
    -------
    DataFrame
        customer_id, offer, channel, expected_value (expected incremental value of the contact,
        currency, before its cost), cost (the channel's cost per contact), weight (the offer's
        message weight), allowed (weight the customer may still receive on this channel over
        the horizon, already limited by the cross-channel caps), allowed_all (across channels).
        Only customer × channel pairs with valid consent, outside quiet periods and with
        ``allowed ≥ weight`` appear (``include_capped=True`` keeps capped pairs, allowed 0,
        so a what-if can loosen the caps later). ``attrs``: as_of, horizon_days.
    """
    data = crm_data(data)
    if not isinstance(policy, ContactPolicy):
        raise ParameterError(f"policy: expected a crmkit.plan.ContactPolicy, found {type(policy).__name__}.")
    as_of = _as_day(as_of)
    el = eligibility if eligibility is not None else _eligibility(data, policy, as_of, horizon_days=horizon_days)
    customers = el.allowed.index
    channels = list(el.allowed.columns)
    allowed = el.allowed.to_numpy()
    base_ok = ~el.blocked if include_capped else allowed > 0
    offers = policy.offers
    och = policy.offer_channels()
    parts = []
    ci_all, cj_all = np.nonzero(base_ok)
    for oi, o in enumerate(offers["offer"]):
        w = float(offers["weight"].iloc[oi])
        for j, ch in enumerate(channels):
            if ch not in och[o]:
                continue
            sel = cj_all == j
            ci = ci_all[sel]
            if not include_capped:
                ci = ci[allowed[ci, j] >= w]
            parts.append(pd.DataFrame({"ci": ci, "offer": o, "channel": ch, "weight": w}))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"ci": [], "offer": [], "channel": [], "weight": []})
    frame["ci"] = frame["ci"].astype(np.int64)
    frame["customer_id"] = customers.to_numpy()[frame["ci"].to_numpy()]
    jj = pd.Index(channels).get_indexer(frame["channel"])
    frame["allowed"] = allowed[frame["ci"].to_numpy(), jj]
    frame["allowed_all"] = el.allowed_all.to_numpy()[frame["ci"].to_numpy()]
    cost = policy.channels.set_index("channel")["cost_per_contact"]
    frame["cost"] = frame["channel"].map(cost).astype(float)
    frame["expected_value"], frame["value_sd"] = _values(data, frame, customers, as_of, value, uplift, segment)
    frame = frame.sort_values(["ci", "offer", "channel"], kind="stable").reset_index(drop=True)
    out = frame[["customer_id", "offer", "channel", "expected_value", "cost", "weight", "allowed", "allowed_all", "value_sd"]]
    out.attrs.update({"as_of": as_of, "horizon_days": el.horizon_days})
    return out


def _values(data, frame, customers, as_of, value, uplift, segment) -> np.ndarray:
    table = DEFAULT_VALUE_TABLE
    if isinstance(value, pd.DataFrame):
        need = ["offer", "channel", "value"]
        miss = [c for c in need if c not in value.columns]
        if miss:
            raise ParameterError(f"value: a value table needs columns {need}; missing {miss}.")
        keys = ["offer", "channel"]
        left = frame[["offer", "channel"]].copy()
        if "segment" in value.columns:
            if segment is None:
                raise ParameterError("value: the table has a 'segment' column; pass segment= (a Series customer_id → segment).")
            seg = pd.Series(segment)
            seg.index = seg.index.astype(str)
            left["segment"] = seg.reindex(frame["customer_id"]).to_numpy()
            keys.append("segment")
        v = value[keys + ["value"]].drop_duplicates(keys)
        merged = left.merge(v, on=keys, how="left")
        if merged["value"].isna().any():
            row = merged[merged["value"].isna()].iloc[0]
            raise ParameterError(f"value: no value for {', '.join(f'{k}={row[k]!r}' for k in keys)}; the table must cover every offer × channel{' × segment' if 'segment' in keys else ''}.")
        return merged["value"].to_numpy(dtype=float), np.full(len(frame), np.nan)
    per_customer = None
    if value is not None:
        if not isinstance(value, pd.Series):
            raise ParameterError(f"value: expected a DataFrame (offer, channel[, segment], value) or a Series customer_id → value, found {type(value).__name__}.")
        s = pd.to_numeric(value, errors="coerce")
        s.index = s.index.astype(str)
        per_customer = s.reindex(frame["customer_id"]).to_numpy(dtype=float)
        if np.isnan(per_customer).any():
            i = int(np.flatnonzero(np.isnan(per_customer))[0])
            raise DataValidationError(f"value: no number for customer_id {frame['customer_id'].iloc[i]!r}; give every candidate customer a value.")
    t = table.set_index(["offer", "channel"])
    if uplift is not None:
        need = ["customer_id", "offer", "uplift"]
        if not isinstance(uplift, pd.DataFrame) or any(c not in uplift.columns for c in need):
            raise ParameterError(f"uplift: expected a DataFrame with columns {need}[, channel].")
        keys = ["customer_id", "offer"] + (["channel"] if "channel" in uplift.columns else [])
        u = uplift[keys + ["uplift"]].copy()
        u["customer_id"] = u["customer_id"].astype(str)
        merged = frame[keys].merge(u.drop_duplicates(keys), on=keys, how="left")["uplift"].fillna(0.0).to_numpy(float)
        if per_customer is None:
            margin = frame["offer"].map(table.drop_duplicates("offer").set_index("offer")["margin"])
            if margin.isna().any():
                raise ParameterError(f"uplift: offer {frame['offer'][margin.isna()].iloc[0]!r} has no default margin; pass value= (a Series customer_id → value of a conversion).")
            per_customer = margin.to_numpy(float)
        u = np.clip(merged, 0.0, 1.0)
        return merged * per_customer, per_customer * np.sqrt(u * (1 - u))
    idx = pd.MultiIndex.from_arrays([frame["offer"], frame["channel"]])
    missing = ~idx.isin(t.index)
    if missing.any():
        raise ParameterError(
            f"value: offer {frame['offer'][missing].iloc[0]!r} on {frame['channel'][missing].iloc[0]!r} is not in the default "
            "value table; pass value= (a table offer, channel, value)."
        )
    u = t["uplift"].reindex(idx).to_numpy(float)
    if per_customer is not None:
        return u * per_customer, per_customer * np.sqrt(u * (1 - u))
    factor = _customer_factor(data, customers, as_of)[frame["ci"].to_numpy()]
    margin = t["margin"].reindex(idx).to_numpy(float) * factor
    return u * margin, margin * np.sqrt(u * (1 - u))
