"""Customer segmentation: the RFM grid, behavioural clustering, profiles and names, migration.

Segment the customers at a date in one call, read the result, and reuse it::

    seg = crmkit.segment.segment_customers(data, as_of="2025-06-30", method="kmeans", k="auto")
    seg.summary()            # one row per segment: customers, value share, description
    seg.plot()               # sizes and value shares (plotly)
    seg.plot_profile()       # how each segment differs from the average customer
    seg.rename({1: "VIPs"})  # override a suggested name
    move = crmkit.segment.segment_migration(seg, data, from_date="2024-06-30")
    move.plot("sankey")
    crmkit.segment.save_segmentation(seg, store)   # table `segments` + the fitted model

Methods:

- ``"rfm"``: recency, frequency and monetary quintile scores (1-5) and the 11 RFM
  segments of a published rule table (:data:`RFM_RULES`, :func:`rfm_grid`);
- ``"kmeans"`` / ``"gmm"``: k-means or a Gaussian mixture on log-scaled, standardised
  customer features (:data:`FEATURE_SETS`), with k chosen by silhouette / BIC and the
  stability of the result measured on bootstrap refits.

Features come from :func:`crmkit.features.customer_features` (computed where the data
lives, using only data up to the as-of date). Customers without an order are set aside
as ``"No orders yet"`` (segment id 0): they carry no behaviour to segment on. Results
carry only customer ids, never personal data.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> orders = np.r_[rng.poisson(12, 60) + 1, rng.poisson(1, 140) + 1, np.zeros(5)]
>>> features = pd.DataFrame({
...     "orders": orders,
...     "revenue": orders * np.r_[rng.gamma(20, 5, 60), rng.gamma(20, 2, 140), np.zeros(5)],
...     "days_since_last_order": np.where(orders > 0, np.r_[rng.integers(1, 40, 60), rng.integers(100, 700, 145)], np.nan),
... }, index=pd.Index([f"C{i:03d}" for i in range(205)], name="customer_id"))
>>> seg = segment_customers(features, method="kmeans", k=2, features="rfm", n_bootstrap=5)
>>> seg.summary()[["segment", "customers"]]  # doctest: +NORMALIZE_WHITESPACE
                                             segment  customers
0  Recently active top-value very frequent customers         60
1           Lapsing lower-value infrequent customers        140
2                                      No orders yet          5
"""

from __future__ import annotations

from crmkit.segment._cluster import METHODS, ClusterSegmentation, KSelection, Stability, choose_k
from crmkit.segment._features import FEATURE_SETS, feature_label, tables_needed
from crmkit.segment._migration import LAPSED, NEW, RETURNED, Migration, segment_migration
from crmkit.segment._profile import ACTION_RULES, SegmentProfile, profile_segments, recommended_actions
from crmkit.segment._rfm import NO_ORDERS, RFM_RULES, RFMSegmentation, quintile_scores, rfm_grid
from crmkit.segment._segmentation import Segmentation, as_of_date, segment_customers, segmentation_features
from crmkit.segment._store import SavedSegmentation, load_segmentation, save_segmentation

__all__ = [
    # one call
    "segment_customers",
    "Segmentation",
    "segmentation_features",
    "as_of_date",
    "tables_needed",
    "FEATURE_SETS",
    "feature_label",
    # RFM
    "RFM_RULES",
    "RFMSegmentation",
    "quintile_scores",
    "rfm_grid",
    "NO_ORDERS",
    # clustering
    "ClusterSegmentation",
    "METHODS",
    "choose_k",
    "KSelection",
    "Stability",
    # profiles and actions
    "profile_segments",
    "SegmentProfile",
    "recommended_actions",
    "ACTION_RULES",
    # migration
    "segment_migration",
    "Migration",
    "NEW",
    "RETURNED",
    "LAPSED",
    # store
    "save_segmentation",
    "load_segmentation",
    "SavedSegmentation",
]
