"""The one-call segmentation: features at an as-of date → fitted segments → a result object."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.segment._cluster import METHODS, ClusterSegmentation, KSelection, Stability
from crmkit.segment._features import check_features, with_repeat_rate
from crmkit.segment._profile import SegmentProfile, profile_segments, recommended_actions
from crmkit.segment._rfm import NO_ORDERS, RFMSegmentation, rfm_grid

__all__ = ["Segmentation", "segment_customers", "segmentation_features", "as_of_date"]

ALL_METHODS = {"rfm": "RFM grid", **METHODS}


def as_of_date(data, as_of=None) -> pd.Timestamp:
    """The as-of day: ``as_of`` as a date, or the day of the last order in ``data``."""
    if as_of not in (None, ""):
        try:
            ts = pd.Timestamp(as_of)
        except (TypeError, ValueError):
            raise ParameterError(f"as_of: expected a date such as '2025-06-30', found {as_of!r}.") from None
        if ts is pd.NaT:
            raise ParameterError(f"as_of: expected a date such as '2025-06-30', found {as_of!r}.")
        if ts.tz is not None:
            raise ParameterError(f"as_of: expected a timezone-naive date (crmkit keeps times as naive UTC), found {as_of!r}.")
        return ts.normalize()
    from crmkit._ibis import table_of

    if data is None:
        raise ParameterError("as_of: give a date; without the CRM data there is no last order to default to.")
    tx = table_of(data, "transactions", ["ordered_at"])
    if tx is None:
        raise DataValidationError("transactions: segmentation needs the transactions table (with ordered_at); it is missing.")
    last = tx.ordered_at.max().to_pyarrow().as_py()
    if last is None:
        raise DataValidationError("transactions: segmentation needs at least one dated order; the table has none.")
    return pd.Timestamp(last).normalize()


def segmentation_features(data, as_of=None, *, window_days: int = 90) -> pd.DataFrame:
    """Customer features at ``as_of`` for segmentation: :func:`crmkit.features.customer_features`
    plus ``repeat_rate`` (repeat orders per 30 days since the first order).

    Only data dated on or before ``as_of`` is used (default: the day of the last order).
    """
    from crmkit.features import customer_features

    day = as_of_date(data, as_of)
    features = customer_features(data, day, window_days=window_days)
    return with_repeat_rate(features)


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A fitted segmentation of the customers at one date, with its profiles and checks.

    Attributes
    ----------
    method : str
        ``"rfm"``, ``"kmeans"`` or ``"gmm"``.
    as_of : pandas.Timestamp or None
        The date the features were computed at (data after it unused).
    model : RFMSegmentation or ClusterSegmentation
        The fitted model: ``model.predict(features)`` assigns any customers, new ones too.
    assignments : pandas.DataFrame
        One row per customer (index customer_id): ``segment_id`` (0 = no orders yet),
        ``segment`` (name) and, for RFM, the ``R``, ``F``, ``M``, ``FM`` scores.
    profile : SegmentProfile
        Sizes, value shares, feature means and effects of the segments (customers
        with orders).
    customer_features : pandas.DataFrame
        The features the segmentation was fitted on (ids and behaviour; no personal data).
    features : tuple of str
        The features that define the segments.
    k_selection : KSelection or None
        The comparison of numbers of segments (clustering with ``k="auto"``).
    stability : Stability or None
        Bootstrap stability (clustering).
    currency : str
    """

    method: str
    as_of: pd.Timestamp | None
    model: object
    assignments: pd.DataFrame
    profile: SegmentProfile
    customer_features: pd.DataFrame
    features: tuple[str, ...]
    k_selection: KSelection | None = None
    stability: Stability | None = None
    currency: str = "£"

    # ------------------------------------------------------------------ basics
    @property
    def n_customers(self) -> int:
        return len(self.assignments)

    @property
    def n_segmented(self) -> int:
        return int((self.assignments["segment_id"] != 0).sum())

    @property
    def segment_names(self) -> list[str]:
        """The segments' names in segment order (without "No orders yet")."""
        return self.profile.segments["segment"].tolist()

    def rows_line(self) -> str:
        """Customers in = customers segmented + customers set aside, in one sentence."""
        aside = self.n_customers - self.n_segmented
        return (
            f"{self.n_customers:,} customers: {self.n_segmented:,} segmented, {aside:,} set aside as "
            f"'{NO_ORDERS}' (no order on or before {self._date_text()})."
        )

    def _date_text(self) -> str:
        return f"{self.as_of:%d %b %Y}" if self.as_of is not None else "the as-of date"

    def summary(self) -> pd.DataFrame:
        """One row per segment (then "No orders yet"): customers, shares, revenue per customer, description."""
        seg = self.profile.segments
        n_all = self.n_customers
        out = pd.DataFrame(
            {
                "segment_id": seg["segment_id"],
                "segment": seg["segment"],
                "customers": seg["customers"],
                "share": seg["customers"] / n_all,
                "value_share": seg["value_share"],
                "value_share_se": seg["value_share_se"],
                "revenue_per_customer": seg["revenue_per_customer"],
                "description": seg["description"],
            }
        )
        if self.method == "rfm":
            desc = self.model.rules_.drop_duplicates("segment").set_index("segment")["description"]
            out["description"] = out["segment"].map(desc).fillna(out["description"])
        if self.method != "rfm" and self.stability is not None:
            out["stability"] = out["segment_id"].map(self.stability.jaccard["jaccard"])
        aside = n_all - self.n_segmented
        if aside:
            none = {c: np.nan for c in out.columns}
            none.update({"segment_id": 0, "segment": NO_ORDERS, "customers": aside, "share": aside / n_all,
                         "value_share": 0.0, "value_share_se": 0.0, "revenue_per_customer": 0.0,
                         "description": f"No order on or before {self._date_text()}; not segmented."})
            out = pd.concat([out, pd.DataFrame([none])], ignore_index=True)
        return out.reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """One row per customer: segment id and name (and RFM scores); ids only, no personal data."""
        return self.assignments.copy()

    def customer_ids(self, segment) -> pd.Index:
        """The ids of the customers in ``segment`` (its name or id)."""
        a = self.assignments
        if isinstance(segment, (int, np.integer)) and not isinstance(segment, bool):
            hit = a["segment_id"] == segment
        else:
            hit = a["segment"] == segment
        if not hit.any() and segment not in set(a["segment"]) | set(a["segment_id"]):
            raise ParameterError(f"segment: expected one of {self.segment_names + [NO_ORDERS]}, found {segment!r}.")
        return a.index[hit.to_numpy()]

    def predict(self, features) -> pd.Series:
        """Assign customers (new ones, or the same ones at another date) to these segments.

        ``features`` as from :func:`segmentation_features`; returns segment names.
        """
        return self.model.predict(features)

    # ------------------------------------------------------------------ words
    def describe(self) -> str:
        """An executive summary in a few sentences (markdown)."""
        s = self.summary()
        seg = s[s["segment_id"] != 0].sort_values("value_share", ascending=False)
        lines = []
        method = ALL_METHODS.get(self.method, self.method)
        lines.append(
            f"On {self._date_text()}, {self.n_segmented:,} of {self.n_customers:,} customers have ordered and fall into "
            f"**{len(seg)} segments** ({method})."
        )
        if len(seg):
            top = seg.iloc[0]
            lines.append(
                f"The most valuable segment, **{top['segment']}**, holds {top['share']:.0%} of customers and brings "
                f"{top['value_share']:.0%} of revenue."
            )
            if len(seg) > 1:
                low = seg.iloc[-1]
                lines.append(
                    f"At the other end, **{low['segment']}** holds {low['share']:.0%} of customers and "
                    f"{low['value_share']:.0%} of revenue."
                )
            cum = seg["value_share"].cumsum()
            n_top = int((cum < 0.8).sum()) + 1
            share_top = float(seg["share"].iloc[:n_top].sum())
            lines.append(
                f"{n_top} segment{'s' if n_top > 1 else ''} with {share_top:.0%} of customers bring "
                f"{float(cum.iloc[n_top - 1]):.0%} of revenue."
            )
        if self.stability is not None:
            lo, hi = self.stability.ari_interval
            verdict = "stable" if self.stability.ari_mean >= 0.75 else "moderately stable" if self.stability.ari_mean >= 0.5 else "not stable"
            lines.append(
                f"The segments are {verdict}: refits on resampled customers agree at an adjusted Rand index of "
                f"{self.stability.ari_mean:.2f} (95% of refits between {lo:.2f} and {hi:.2f})."
            )
        aside = self.n_customers - self.n_segmented
        if aside:
            lines.append(f"{aside:,} customers have not ordered yet and are kept apart as '{NO_ORDERS}'.")
        return " ".join(lines)

    def named_segments(self) -> pd.DataFrame:
        """Segment names with their three distinguishing features in plain words."""
        s = self.summary()
        s = s[s["segment_id"] != 0]
        return s[["segment", "customers", "share", "value_share", "value_share_se", "description"]].reset_index(drop=True)

    # ------------------------------------------------------------------ changes
    def rename(self, names) -> "Segmentation":
        """A copy with segment names replaced: ``{old name or id: new name}`` or a list in segment order."""
        seg = self.profile.segments
        if isinstance(names, dict):
            mapping = {}
            for key, value in names.items():
                hit = seg[(seg["segment_id"] == key) | (seg["segment"] == key)]
                if hit.empty:
                    raise ParameterError(f"names: expected segment names or ids among {seg['segment'].tolist()}, found {key!r}.")
                mapping[int(hit["segment_id"].iloc[0])] = str(value)
        else:
            names = list(names)
            if len(names) != len(seg):
                raise ParameterError(f"names: expected {len(seg)} names (one per segment), found {len(names)}.")
            mapping = {int(i): str(n) for i, n in zip(seg["segment_id"], names)}
        new_names = dict(zip(seg["segment_id"].astype(int), seg["segment"]))
        new_names.update(mapping)
        if len(set(new_names.values())) < len(new_names) or NO_ORDERS in new_names.values():
            raise ParameterError(f"names: segment names must be distinct and not {NO_ORDERS!r}.")
        profile = self.profile.with_names(new_names)
        a = self.assignments.copy()
        a["segment"] = a["segment_id"].map({0: NO_ORDERS, **new_names}).astype("string")
        model = copy.copy(self.model)
        if self.method == "rfm":
            rules = model.rules_.copy()
            old = dict(zip(seg["segment_id"].astype(int), seg["segment"]))
            rules["segment"] = rules["segment"].map({old[i]: new_names[i] for i in old}).fillna(rules["segment"])
            model.rules = rules
            model.rules_ = rules
            from crmkit.segment._rfm import _cell_segments

            model._cells = _cell_segments(rules)
            model.segment_names_ = model.segment_names_.map(lambda n: {old[i]: new_names[i] for i in old}.get(n, n))
            model.scores_ = model.scores_.assign(segment=a["segment"])
        else:
            model.segment_names_ = pd.Series({0: NO_ORDERS, **new_names}, name="segment").rename_axis("segment_id")
        return replace(self, assignments=a, profile=profile, model=model)

    def actions(self, rules: pd.DataFrame | None = None) -> pd.DataFrame:
        """A recommended action per segment, from an editable rule table.

        RFM segments take the action of their rule (:data:`RFM_RULES`' ``action``
        column); clusters are matched on their value, frequency and recency effects by
        :data:`crmkit.segment.ACTION_RULES` (or ``rules``).
        """
        if self.method == "rfm" and rules is None and "action" in self.model.rules_.columns:
            out = self.summary()
            out = out[out["segment_id"] != 0]
            how = self.model.rules_.drop_duplicates("segment").set_index("segment")["action"]
            return pd.DataFrame(
                {
                    "segment": out["segment"].to_numpy(),
                    "customers": out["customers"].to_numpy(),
                    "value_share": out["value_share"].to_numpy(),
                    "action": [how.get(s, "") for s in out["segment"]],
                }
            )
        return recommended_actions(self.profile, rules)

    # ------------------------------------------------------------------ plots
    def plot(self):
        """Share of customers and of revenue per segment (plotly Figure)."""
        from crmkit.segment._plots import sizes_figure

        s = self.summary()
        return sizes_figure(s[s["segment_id"] != 0], title=f"Segment sizes and value shares ({self._date_text()})")

    def plot_profile(self):
        """Heatmap: how each segment differs from the average customer (plotly Figure)."""
        return self.profile.plot()

    def plot_segment(self, segment):
        """One segment against the average customer, feature by feature (plotly Figure)."""
        return self.profile.plot_segment(segment)

    def plot_k(self):
        """The k-selection curve (plotly Figure); only for clustering with ``k="auto"``."""
        if self.k_selection is None:
            raise ParameterError("plot_k: this segmentation did not choose k (method 'rfm' or a fixed k).")
        return self.k_selection.plot()

    def plot_stability(self):
        if self.stability is None:
            raise ParameterError("plot_stability: this segmentation has no bootstrap stability (method 'rfm' or n_bootstrap=0).")
        from crmkit.segment._plots import stability_figure

        names = dict(zip(self.profile.segments["segment_id"], self.profile.segments["segment"]))
        return stability_figure(self.stability, names)

    def plot_rfm_grid(self):
        """The R × FM grid with each cell's segment and share of customers (RFM only)."""
        if self.method != "rfm":
            raise ParameterError("plot_rfm_grid: only an RFM segmentation has the grid.")
        from crmkit.segment._plots import rfm_grid_figure

        return rfm_grid_figure(self.assignments, rfm_grid(self.model.rules_))

    def rule_table(self) -> pd.DataFrame:
        """RFM: the rule table with the score thresholds in days, orders and currency."""
        if self.method != "rfm":
            raise ParameterError("rule_table: only an RFM segmentation has a rule table.")
        return self.model.rule_table()

    def rfm_thresholds(self) -> pd.DataFrame:
        """RFM: what each score 2-5 takes, in days, orders and currency (score 1 is everything below)."""
        if self.method != "rfm":
            raise ParameterError("rfm_thresholds: only an RFM segmentation has score thresholds.")
        th = self.model.thresholds_
        money = f"revenue ({self.currency})" if self.currency else "revenue"
        labels = ["R: days since the last order, at most", "F: orders, at least", f"M: {money}, at least"]
        out = pd.DataFrame(th.to_numpy(), index=pd.Index(labels, name="score"), columns=[f"{s}" for s in th.columns])
        return out

    def __repr__(self) -> str:
        return (
            f"Segmentation(method={self.method!r}, as_of={self._date_text()!r}, segments={len(self.profile.segments)}, "
            f"customers={self.n_customers:,})"
        )


