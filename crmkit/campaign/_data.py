"""Reading campaigns and their members, with pre-period covariates, from the CRM data.

Works on a :class:`~crmkit.schema.CRMData`, a :class:`crmkit.io.Connection` (tables stay
on their engine; only one campaign's members and the customer-level features are
collected), a mapping of table name to frame, or a source path / URL (a ``.duckdb``
store or engine URL is opened read-only with :func:`crmkit.io.connect`; a folder or
workbook is read with :func:`crmkit.io.load`).
"""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.io import opened

__all__ = ["list_campaigns", "campaign_members", "campaign_info", "PRE_PERIOD_COLUMNS"]

_CAMPAIGN_COLS = ["campaign_id", "name", "channel", "offer", "start", "end", "cost_per_contact"]

#: The pre-period covariates :func:`campaign_members` adds (all from data before the start day).
PRE_PERIOD_COLUMNS = (
    "pre_orders",
    "pre_revenue",
    "pre_orders_total",
    "pre_revenue_total",
    "pre_avg_order_value",
    "pre_recency_days",
    "tenure_days",
    "pre_contacts_outbound",
    "pre_contacts_30d",
)


def _campaigns_frame(data) -> pd.DataFrame:
    from crmkit._ibis import table_of

    table = table_of(data, "campaigns", ["campaign_id"], optional=_CAMPAIGN_COLS[1:])
    if table is None:
        raise DataValidationError("campaigns: the CRM data has no campaigns table; campaign readouts need it.")
    frame = table.to_pyarrow().to_pandas()
    for col in _CAMPAIGN_COLS:
        if col not in frame:
            frame[col] = np.nan
    frame["campaign_id"] = frame["campaign_id"].astype(str)
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col])
    frame["cost_per_contact"] = pd.to_numeric(frame["cost_per_contact"], errors="coerce").astype(float)
    return frame[_CAMPAIGN_COLS].sort_values("campaign_id").reset_index(drop=True)


def _members_table(data):
    from crmkit._ibis import table_of

    table = table_of(
        data, "campaign_members", ["campaign_id", "customer_id", "group"], optional=["contacted_at", "converted", "revenue"]
    )
    if table is None:
        raise DataValidationError("campaign_members: the CRM data has no campaign_members table; campaign readouts need it.")
    return table


def _arm_order(groups) -> list[str]:
    """Treatment arms in name order, then the control group(s) last."""
    groups = sorted(str(g) for g in groups)
    return [g for g in groups if g != "control"] + [g for g in groups if g == "control"]


def list_campaigns(data=None) -> pd.DataFrame:
    """One row per campaign: what it was and who was in it.

    Parameters
    ----------
    data : CRMData, crmkit.io.Connection, mapping, source path or URL, optional
        The CRM data; ``None`` is the default source (the embedded store).

    Returns
    -------
    pandas.DataFrame
        ``campaign_id, name, channel, offer, start, end, cost_per_contact`` (money per
        contact, in the data's currency), ``n_members`` (rows in campaign_members),
        ``n_control`` (members in the group named ``"control"``) and ``arms`` (the groups,
        comma-separated: treatment arms in name order, then ``control``).
    """
    with opened(data) as d:
        campaigns = _campaigns_frame(d)
        members = _members_table(d)
        counts = (
            members.group_by(["campaign_id", "group"]).aggregate(n=members.count()).to_pyarrow().to_pandas()
        )
    counts["campaign_id"] = counts["campaign_id"].astype(str)
    counts["group"] = counts["group"].astype(str)
    n_members = counts.groupby("campaign_id")["n"].sum()
    n_control = counts[counts["group"] == "control"].groupby("campaign_id")["n"].sum()
    arms = counts.groupby("campaign_id")["group"].agg(lambda g: ", ".join(_arm_order(g)))
    out = campaigns.copy()
    out["n_members"] = out["campaign_id"].map(n_members).fillna(0).astype("int64")
    out["n_control"] = out["campaign_id"].map(n_control).fillna(0).astype("int64")
    out["arms"] = out["campaign_id"].map(arms).fillna("").astype(str)
    return out


