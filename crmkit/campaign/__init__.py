"""Campaign design and evaluation: power and holdouts, readouts with intervals, uplift models with Qini.

"Did the campaign work, for whom, and what did it earn?" — answered the way a careful
statistician would, in words a marketing director reads::

    import crmkit.campaign as cp
    cp.list_campaigns(store)                         # one row per campaign
    members = cp.campaign_members(store, "CMP05", segments="rfm")
    r = cp.readout(members, revenue_col="revenue", cost_per_contact=0.02, segment_col="segment")
    r.sentence                                       # the answer in one sentence
    r.to_frame(); r.checks; r.segments; r.plot()
    cp.readout_from_counts(counts)                   # when only per-arm counts exist

    cp.sample_size(0.05, 0.01)                       # members needed per arm
    cp.minimum_detectable_effect(8000, 2000, 0.05)
    cp.holdout_share(100_000, 0.05, 0.005, budget=2_000, cost_per_contact=0.02)
    cp.assign(customers, {"treatment": 0.85, "control": 0.15}, stratify="segment")

    X, t, y, members = cp.uplift_dataset(store, "CMP05")
    model = cp.UpliftModel("x_learner").fit(X, t, y)
    cp.qini(y, t, model.predict(X)["treatment_a"], treated="treatment_a").coefficient

Statistics: Wilson intervals for rates, Newcombe hybrid score intervals for
differences (statsmodels' ``confint_proportions_2indep(method="newcomb")``), pooled
z-tests with Holm's adjustment across arms (and across segment × arm tests), percentile
bootstrap intervals for revenue (heavy-tailed) with Welch's test, chi-square
sample-ratio and standardised-mean-difference balance checks (flagged at Welch p < 0.01, or
|SMD| > 0.1 with the SMD's 95 % interval excluding 0, so small groups are not flagged for chance gaps).
Signs are written with the typographic minus (−) in sentences and summaries. Results carry only
customer ids and aggregates, never personal data.
"""

from __future__ import annotations

from crmkit.campaign._data import (
    PRE_PERIOD_COLUMNS,
    campaign_info,
    campaign_members,
    list_campaigns,
)
from crmkit.campaign._design import (
    Assignment,
    HoldoutPlan,
    SampleSize,
    assign,
    holdout_share,
    minimum_detectable_effect,
    sample_size,
    sample_size_revenue,
)
from crmkit.campaign._qini import NORMALISATION, QiniResult, qini, qini_curve
from crmkit.campaign._readout import (
    BALANCE_ALPHA,
    BALANCE_RULE,
    SMD_LIMIT,
    SRM_ALPHA,
    Readout,
    arm_label,
    readout,
    readout_from_counts,
)
from crmkit.campaign._uplift import (
    MIN_UPLIFT_MEMBERS,
    UPLIFT_FEATURES,
    UpliftModel,
    uplift_dataset,
)

__all__ = [
    # data
    "list_campaigns",
    "campaign_members",
    "campaign_info",
    "PRE_PERIOD_COLUMNS",
    # design
    "sample_size",
    "sample_size_revenue",
    "SampleSize",
    "minimum_detectable_effect",
    "holdout_share",
    "HoldoutPlan",
    "assign",
    "Assignment",
    # readout
    "readout",
    "readout_from_counts",
    "Readout",
    "arm_label",
    "SRM_ALPHA",
    "SMD_LIMIT",
    "BALANCE_ALPHA",
    "BALANCE_RULE",
    # uplift
    "UpliftModel",
    "uplift_dataset",
    "UPLIFT_FEATURES",
    "MIN_UPLIFT_MEMBERS",
    "qini",
    "qini_curve",
    "QiniResult",
    "NORMALISATION",
]
