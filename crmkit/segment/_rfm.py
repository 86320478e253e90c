"""RFM scoring (recency, frequency, monetary; quintile scores 1-5) and the 11 RFM segments.

Scores are quintiles of the customers who have ordered: a customer's score is the
quintile their *average rank* falls in, ``1 + floor(5 × (average rank − ½) / n)``, so
tied customers share a score and the scores do not depend on row order. Recency is
scored so that a recent order scores high (5 = ordered most recently). Frequency is the
number of orders, monetary the revenue, both up to the as-of date.

The 11 segment names come from Putler's widely copied table (R and combined F & M score
ranges): Champions, Loyal, Potential loyalists, New, Promising, Need attention, About to
sleep, At risk, Can't lose them, Hibernating, Lost. The published ranges overlap (Lost
and Hibernating cover the same scores, for instance), so crmkit uses a partition of the
5 × 5 grid of R and FM = round-half-up((F + M) / 2) in which every cell lies inside the
published range of its segment and every segment is reachable. :data:`RFM_RULES` is that
table; pass your own to :class:`RFMSegmentation` to change it.

Source: Putler, "RFM Analysis For Successful Customer Segmentation",
https://www.putler.com/rfm-analysis/ (segment names, R and F&M ranges, actionable tips);
the same names are used by the R package ``rfm`` (Hebbali, ``rfm_segment``).

XX                   1            2               3                    4                    5
FM
5        Can't lose them      At risk           Loyal            Champions            Champions
4        Can't lose them      At risk           Loyal            Champions            Champions
3                At risk      At risk  Need attention                Loyal                Loyal
2            Hibernating  Hibernating  About to sleep  Potential loyalists  Potential loyalists
1                   Lost  Hibernating  About to sleep            Promising                  New
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.segment._features import check_features

__all__ = ["RFM_RULES", "NO_ORDERS", "OTHER", "rfm_grid", "quintile_scores", "RFMSegmentation"]

#: The segment of customers without an order on or before the as-of date.
NO_ORDERS = "No orders yet"
#: The segment of customers whose scores no rule covers (only with a custom rule table).
OTHER = "Other (no rule)"

#: The RFM segment rules: evaluated top to bottom, the first rule whose R and FM ranges
#: (inclusive) hold the customer's scores names the segment. ``published_r`` and
#: ``published_fm`` are Putler's ranges, which each rule lies inside.
RFM_RULES = pd.DataFrame(
    [
        ("Champions", 4, 5, 4, 5, "4-5", "4-5", "Bought recently, buy often and spend the most.",
         "Reward them: early access, loyalty perks, ask for reviews; no blanket discounts."),
        ("Need attention", 3, 3, 3, 3, "2-3", "2-3", "Above-average recency, frequency and spend.",
         "Limited-time offers and recommendations based on past purchases."),
        ("Loyal", 3, 5, 3, 5, "2-5", "3-5", "Spend good money, often; respond to promotions.",
         "Upsell higher-value products, invite to the loyalty programme."),
        ("Can't lose them", 1, 1, 4, 5, "1", "4-5", "Bought big and often, but a long time ago.",
         "Win them back personally (phone or a handwritten note); find out what went wrong."),
        ("At risk", 1, 2, 3, 5, "1-2", "2-5", "Spent big and bought often, but not for a while.",
         "Personal win-back offer and a reminder of what is new; check service history."),
        ("New", 5, 5, 1, 1, "4-5", "1", "Bought most recently, but only once and little.",
         "Onboarding series; make the second purchase easy."),
        ("Promising", 4, 4, 1, 1, "3-4", "1", "Recent shoppers who have not spent much yet.",
         "Build the relationship: helpful content, a small incentive for the next order."),
        ("Potential loyalists", 4, 5, 1, 2, "3-5", "1-3", "Recent customers with average frequency and spend.",
         "Membership or loyalty offer; recommend related categories."),
        ("About to sleep", 3, 3, 1, 2, "2-3", "1-2", "Below-average recency, frequency and spend.",
         "Reconnect with popular products and a modest discount before they lapse."),
        ("Lost", 1, 1, 1, 1, "1-2", "1-2", "Lowest recency, frequency and spend.",
         "One low-cost reactivation attempt, then stop contacting them."),
        ("Hibernating", 1, 2, 1, 2, "1-2", "1-2", "Low spend, few orders, last order long ago.",
         "Occasional relevant offers at low cost; do not over-contact."),
    ],
    columns=["segment", "r_min", "r_max", "fm_min", "fm_max", "published_r", "published_fm", "description", "action"],
)

_DIMS = ("recency", "frequency", "monetary")


def _midrank_scores(values: np.ndarray, n_bins: int = 5) -> np.ndarray:
    """Quintile (``n_bins``-tile) of each value's average rank: ties share a score."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ranks = pd.Series(values).rank(method="average").to_numpy()
    return (1 + np.floor(n_bins * (ranks - 0.5) / n)).astype(np.int64)