def campaign_info(data, campaign_id) -> pd.Series:
    """The campaigns-table row of one campaign; unknown id → :class:`ParameterError` listing the known ids."""
    with opened(data) as d:
        campaigns = _campaigns_frame(d)
    return _pick(campaigns, campaign_id)


def _pick(campaigns: pd.DataFrame, campaign_id) -> pd.Series:
    hit = campaigns[campaigns["campaign_id"] == str(campaign_id)]
    if hit.empty:
        known = ", ".join(campaigns["campaign_id"]) or "none"
        raise ParameterError(f"campaign_id: no campaign {campaign_id!r} in the campaigns table; known ids: {known}.")
    return hit.iloc[0]


def _contacts_before(data, start: pd.Timestamp, days: int) -> pd.Series:
    """Outbound contacts per customer in the ``days`` days before ``start`` (0 without an interactions table)."""
    from crmkit._ibis import table_of, timestamp_literal

    table = table_of(data, "interactions", ["customer_id", "at"], optional=["direction"])
    if table is None:
        return pd.Series(dtype=float)
    cond = (table.at >= timestamp_literal(start - pd.Timedelta(days=days))) & (table.at < timestamp_literal(start))
    if "direction" in table.columns:
        cond = cond & (table.direction == "outbound")
    recent = table.filter(cond)
    counts = recent.group_by("customer_id").aggregate(n=recent.count()).to_pyarrow().to_pandas()
    return counts.set_index(counts["customer_id"].astype(str))["n"].astype(float)