def segment_customers(
    data,
    as_of=None,
    *,
    method: str = "kmeans",
    k="auto",
    features="behaviour",
    names=None,
    rules: pd.DataFrame | None = None,
    n_bootstrap: int = 20,
    k_range=(3, 8),
    random_state=0,
    currency: str = "£",
) -> Segmentation:
    """Segment the customers at a date: RFM grid, k-means or a Gaussian mixture.

    Parameters
    ----------
    data : CRMData, crmkit.io.Connection or pandas.DataFrame
        The CRM data (features are computed with :func:`segmentation_features` at
        ``as_of``, on the engine for a connection), or a customer-features frame
        already computed.
    as_of : date-like, optional
        Only data on or before this day is used; default the day of the last order.
    method : {"rfm", "kmeans", "gmm"}
    k : int or "auto"
        Number of segments for clustering (ignored by RFM).
    features : str or list of str
        Feature set (``"rfm"``, ``"behaviour"``, ``"full"``) or columns, for clustering.
        RFM always uses recency, frequency and monetary value.
    names : dict or list, optional
        Segment names replacing the suggested ones (clustering).
    rules : DataFrame, optional
        RFM segment rules (default :data:`RFM_RULES`).
    n_bootstrap, k_range, random_state :
        See :class:`ClusterSegmentation`.
    currency : str, default "£"

    Returns
    -------
    Segmentation

    Examples
    --------
    >>> import pandas as pd
    >>> from crmkit.schema import CRMData
    >>> data = CRMData(
    ...     customers=pd.DataFrame({"customer_id": [f"c{i}" for i in range(8)],
    ...                             "created_at": pd.to_datetime(["2024-01-01"] * 8)}),
    ...     transactions=pd.DataFrame({"order_id": [f"o{i}" for i in range(12)],
    ...                                "customer_id": ["c0"] * 4 + ["c1"] * 3 + ["c2", "c2", "c3", "c4", "c5"],
    ...                                "ordered_at": pd.date_range("2024-02-01", periods=12, freq="9D"),
    ...                                "amount": [50.0, 60, 70, 80, 20, 30, 25, 10, 12, 15, 9, 5]}))
    >>> seg = segment_customers(data, method="rfm")
    >>> seg.rows_line()
    "8 customers: 6 segmented, 2 set aside as 'No orders yet' (no order on or before 10 May 2024)."
    """
    if method not in ALL_METHODS:
        raise ParameterError(f"method: expected one of {', '.join(map(repr, ALL_METHODS))}, found {method!r}.")
    if isinstance(data, pd.DataFrame):
        feats = with_repeat_rate(check_features(data))
        day = None if as_of in (None, "") else as_of_date(None, as_of)
    else:
        day = as_of_date(data, as_of)
        feats = segmentation_features(data, day)
    if method == "rfm":
        model = RFMSegmentation(rules=rules).fit(feats)
        scores = model.scores_
        ids = scores["segment_id"]
        names_by_id = model.segment_names_.to_dict()
        assignments = pd.DataFrame({"segment_id": ids, "segment": scores["segment"].astype("string")})
        for col in ("R", "F", "M", "FM"):
            assignments[col] = scores[col]
        used = (model.recency_col, model.frequency_col, model.monetary_col)
        buyers = ids != 0
        present = sorted(set(ids[buyers]))
        profile = profile_segments(
            feats.loc[buyers], ids[buyers], names={i: names_by_id[i] for i in present}, name_from=used, currency=currency
        )
        # RFM segments keep their published names; the suggested words stay in the description
        return Segmentation(
            method="rfm", as_of=day, model=model, assignments=assignments, profile=profile,
            customer_features=feats, features=used, currency=currency,
        )
    model = ClusterSegmentation(
        method=method, k=k, features=features, k_range=k_range, n_bootstrap=n_bootstrap, names=names,
        random_state=random_state, currency=currency,
    ).fit(feats)
    ids = model.labels_
    assignments = pd.DataFrame({"segment_id": ids, "segment": ids.map(model.segment_names_).astype("string")})
    return Segmentation(
        method=method, as_of=day, model=model, assignments=assignments, profile=model.profile_,
        customer_features=feats, features=model.features_, k_selection=model.k_selection_,
        stability=model.stability_, currency=currency,
    )