def quintile_scores(values, *, higher_is_better: bool = True) -> pd.Series:
    """Quintile scores 1-5 of ``values`` by average rank (ties share a score).

    Parameters
    ----------
    values : pandas.Series
        One number per customer, no missing values.
    higher_is_better : bool, default True
        ``False`` for recency in days: the smallest number of days scores 5.

    Examples
    --------
    >>> import pandas as pd
    >>> quintile_scores(pd.Series([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])).tolist()
    [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    >>> quintile_scores(pd.Series([1, 1, 1, 1, 2, 2, 3, 4, 5, 9])).tolist()
    [2, 2, 2, 2, 3, 3, 4, 4, 5, 5]
    >>> quintile_scores(pd.Series([3, 40, 200]), higher_is_better=False).tolist()
    [5, 3, 1]
    """
    s = pd.Series(values)
    if s.isna().any():
        raise DataValidationError(f"quintile_scores: expected a number for every customer, found {int(s.isna().sum())} missing.")
    x = s.to_numpy(dtype="float64")
    return pd.Series(_midrank_scores(x if higher_is_better else -x), index=s.index, name=s.name)


def _check_rules(rules) -> pd.DataFrame:
    if not isinstance(rules, pd.DataFrame):
        raise ParameterError(f"rules: expected a DataFrame like crmkit.segment.RFM_RULES, found {type(rules).__name__}.")
    needed = ["segment", "r_min", "r_max", "fm_min", "fm_max"]
    missing = [c for c in needed if c not in rules.columns]
    if missing:
        raise ParameterError(
            f"rules: expected columns {', '.join(needed)}, missing {', '.join(missing)} "
            "(see crmkit.segment.RFM_RULES)."
        )
    out = rules.reset_index(drop=True).copy()
    for c in needed[1:]:
        vals = pd.to_numeric(out[c], errors="coerce")
        if vals.isna().any() or not vals.between(1, 5).all():
            raise ParameterError(f"rules.{c}: expected whole scores from 1 to 5, found {out[c].tolist()}.")
        out[c] = vals.astype("int64")
    bad = out[(out["r_min"] > out["r_max"]) | (out["fm_min"] > out["fm_max"])]
    if len(bad):
        raise ParameterError(f"rules: a minimum above its maximum in the rule for {bad['segment'].iloc[0]!r}.")
    if out["segment"].isna().any() or (out["segment"].astype(str).str.strip() == "").any():
        raise ParameterError("rules.segment: every rule needs a segment name.")
    if out["segment"].isin([NO_ORDERS, OTHER]).any():
        raise ParameterError(f"rules.segment: {NO_ORDERS!r} and {OTHER!r} are reserved names.")
    return out


def _cell_segments(rules: pd.DataFrame) -> dict[tuple[int, int], str]:
    cells: dict[tuple[int, int], str] = {}
    rows = list(rules[["segment", "r_min", "r_max", "fm_min", "fm_max"]].itertuples(index=False, name=None))
    for r in range(1, 6):
        for fm in range(1, 6):
            for name, r_min, r_max, fm_min, fm_max in rows:
                if r_min <= r <= r_max and fm_min <= fm <= fm_max:
                    cells[(r, fm)] = str(name)
                    break
            else:
                cells[(r, fm)] = OTHER
    return cells


