"""Which customer features a segmentation uses, and how they are put on one scale.

The features themselves come from :func:`crmkit.features.customer_features` (one row per
customer, computed where the data lives). Here they are only chosen (named feature
sets), checked, and transformed: counts, days and money on a log scale, money divided by
its median first so that the currency does not matter, shares left as they are.

>>> sorted(FEATURE_SETS)
['behaviour', 'full', 'rfm']
>>> import pandas as pd
>>> f = pd.DataFrame({"orders": [1.0, 3.0, 0.0], "revenue": [10.0, 90.0, 0.0]},
...                  index=pd.Index(["a", "b", "c"], name="customer_id"))
>>> resolve_features(f, ["orders", "revenue"])
('orders', 'revenue')
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError

__all__ = [
    "FEATURE_SETS",
    "FEATURE_LABELS",
    "feature_label",
    "feature_kind",
    "resolve_features",
    "tables_needed",
    "check_features",
    "with_repeat_rate",
    "LogScaler",
]

#: Named feature sets for clustering. A ``*`` pattern takes every matching column that
#: :func:`crmkit.features.customer_features` returned; a column missing because its table
#: is absent (no tickets, say) is left out, so fewer tables mean fewer features.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    # recency, frequency, monetary: the three numbers RFM scoring uses
    "rfm": ("days_since_last_order", "orders", "revenue"),
    # how people buy: RFM plus basket size, pace, what they buy and where
    "behaviour": (
        "days_since_last_order",
        "orders",
        "revenue",
        "avg_order_value",
        "repeat_rate",
        "category_share__*",
        "sales_channel_share__*",
    ),
    # everything the data model offers about behaviour, service and contact
    "full": (
        "days_since_last_order",
        "orders",
        "revenue",
        "avg_order_value",
        "repeat_rate",
        "tenure_days",
        "orders_90d",
        "revenue_90d",
        "category_share__*",
        "sales_channel_share__*",
        "tickets_total",
        "csat_mean",
        "contacts_inbound_90d",
        "contacts_outbound_90d",
    ),
}

# The tables each feature comes from (customers always).
_TABLE_OF = {
    "category_share__": "transactions",
    "sales_channel_share__": "transactions",
    "orders": "transactions",
    "revenue": "transactions",
    "avg_order_value": "transactions",
    "repeat_rate": "transactions",
    "days_since_": "transactions",
    "tickets_": "tickets",
    "csat_mean": "tickets",
    "contacts_": "interactions",
    "consent__": "consents",
}

#: Plain-words labels of the features, for tables and charts; ``{currency}`` is filled in.
FEATURE_LABELS: dict[str, str] = {
    "tenure_days": "Days since sign-up",
    "orders": "Orders",
    "revenue": "Revenue ({currency})",
    "avg_order_value": "Average order value ({currency})",
    "days_since_first_order": "Days since first order",
    "days_since_last_order": "Days since last order",
    "orders_90d": "Orders, last 90 days",
    "revenue_90d": "Revenue, last 90 days ({currency})",
    "repeat_rate": "Repeat orders per 30 days",
    "contacts_outbound_90d": "Contacts sent, last 90 days",
    "contacts_inbound_90d": "Contacts received, last 90 days",
    "tickets_90d": "Service tickets, last 90 days",
    "tickets_total": "Service tickets",
    "csat_mean": "Service satisfaction (1-5)",
}

_MONEY = ("revenue", "avg_order_value", "revenue_90d", "revenue_*")
_COUNTS = ("orders", "orders_*", "tickets_*", "contacts_*", "repeat_rate")
_DAYS = ("tenure_days", "days_since_*")
_SHARES = ("category_share__*", "sales_channel_share__*", "consent__*")


def _matches(name: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def feature_kind(name: str) -> str:
    """``"money"``, ``"count"``, ``"days"``, ``"share"`` or ``"score"``: how a feature is transformed.

    >>> feature_kind("revenue_90d"), feature_kind("category_share__toys"), feature_kind("csat_mean")
    ('money', 'share', 'score')
    """
    if _matches(name, _SHARES):
        return "share"
    if _matches(name, _MONEY):
        return "money"
    if _matches(name, _DAYS):
        return "days"
    if _matches(name, _COUNTS):
        return "count"
    return "score"


def feature_label(name: str, currency: str = "£") -> str:
    """A feature's name in plain words.

    >>> feature_label("category_share__home"), feature_label("revenue", "£")
    ('Share of revenue in home', 'Revenue (£)')
    """
    if name in FEATURE_LABELS:
        label = FEATURE_LABELS[name]
        return label.replace(" ({currency})", f" ({currency})" if currency else "").replace("{currency}", currency)
    for prefix, words in (
        ("category_share__", "Share of revenue in "),
        ("sales_channel_share__", "Share of orders "),
        ("consent__", "Consent to "),
    ):
        if name.startswith(prefix):
            suffix = name[len(prefix):].replace("_", " ")
            if prefix == "sales_channel_share__":
                suffix = {"online": "online", "store": "in store", "app": "in the app"}.get(suffix, f"via {suffix}")
            return words + suffix
    return name.replace("_", " ").capitalize()


def tables_needed(features="behaviour") -> list[str]:
    """The CRM tables a feature set draws on (for :func:`crmkit.io.load`'s ``tables=``).

    >>> tables_needed("rfm")
    ['customers', 'transactions']
    >>> tables_needed("full")
    ['customers', 'transactions', 'interactions', 'tickets']
    """
    patterns = _patterns(features)
    needed = {"customers", "transactions"}
    for p in patterns:
        for prefix, table in _TABLE_OF.items():
            if p.startswith(prefix) or p == prefix:
                needed.add(table)
    order = ["customers", "consents", "transactions", "interactions", "tickets"]
    return [t for t in order if t in needed]


def _patterns(features) -> tuple[str, ...]:
    if isinstance(features, str):
        if features not in FEATURE_SETS:
            raise ParameterError(
                f"features: expected one of {', '.join(map(repr, FEATURE_SETS))} or a list of column names, "
                f"found {features!r}."
            )
        return FEATURE_SETS[features]
    try:
        patterns = tuple(str(f) for f in features)
    except TypeError:
        raise ParameterError(
            f"features: expected a feature set name or a list of column names, found {type(features).__name__}."
        ) from None
    if not patterns:
        raise ParameterError("features: expected at least one feature, found an empty list.")
    return patterns


def resolve_features(frame: pd.DataFrame, features="behaviour") -> tuple[str, ...]:
    """The columns of ``frame`` a feature set (or list) stands for, in order.

    A named set takes what is there (a missing table means fewer features); an explicit
    column name that is missing is an error naming it.
    """
    patterns = _patterns(features)
    named_set = isinstance(features, str)
    found: list[str] = []
    for p in patterns:
        if any(ch in p for ch in "*?["):
            hits = sorted(c for c in frame.columns if fnmatch.fnmatchcase(str(c), p))
        else:
            hits = [p] if p in frame.columns else []
            if not hits and not named_set:
                raise DataValidationError(
                    f"customer features: expected a column {p!r}, found columns "
                    f"{', '.join(map(repr, map(str, frame.columns)))}. Pick features among these."
                )
        found.extend(h for h in hits if h not in found)
    if not found:
        raise DataValidationError(
            f"customer features: none of the features {', '.join(patterns)} is in the data; "
            f"found columns {', '.join(map(str, frame.columns))}."
        )
    for col in found:
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            raise DataValidationError(
                f"customer features.{col}: expected numbers, found dtype {frame[col].dtype}. "
                "Only numeric features can be clustered."
            )
    return tuple(found)


def check_features(frame, *, required=("orders",), what: str = "customer features") -> pd.DataFrame:
    """``frame`` checked (a DataFrame indexed by unique customer ids, with ``required``) and sorted by id.

    Sorting makes every fit independent of the row order it was given in.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(
            f"{what}: expected a pandas DataFrame indexed by customer_id "
            f"(crmkit.features.customer_features), found {type(frame).__name__}."
        )
    if "customer_id" in frame.columns and frame.index.name != "customer_id":
        frame = frame.set_index("customer_id")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{what}: expected columns {', '.join(map(repr, missing))}, found "
            f"{', '.join(map(repr, map(str, frame.columns))) or 'none'}. Build the table with "
            "crmkit.features.customer_features."
        )
    if frame.index.hasnans:
        raise DataValidationError(f"{what}: expected a customer id on every row, found {int(frame.index.isna().sum())} rows without one.")
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()][:3].tolist()
        raise DataValidationError(
            f"{what}: expected one row per customer, found repeated customer ids (first: {dup}). "
            "Aggregate to one row per customer first."
        )
    for col in required:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise DataValidationError(f"{what}.{col}: expected numbers, found dtype {frame[col].dtype}.")
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index()
    return frame