def _segments_for(data, store, segments, features: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """customer_id → segment label, from a Series, ``"rfm"`` or a saved segmentation's name."""
    if isinstance(segments, pd.Series):
        out = segments.copy()
        out.index = out.index.astype(str)
        return out.astype("string")
    if isinstance(segments, dict):
        return pd.Series(segments, dtype="string").rename(index=str)
    if not isinstance(segments, str):
        raise ParameterError(
            "segments: expected a Series customer_id -> segment, 'rfm', or the name of a saved segmentation, "
            f"found {type(segments).__name__}."
        )
    import crmkit.segment as seg

    if segments == "rfm":
        if features.empty:
            return pd.Series(dtype="string")
        result = seg.segment_customers(features, method="rfm", as_of=as_of)
        return result.assignments["segment"].astype("string")
    # A saved segmentation: its model assigns the members from their features at the start.
    saved = seg.load_segmentation(store, name=None if segments in ("", "segments") else segments)
    feats = seg.segmentation_features(data, as_of)
    labels = saved.predict(feats)
    labels = pd.Series(np.asarray(labels), index=feats.index.astype(str))
    names = saved.assignments.drop_duplicates("segment_id").set_index("segment_id")["segment"]
    if pd.api.types.is_integer_dtype(labels):
        labels = labels.map(names)
    return labels.astype("string")


def campaign_members(data, campaign_id, *, segments=None, pre_period_days: int = 365) -> pd.DataFrame:
    """One row per member of a campaign, with what happened and who they were before it.

    Parameters
    ----------
    data : CRMData, crmkit.io.Connection, mapping, source path or URL
        The CRM data (``None``: the default source).
    campaign_id : str
        A campaign of the campaigns table.
    segments : pandas.Series, str, optional
        Adds a ``segment`` column: a Series ``customer_id -> label``; ``"rfm"`` for the
        RFM grid's segments computed from the data before the campaign start; or the
        name of a segmentation saved in the store (``"segments"`` for the default one;
        the store ``data`` names, or the default store when ``data`` is not a path),
        whose fitted model assigns the members from their features before the start.
        Members without a label get ``"(no segment)"``.
    pre_period_days : int, default 365
        Length of the pre-period window for ``pre_orders``, ``pre_revenue`` and
        ``pre_contacts_outbound``.

    Returns
    -------
    pandas.DataFrame
        One row per member (campaign_members order): ``customer_id``, ``group``,
        ``converted`` (bool; missing stays missing — the readout sets such rows aside),
        ``revenue`` (float, 0 when none was recorded), ``contacted_at``, then the
        pre-period covariates, computed ONLY from data dated before the campaign's
        start day (features at ``as_of`` = the day before the start):
        ``pre_orders`` / ``pre_revenue`` (orders and revenue in the ``pre_period_days``
        before), ``pre_orders_total`` / ``pre_revenue_total`` (all history),
        ``pre_avg_order_value`` (NaN without orders), ``pre_recency_days`` (days since the
        last order; NaN without one), ``tenure_days``, ``pre_contacts_outbound``
        (outbound contacts in the window) and ``pre_contacts_30d`` (outbound contacts in
        the 30 days before the start: contact fatigue); ``region``,
        ``acquisition_channel`` when known; ``segment`` when ``segments`` is given.
        ``attrs``: ``campaign`` (the campaigns row as a dict) and ``as_of``.

    Raises
    ------
    ParameterError
        Unknown ``campaign_id`` (the message lists the known ids) or bad ``pre_period_days``.
    """
    from crmkit.features import customer_features

    if not isinstance(pre_period_days, (int, np.integer)) or pre_period_days < 1:
        raise ParameterError(f"pre_period_days: expected a whole number of days >= 1, found {pre_period_days!r}.")
    with opened(data) as d:
        info = _pick(_campaigns_frame(d), campaign_id)
        table = _members_table(d)
        members = table.filter(table.campaign_id == ibis.literal(str(info["campaign_id"]))).to_pyarrow().to_pandas()
        start = pd.Timestamp(info["start"]) if pd.notna(info["start"]) else None
        if start is None:
            first = pd.to_datetime(members.get("contacted_at")).min() if "contacted_at" in members else pd.NaT
            if pd.isna(first):
                raise DataValidationError(
                    f"campaigns.start: campaign {info['campaign_id']!r} has no start date and its members no contact "
                    "time; the pre-period cannot be placed."
                )
            start = pd.Timestamp(first)
        start = start.normalize()
        as_of = start - pd.Timedelta(days=1)
        try:
            features = customer_features(d, as_of, window_days=int(pre_period_days))
        except DataValidationError:
            raise
        recent = _contacts_before(d, start, 30)
        store = data if isinstance(data, (str, Path)) and str(data) != "" else None
        seg_labels = _segments_for(d, store, segments, features, as_of) if segments is not None else None

    out = pd.DataFrame(
        {
            "customer_id": members["customer_id"].astype(str).to_numpy(),
            "group": members["group"].astype("string").to_numpy(dtype=object),
        }
    )
    conv = members["converted"] if "converted" in members else pd.Series(pd.NA, index=members.index)
    out["converted"] = pd.array(conv, dtype="boolean")
    if out["converted"].notna().all():
        out["converted"] = out["converted"].astype(bool)
    rev = pd.to_numeric(members["revenue"], errors="coerce") if "revenue" in members else pd.Series(0.0, index=members.index)
    out["revenue"] = rev.fillna(0.0).astype(float).to_numpy()
    out["contacted_at"] = pd.to_datetime(members["contacted_at"]).to_numpy() if "contacted_at" in members else pd.NaT

    w = int(pre_period_days)
    f = features.reindex(out["customer_id"])
    pick = {
        "pre_orders": (f"orders_{w}d", 0.0),
        "pre_revenue": (f"revenue_{w}d", 0.0),
        "pre_orders_total": ("orders", 0.0),
        "pre_revenue_total": ("revenue", 0.0),
        "pre_avg_order_value": ("avg_order_value", None),
        "pre_recency_days": ("days_since_last_order", None),
        "tenure_days": ("tenure_days", None),
        "pre_contacts_outbound": (f"contacts_outbound_{w}d", 0.0),
    }
    known = f.index.isin(features.index)
    for name, (col, fill) in pick.items():
        values = f[col].to_numpy(dtype=float) if col in f else np.full(len(f), np.nan)
        if fill is not None:
            values = np.where(known & np.isnan(values), fill, values)
        out[name] = values
    out["pre_contacts_30d"] = out["customer_id"].map(recent).fillna(0.0).astype(float).to_numpy()
    for col in ("region", "acquisition_channel"):
        if col in f:
            out[col] = f[col].astype("string").to_numpy()
    if seg_labels is not None:
        out["segment"] = out["customer_id"].map(seg_labels).astype("string").fillna("(no segment)")
    out.attrs["campaign"] = {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in info.to_dict().items()}
    out.attrs["as_of"] = as_of.isoformat()
    return out
