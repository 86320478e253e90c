"""Migration between segments from one date to another, with flows from "New" and to "Lapsed".

At each date the *customer base* is the customers with an order in the ``active_days``
before it (all customers with an order when ``active_days`` is ``None``). Each of them
is assigned to a segment by one fitted segmentation, applied to features computed only
from data on or before that date, so a segment means the same thing at both dates.
Customers who join the base between the dates come from "New customers" (first order
after the earlier date) or "Returning customers" (had ordered before, but not within
``active_days``); customers who leave it go to "Lapsed customers". So::

    base at the earlier date + new + returned = lapsed + base at the later date
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.errors import ParameterError
from crmkit.segment._rfm import NO_ORDERS

__all__ = ["Migration", "segment_migration", "NEW", "RETURNED", "LAPSED"]

NEW = "New customers"
RETURNED = "Returning customers"
LAPSED = "Lapsed customers"
_OUT = "(outside the base)"


@dataclass(frozen=True, eq=False)
class Migration:
    """Customers' segments at two dates and the flows between them.

    Attributes
    ----------
    from_date, to_date : pandas.Timestamp
    counts : pandas.DataFrame
        Rows: segment at ``from_date``, then "New customers" and "Returning customers";
        columns: segment at ``to_date``, then "Lapsed customers". Cells: customers.
    shares : pandas.DataFrame
        ``counts`` divided by row totals (each row sums to 1; empty rows are left out).
    shares_se : pandas.DataFrame
        Binomial standard errors of ``shares``.
    states : pandas.DataFrame
        One row per customer in the base at either date: ``from_state``, ``to_state``.
    active_days : int or None
    outside_both : int
        Customers on file at ``to_date`` but in the base at neither date.
    """

    from_date: pd.Timestamp
    to_date: pd.Timestamp
    counts: pd.DataFrame
    shares: pd.DataFrame
    shares_se: pd.DataFrame
    states: pd.DataFrame
    active_days: int | None
    outside_both: int

    @property
    def flows(self) -> dict:
        """The base at each date and the flows between: existing, new, returned, lapsed, still present."""
        c = self.counts
        segs_from = [r for r in c.index if r not in (NEW, RETURNED)]
        segs_to = [col for col in c.columns if col != LAPSED]
        return {
            "base_before": int(c.loc[segs_from].to_numpy().sum()),
            "new": int(c.loc[NEW].sum()) if NEW in c.index else 0,
            "returned": int(c.loc[RETURNED].sum()) if RETURNED in c.index else 0,
            "lapsed": int(c[LAPSED].sum()) if LAPSED in c.columns else 0,
            "still_present": int(c.loc[segs_from, segs_to].to_numpy().sum()),
            "base_after": int(c[segs_to].to_numpy().sum()),
            "same_segment": int(sum(c.loc[s, s] for s in segs_from if s in segs_to)),
        }

    def summary(self) -> pd.DataFrame:
        """One row per segment: customers at each date, net change, kept, lapsed (shares with SEs)."""
        c = self.counts
        segs = [s for s in c.index if s not in (NEW, RETURNED)]
        segs += [s for s in c.columns if s != LAPSED and s not in segs]
        rows = []
        for s in segs:
            before = int(c.loc[s].sum()) if s in c.index else 0
            after = int(c[s].sum()) if s in c.columns else 0
            kept = int(c.loc[s, s]) if s in c.index and s in c.columns else 0
            lapsed = int(c.loc[s, LAPSED]) if s in c.index and LAPSED in c.columns else 0
            row = {"segment": s, "customers_before": before, "customers_after": after, "net_change": after - before}
            for key, v in (("kept", kept), ("lapsed", lapsed)):
                p = v / before if before else float("nan")
                row[f"{key}_share"] = p
                row[f"{key}_share_se"] = math.sqrt(p * (1 - p) / before) if before else float("nan")
            rows.append(row)
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per customer in the base at either date: where they were and where they are."""
        return self.states.copy()

    def describe(self) -> str:
        f = self.flows
        joined = f["new"] + f["returned"]
        kept = f["same_segment"] / f["base_before"] if f["base_before"] else float("nan")
        window = f"an order in the {self.active_days} days before the date" if self.active_days else "at least one order"
        return (
            f"Between {self.from_date:%d %b %Y} and {self.to_date:%d %b %Y} the customer base (customers with {window}) "
            f"went from {f['base_before']:,} to {f['base_after']:,}: {f['new']:,} new and {f['returned']:,} returning "
            f"customers joined ({joined:,}), {f['lapsed']:,} lapsed. Of the customers in the base at the start, "
            f"{kept:.0%} are in the same segment at the end."
        )

    def plot(self, kind: str = "heatmap"):
        """``kind="heatmap"``: row shares with counts; ``kind="sankey"``: the flows (plotly Figure)."""
        from crmkit.segment._plots import migration_heatmap, migration_sankey

        if kind == "heatmap":
            return migration_heatmap(self)
        if kind == "sankey":
            return migration_sankey(self)
        raise ParameterError(f"kind: expected 'heatmap' or 'sankey', found {kind!r}.")


def _base_states(model, features: pd.DataFrame, active_days) -> tuple[pd.Series, pd.Series]:
    """Segment of each customer in the base (else NaN), and whether each customer had ordered."""
    ordered = features["orders"] > 0
    if active_days is None:
        in_base = ordered
    else:
        in_base = ordered & (features["days_since_last_order"] <= active_days)
    names = model.predict(features.loc[in_base]) if in_base.any() else pd.Series(dtype="string")
    state = pd.Series(pd.NA, index=features.index, dtype="string")
    state.loc[names.index] = names.astype("string")
    return state, ordered