def with_repeat_rate(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``repeat_rate``: repeat orders per 30 days since the first order.

    ``30 × (orders − 1) / max(days since first order, 1)``; 0 with one order, NaN without
    any. It is :func:`crmkit.features.rfm_summary`'s ``frequency / T`` at order (not
    period) resolution, derived from the two columns of ``customer_features`` it needs.
    """
    if "repeat_rate" in frame.columns or not {"orders", "days_since_first_order"} <= set(frame.columns):
        return frame
    out = frame.copy()
    span = out["days_since_first_order"].clip(lower=1.0)
    out["repeat_rate"] = (30.0 * (out["orders"] - 1.0).clip(lower=0.0) / span).where(out["orders"] > 0)
    return out


@dataclass
class LogScaler:
    """Put features on one scale: log for counts, days and money (money over its median), then z-scores.

    ``fit`` learns, from the customers it is given, each money column's median (so the
    currency drops out: ``log1p(x / median)`` is the same in pence or pounds), a median
    to fill a missing value with, and each column's mean and standard deviation after
    the log. ``transform`` applies the same to any customers.

    With ``prior_orders`` > 0 and an ``orders`` column in the frame, category and
    sales-channel shares are shrunk towards the average mix as if every customer had
    ``prior_orders`` more orders of that mix: ``(orders × share + m × average) /
    (orders + m)``. One order then no longer makes a customer "100% toys"; a customer
    with thirty orders keeps their own mix.

    After z-scoring, the columns of one mix (all ``category_share__*``, all
    ``sales_channel_share__*``) are divided by the square root of their number, so a mix
    weighs as much as one feature: otherwise the number of product categories in the
    data would decide how much what people buy counts against how much they spend.
    """

    columns: tuple[str, ...]
    prior_orders: float = 0.0

    def fit(self, frame: pd.DataFrame) -> "LogScaler":
        self.kinds_ = {c: feature_kind(c) for c in self.columns}
        self.mix_mean_ = {
            c: float(frame[c].mean()) for c in self.columns if c.startswith(("category_share__", "sales_channel_share__"))
        }
        self.money_scale_ = {}
        for c, kind in self.kinds_.items():
            if kind == "money":
                positive = frame[c][frame[c] > 0]
                self.money_scale_[c] = float(positive.median()) if len(positive) else 1.0
        logged = self._log(frame)
        self.fill_ = logged.median().fillna(0.0)
        logged = logged.fillna(self.fill_)
        self.mean_ = logged.mean()
        sd = logged.std(ddof=0)
        self.scale_ = sd.where(sd > 0, 1.0)
        groups = {}
        for c in self.columns:
            for prefix in ("category_share__", "sales_channel_share__"):
                if c.startswith(prefix):
                    groups.setdefault(prefix, []).append(c)
        weight = pd.Series(1.0, index=list(self.columns))
        for cols in groups.values():
            weight[cols] = 1.0 / np.sqrt(len(cols))
        self.weight_ = weight
        return self

    def _log(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[list(self.columns)].to_numpy(dtype="float64", na_value=np.nan, copy=True)
        orders = None
        if self.prior_orders > 0 and "orders" in frame.columns:
            orders = np.clip(frame["orders"].to_numpy(dtype="float64", na_value=0.0), 0.0, None)
        with np.errstate(invalid="ignore"):
            for j, c in enumerate(self.columns):
                kind = self.kinds_[c]
                col = x[:, j]
                if kind == "money":
                    x[:, j] = np.log1p(np.clip(col, 0.0, None) / self.money_scale_[c])
                elif kind in ("count", "days"):
                    x[:, j] = np.log1p(np.clip(col, 0.0, None))
                elif c in self.mix_mean_ and orders is not None:
                    x[:, j] = (orders * col + self.prior_orders * self.mix_mean_[c]) / (orders + self.prior_orders)
        return pd.DataFrame(x, index=frame.index, columns=list(self.columns))

    def log_scale(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The features after the log step (missing values filled), before z-scoring."""
        return self._log(frame).fillna(self.fill_)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        logged = self.log_scale(frame).to_numpy(dtype="float64")
        cols = list(self.columns)
        mean = self.mean_[cols].to_numpy()
        scale = self.scale_[cols].to_numpy()
        weight = self.weight_[cols].to_numpy()
        return (logged - mean) / scale * weight