def rfm_grid(rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """The segment of every (R, FM) score cell under ``rules`` (default :data:`RFM_RULES`).

    Rows are FM scores (5 at the top), columns R scores; a cell no rule covers shows
    ``"Other (no rule)"``.
    """
    cells = _cell_segments(_check_rules(RFM_RULES if rules is None else rules))
    grid = pd.DataFrame(
        [[cells[(r, fm)] for r in range(1, 6)] for fm in range(5, 0, -1)],
        index=pd.Index(range(5, 0, -1), name="FM"),
        columns=pd.Index(range(1, 6), name="R"),
    )
    return grid


class RFMSegmentation:
    """RFM scores and the RFM segment of every customer.

    ``fit`` learns, from the customers who have ordered, the score thresholds of each
    dimension (``thresholds_``: the smallest value that earns each score 2-5, in days,
    orders and currency). ``predict`` applies them to any customers, so a later date
    or new customers are scored on the same scale; for the fitted customers the scores
    are exactly their quintiles by average rank.

    Parameters
    ----------
    rules : DataFrame, optional
        Segment rules like :data:`RFM_RULES` (the default): ``segment``, ``r_min``,
        ``r_max``, ``fm_min``, ``fm_max``, first match wins.
    recency_col, frequency_col, monetary_col : str
        Columns of the customer features: default ``days_since_last_order``,
        ``orders`` and ``revenue``.

    Attributes
    ----------
    thresholds_ : pandas.DataFrame
        Per dimension (rows) the value from which score 2, 3, 4, 5 starts (columns).
        For recency it is the largest number of days that still earns the score.
    segment_names_ : pandas.Series
        Segment id → name: 0 is ``"No orders yet"``, then the segments in rule order.
    n_customers_, n_scored_ : int
        Customers fitted, and of them those with an order (scored).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"days_since_last_order": [2, 30, 90, 200, 400, None],
    ...                   "orders": [9, 4, 2, 1, 1, 0], "revenue": [900, 300, 80, 40, 20, 0]},
    ...                  index=pd.Index(list("abcdef"), name="customer_id"))
    >>> model = RFMSegmentation().fit(f)
    >>> model.scores(f)[["R", "F", "M", "FM", "segment"]]  # doctest: +NORMALIZE_WHITESPACE
                    R     F     M    FM        segment
    customer_id
    a               5     5     5     5      Champions
    b               4     4     4     4      Champions
    c               3     3     3     3 Need attention
    d               2     2     2     2    Hibernating
    e               1     2     1     2    Hibernating
    f            <NA>  <NA>  <NA>  <NA>  No orders yet
    """

    method = "rfm"

    def __init__(
        self,
        rules: pd.DataFrame | None = None,
        *,
        recency_col: str = "days_since_last_order",
        frequency_col: str = "orders",
        monetary_col: str = "revenue",
    ):
        self.rules = rules
        self.recency_col = recency_col
        self.frequency_col = frequency_col
        self.monetary_col = monetary_col

    # ------------------------------------------------------------------ helpers
    @property
    def _cols(self) -> dict[str, str]:
        return {"recency": self.recency_col, "frequency": self.frequency_col, "monetary": self.monetary_col}

    def _frame(self, features) -> pd.DataFrame:
        cols = self._cols
        frame = check_features(features, required=tuple(dict.fromkeys([self.frequency_col, *cols.values()])))
        return frame

    def _split(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
        """Customers with an order (and complete R, F, M) and those set aside."""
        cols = list(self._cols.values())
        buyers = frame[self.frequency_col] > 0
        incomplete = buyers & frame[cols].isna().any(axis=1)
        if incomplete.any():
            first = frame.index[incomplete][0]
            raise DataValidationError(
                f"customer features: expected recency, frequency and monetary values for every customer with orders, "
                f"found {int(incomplete.sum())} with a missing value (first: customer_id {first!r})."
            )
        return frame.loc[buyers, cols], frame.index[~buyers]

    @staticmethod
    def _higher_is_better(frame: pd.DataFrame, cols: dict[str, str]) -> dict[str, np.ndarray]:
        return {
            "recency": -frame[cols["recency"]].to_numpy(dtype="float64"),
            "frequency": frame[cols["frequency"]].to_numpy(dtype="float64"),
            "monetary": frame[cols["monetary"]].to_numpy(dtype="float64"),
        }

    # ------------------------------------------------------------------ fit / predict
    def fit(self, features, y=None) -> "RFMSegmentation":
        """Learn the score thresholds from ``features`` (one row per customer)."""
        self.rules_ = _check_rules(RFM_RULES if self.rules is None else self.rules)
        self._cells = _cell_segments(self.rules_)
        frame = self._frame(features)
        scored, aside = self._split(frame)
        if len(scored) < 5:
            raise DataValidationError(
                f"customer features: RFM quintiles need at least 5 customers with orders, found {len(scored)}."
            )
        values = self._higher_is_better(scored, self._cols)
        edges = {}
        for dim, u in values.items():
            s = _midrank_scores(u)
            # the smallest value that earns score ≥ level (levels 2..5); +inf if none does
            edges[dim] = [float(u[s >= level].min()) if (s >= level).any() else np.inf for level in range(2, 6)]
        self._edges = edges
        thresholds = pd.DataFrame(edges, index=pd.Index([2, 3, 4, 5], name="score")).T
        thresholds.loc["recency"] = -thresholds.loc["recency"]
        thresholds.index = pd.Index(list(self._cols.values()), name="feature")
        self.thresholds_ = thresholds
        names = list(dict.fromkeys(self.rules_["segment"].astype(str)))
        if OTHER in self._cells.values():
            names.append(OTHER)
        self.segment_names_ = pd.Series(
            [NO_ORDERS, *names], index=pd.Index(range(len(names) + 1), name="segment_id"), name="segment"
        )
        self.n_customers_ = len(frame)
        self.n_scored_ = len(scored)
        self.scores_ = self.scores(frame)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "_edges"):
            raise ParameterError("RFMSegmentation: call fit(features) before scoring or predicting.")

    def scores(self, features) -> pd.DataFrame:
        """R, F, M, FM scores and the segment of every customer in ``features``.

        Columns ``R``, ``F``, ``M``, ``FM`` (nullable integers; missing without orders),
        ``segment`` and ``segment_id`` (see :attr:`segment_names_`; 0 = no orders yet).
        """
        self._check_fitted()
        frame = self._frame(features)
        scored, aside = self._split(frame)
        values = self._higher_is_better(scored, self._cols)
        out = pd.DataFrame(index=frame.index)
        for dim, letter in zip(_DIMS, "RFM"):
            s = 1 + np.searchsorted(np.asarray(self._edges[dim]), values[dim], side="right")
            col = pd.Series(pd.NA, index=frame.index, dtype="Int64")
            col.loc[scored.index] = s.astype(np.int64)
            out[letter] = col
        fm = np.floor((out["F"].astype("Float64") + out["M"].astype("Float64")) / 2 + 0.5)
        out["FM"] = fm.astype("Int64")
        seg = pd.Series(NO_ORDERS, index=frame.index, dtype="string")
        if len(scored):
            r = out.loc[scored.index, "R"].to_numpy(dtype=np.int64)
            f = out.loc[scored.index, "FM"].to_numpy(dtype=np.int64)
            lookup = np.empty((6, 6), dtype=object)
            for (ri, fi), name in self._cells.items():
                lookup[ri, fi] = name
            seg.loc[scored.index] = lookup[r, f]
        out["segment"] = seg
        ids = {name: i for i, name in self.segment_names_.items()}
        out["segment_id"] = seg.map(ids).astype("int64")
        return out

    def predict(self, features) -> pd.Series:
        """The segment name of every customer in ``features`` (``"No orders yet"`` without orders)."""
        return self.scores(features)["segment"].rename("segment")

    def rule_table(self) -> pd.DataFrame:
        """The rules in use with the score ranges in the data's units (days, orders, currency)."""
        self._check_fitted()
        return self.rules_.copy()