def segment_migration(
    segmentation,
    data=None,
    from_date=None,
    to_date=None,
    *,
    active_days: int | None = 365,
    from_features: pd.DataFrame | None = None,
    to_features: pd.DataFrame | None = None,
) -> Migration:
    """How customers moved between segments from ``from_date`` to ``to_date``.

    Parameters
    ----------
    segmentation : Segmentation or a fitted model
        Its model assigns customers at both dates (``predict``).
    data : CRMData, optional
        Features are computed from it at each date (only data on or before the date).
        Not needed when both ``from_features`` and ``to_features`` are given.
    from_date, to_date : date-like
        The two dates; ``to_date`` defaults to the segmentation's as-of date.
    active_days : int or None, default 365
        A customer is in the base at a date with an order in the ``active_days`` days
        before it (``days_since_last_order <= active_days``); ``None``: any order ever.
    from_features, to_features : DataFrame, optional
        Customer features at the two dates, when already computed.

    Returns
    -------
    Migration
    """
    from crmkit.segment._segmentation import Segmentation, as_of_date, segmentation_features

    model = segmentation.model if isinstance(segmentation, Segmentation) else segmentation
    if not hasattr(model, "predict"):
        raise ParameterError(f"segmentation: expected a Segmentation or a fitted model, found {type(segmentation).__name__}.")
    if active_days is not None and (isinstance(active_days, bool) or not isinstance(active_days, (int, np.integer)) or active_days < 1):
        raise ParameterError(f"active_days: expected a whole number of days ≥ 1 or None, found {active_days!r}.")
    if to_date in (None, "") and isinstance(segmentation, Segmentation):
        to_date = segmentation.as_of
    if from_date in (None, "") or to_date in (None, ""):
        raise ParameterError("from_date and to_date: expected two dates, e.g. from_date='2024-12-31'.")
    d0, d1 = as_of_date(data, from_date), as_of_date(data, to_date)
    if d0 >= d1:
        raise ParameterError(f"from_date ({d0:%Y-%m-%d}) must be before to_date ({d1:%Y-%m-%d}).")
    if to_features is None and isinstance(segmentation, Segmentation) and segmentation.as_of == d1:
        to_features = segmentation.customer_features
    if (from_features is None or to_features is None) and data is None:
        raise ParameterError("data: expected the CRM data to compute features at the two dates.")
    f0 = from_features if from_features is not None else segmentation_features(data, d0)
    f1 = to_features if to_features is not None else segmentation_features(data, d1)

    s0, ordered0 = _base_states(model, f0, active_days)
    s1, _ = _base_states(model, f1, active_days)
    ids = f1.index.union(f0.index)
    s0 = s0.reindex(ids)
    s1 = s1.reindex(ids)
    ordered0 = ordered0.reindex(ids, fill_value=False)
    in0, in1 = s0.notna(), s1.notna()
    from_state = s0.astype("object").where(in0, np.where(ordered0, RETURNED, NEW))
    to_state = s1.astype("object").where(in1, LAPSED)
    keep = in0 | in1
    states = pd.DataFrame({"from_state": from_state[keep], "to_state": to_state[keep]})
    states.index.name = "customer_id"

    names = [str(n) for n in _segment_order(model)]
    clash = sorted(set(names) & {NEW, RETURNED, LAPSED})
    if clash:
        raise ParameterError(
            f"segment names: {', '.join(map(repr, clash))} is also the name of a flow in the migration; rename the segment."
        )
    rows = [n for n in names if n in set(states["from_state"])] + [NEW, RETURNED]
    cols = [n for n in names if n in set(states["to_state"])] + [LAPSED]
    extra_r = sorted(set(states["from_state"]) - set(rows))
    extra_c = sorted(set(states["to_state"]) - set(cols))
    rows = rows[:-2] + extra_r + rows[-2:]
    cols = cols[:-1] + extra_c + cols[-1:]
    counts = pd.crosstab(states["from_state"], states["to_state"]).reindex(index=rows, columns=cols, fill_value=0)
    if active_days is None:
        counts = counts.drop(index=RETURNED)  # nobody can return when any order keeps a customer in the base
    counts.index.name = f"segment on {d0:%Y-%m-%d}"
    counts.columns.name = f"segment on {d1:%Y-%m-%d}"
    totals = counts.sum(axis=1)
    nonempty = counts[totals > 0]
    shares = nonempty.div(nonempty.sum(axis=1), axis=0)
    n_rows = nonempty.sum(axis=1).to_numpy()[:, None]
    shares_se = pd.DataFrame(np.sqrt(shares.to_numpy() * (1 - shares.to_numpy()) / n_rows), index=shares.index, columns=shares.columns)
    outside = int((~keep & ids.isin(f1.index)).sum())
    return Migration(
        from_date=d0, to_date=d1, counts=counts.astype("int64"), shares=shares, shares_se=shares_se, states=states,
        active_days=None if active_days is None else int(active_days), outside_both=outside,
    )


def _segment_order(model) -> list:
    names = getattr(model, "segment_names_", None)
    if names is None:
        return []
    values = list(names.values) if hasattr(names, "values") else list(names)
    return [n for n in values if n != NO_ORDERS]
