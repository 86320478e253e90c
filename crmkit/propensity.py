"""Churn and purchase propensity: out-of-time labelled tables, a classifier for raw
customer tables, and an evaluation a business reader can trust.

Three steps, each usable on its own:

1. **A labelled table.** :func:`churn_dataset` and :func:`purchase_dataset` cut the CRM
   history at a ``cutoff`` date: the features (:func:`crmkit.features.customer_features`)
   use only data dated on or before it, the label only the orders in the
   ``horizon_days`` after it, and the result states in one sentence who is in the
   population and what the label means. :func:`labelled_dataset` does the same for any
   one-row-per-customer table that already carries a target column, and
   :func:`scoring_features` builds the same features for the customers to score now.
2. **A model.** :class:`PropensityModel` is a scikit-learn classifier for raw DataFrames
   with numeric and categorical columns and missing values: it builds its own
   preprocessing (impute and scale numbers; impute and one-hot encode categories,
   unknown categories ignored) and a logistic regression or gradient boosting model,
   optionally calibrated.
3. **An evaluation.** :func:`evaluate` gives the ROC AUC with its DeLong interval, the
   Brier score against the base-rate reference, a reliability table with Wilson
   intervals, the decile lift and cumulative gains table with bootstrap intervals, and
   the drivers (permutation importance with its spread and the direction of effect).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"recency": rng.exponential(60, 600), "region": rng.choice(["N", "S", None], 600)})
>>> y = pd.Series(rng.random(600) < 1 / (1 + np.exp(2 - X["recency"] / 30)), name="churned")
>>> model = PropensityModel("logistic").fit(X[:400], y[:400])
>>> result = evaluate(model, X[400:], y[400:], n_bootstrap=200, n_repeats=2)
>>> bool(result.auc_low > 0.5), result.drivers.index[0]
(True, 'recency')
>>> result.lift_table()["customers"].sum()
np.int64(200)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from crmkit import _propensity_drivers as _drivers_mod
from crmkit import _propensity_stats as _stats
from crmkit.errors import DataValidationError, ParameterError

__all__ = [
    "PropensityDataset",
    "churn_dataset",
    "purchase_dataset",
    "labelled_dataset",
    "scoring_features",
    "PropensityModel",
    "PropensityEvaluation",
    "evaluate",
]

_PLOT_KINDS = ("reliability", "gains", "lift", "drivers", "roc")


# --- labelled tables ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PropensityDataset:
    """A labelled one-row-per-customer table: features ``X`` and outcome ``y``.

    Attributes
    ----------
    X : pandas.DataFrame
        Features, indexed by ``customer_id`` (sorted). For :func:`churn_dataset` and
        :func:`purchase_dataset`, built only from data dated on or before ``cutoff``.
    y : pandas.Series
        Boolean outcome, same index as ``X``, named after the target (``churned``,
        ``purchased`` or the target column).
    definition : str
        One sentence: who is in the population and what the label means.
    cutoff : pandas.Timestamp or None
        The last day whose data the features may use (the whole day counts).
    horizon_days : int or None
        Length of the label window, days; the window runs from the day after
        ``cutoff`` to ``cutoff + horizon_days`` (both included).
    target : str
        Name of the outcome (``y.name``).
    set_aside : pandas.DataFrame
        Customers (rows) considered but not in the population, indexed by
        ``customer_id``, with the ``reason``. Customers considered = ``len(X)`` +
        ``len(set_aside)``.
    label_window : tuple of pandas.Timestamp, or None
        ``(start, end)``: orders with ``start <= ordered_at < end`` decide the label.
    notes : tuple of str
        What was left out and why (e.g. consents changed after the cutoff, whose state at
        the cutoff is unknown).
    """

    X: pd.DataFrame
    y: pd.Series
    definition: str
    cutoff: pd.Timestamp | None
    horizon_days: int | None
    target: str
    set_aside: pd.DataFrame
    label_window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def n_customers(self) -> int:
        """Customers in the population (rows of ``X``)."""
        return len(self.X)

    @property
    def rate(self) -> float:
        """Share of the population with a positive outcome."""
        return float(self.y.mean()) if len(self.y) else float("nan")

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Population, positives, the outcome rate with its Wilson interval, set-aside customers
        by reason and the number of features (``measure``, ``value``, ``low``, ``high``)."""
        k, n = int(self.y.sum()), len(self.y)
        lo, hi = _stats.wilson_interval(k, n, alpha)
        rows = [
            ("customers in the population", n, np.nan, np.nan),
            (f"{self.target} (customers)", k, np.nan, np.nan),
            (f"{self.target} rate", k / n if n else np.nan, float(lo), float(hi)),
        ]
        for reason, count in self.set_aside["reason"].value_counts(sort=True).items():
            rows.append((f"set aside: {reason}", int(count), np.nan, np.nan))
        rows.append(("features", self.X.shape[1], np.nan, np.nan))
        return pd.DataFrame(rows, columns=["measure", "value", "low", "high"])

    def to_frame(self) -> pd.DataFrame:
        """One row per customer: the features and the outcome (last column)."""
        return self.X.assign(**{self.target: self.y})

    def split(self, test_size: float = 0.3, random_state=0):
        """Stratified random split: ``(X_train, X_test, y_train, y_test)``.

        For an out-of-time check, build a second dataset at a later cutoff instead.
        """
        from sklearn.model_selection import train_test_split

        stratify = self.y if self.y.nunique() == 2 and self.y.value_counts().min() >= 2 else None
        return train_test_split(self.X, self.y, test_size=test_size, random_state=random_state, stratify=stratify)

    def __repr__(self) -> str:
        return (
            f"PropensityDataset({self.n_customers:,} customers, {self.X.shape[1]} features, "
            f"{self.target} rate {self.rate:.1%})"
        )


def _as_day(value, name: str) -> pd.Timestamp:
    """A date as a midnight Timestamp; a time of day other than midnight is refused."""
    if isinstance(value, pd.Period):
        value = value.to_timestamp()
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}: expected a date such as '2025-06-30', found {value!r} ({exc}).") from None
    if ts is pd.NaT or pd.isna(ts):
        raise ParameterError(f"{name}: expected a date such as '2025-06-30', found a missing value ({value!r}).")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if ts != ts.normalize():
        raise ParameterError(
            f"{name}: expected a date (the whole day counts), found the date-time {ts}; pass {ts.date()} instead."
        )
    return ts


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}: expected a whole number of days ≥ 1, found {value!r}.")
    return int(value)


def _transactions(data) -> pd.DataFrame:
    if not hasattr(data, "transactions") or not hasattr(data, "customers"):
        raise ParameterError(
            f"data: expected a crmkit.schema.CRMData (e.g. crmkit.io.load(...).data), found {type(data).__name__}."
        )
    tx = data.transactions
    if tx is None:
        raise DataValidationError(
            "transactions: the table is required to label customers but is missing from the data."
        )
    missing = [c for c in ("customer_id", "ordered_at") if c not in tx.columns]
    if missing:
        raise DataValidationError(
            f"transactions: expected columns {', '.join(missing)}, found only {', '.join(map(str, tx.columns))}."
        )
    if not pd.api.types.is_datetime64_any_dtype(tx["ordered_at"]):
        raise DataValidationError(
            f"transactions.ordered_at: expected date-times, found dtype {tx['ordered_at'].dtype}. "
            "Load the data with crmkit.io.load, or convert it with pd.to_datetime."
        )
    if getattr(tx["ordered_at"].dtype, "tz", None) is not None:
        raise DataValidationError("transactions.ordered_at: expected timezone-naive UTC date-times, found a timezone.")
    return tx[["customer_id", "ordered_at"]]


def _day(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%d}"


def _as_known_at(data, end: pd.Timestamp):
    """The data as it was known just before ``end`` (the midnight after the cutoff).

    :func:`crmkit.features.customer_features` filters rows by their own date (orders,
    contacts, ticket openings). Two facts carry a later date than the row they sit on, and
    are removed here so that no feature can see them:

    - a ticket's ``csat`` is known only once the ticket is resolved: the rating of a ticket
      resolved after the cutoff (or not resolved) is blanked, as are response and
      resolution times after the cutoff;
    - a consent row updated after the cutoff holds the state of that later day; the state
      at the cutoff is unknown, so the row is left out and reported in ``unknown``
      (customer, channel pairs), whose ``consent__<channel>`` features become missing.
      Without ``updated_at`` no consent can be dated: the consents are left out entirely.

    Returns ``(data, unknown, notes)``.
    """
    from crmkit.schema import CRMData

    if not isinstance(data, CRMData):
        return data, None, ()
    tables = data.tables()
    notes: list[str] = []
    unknown = None
    tickets = tables.get("tickets")
    if tickets is not None and "csat" in tickets.columns:
        tickets = tickets.copy()
        for col in ("first_response_at", "resolved_at"):
            if col in tickets.columns and pd.api.types.is_datetime64_any_dtype(tickets[col]):
                tickets[col] = tickets[col].mask(tickets[col] >= end)
        if "resolved_at" in tickets.columns and pd.api.types.is_datetime64_any_dtype(tickets["resolved_at"]):
            unresolved = tickets["resolved_at"].isna() & tickets["csat"].notna()
            if unresolved.any():
                tickets["csat"] = tickets["csat"].mask(unresolved)
                opened = tickets["opened_at"] < end if "opened_at" in tickets.columns else unresolved
                n_blank = int((unresolved & opened).sum())
                if n_blank:
                    notes.append(
                        f"{n_blank:,} ratings (csat) of tickets opened by the cutoff but resolved after it "
                        "(or never) were not used."
                    )
        else:
            tickets = tickets.drop(columns="csat")
            notes.append("tickets.csat was not used: without tickets.resolved_at a rating cannot be dated.")
        tables["tickets"] = tickets
    consents = tables.get("consents")
    if consents is not None:
        if "updated_at" in consents.columns and pd.api.types.is_datetime64_any_dtype(consents["updated_at"]):
            later = (consents["updated_at"] >= end).to_numpy()
            if later.any():
                unknown = consents.loc[later, ["customer_id", "channel"]]
                tables["consents"] = consents.loc[~later]
                notes.append(
                    f"{int(later.sum()):,} consents changed after the cutoff; their state at the cutoff is unknown "
                    "(missing in the consent__ features)."
                )
        else:
            tables["consents"] = None
            notes.append("consents were not used: without consents.updated_at their state at the cutoff is unknown.")
    return CRMData(**{k: v for k, v in tables.items() if v is not None}, source=data.source), unknown, tuple(notes)


def _mask_unknown_consents(X: pd.DataFrame, unknown: pd.DataFrame | None) -> pd.DataFrame:
    """``consent__<channel>`` as missing for the (customer, channel) pairs in ``unknown``."""
    if unknown is None or unknown.empty:
        return X
    X = X.copy()
    for channel, ids in unknown.groupby(unknown["channel"].astype(str), observed=True)["customer_id"]:
        col = "consent__" + "".join(ch if ch.isalnum() else "_" for ch in channel.lower())
        if col in X.columns:
            X.loc[X.index.isin(ids.astype(str)), col] = np.nan
    return X


def _population(data, tx: pd.DataFrame, cut: pd.Timestamp, lookback_days, feature_window_days: int, data_end):
    """Features at ``cut`` of the customers on file, the population, its description and
    the customers set aside (with reasons)."""
    from crmkit import features

    day_after = cut + pd.Timedelta(days=1)
    if lookback_days is not None:
        look_start = day_after - pd.Timedelta(days=lookback_days)
        recent = tx.loc[(tx["ordered_at"] >= look_start) & (tx["ordered_at"] < day_after), "customer_id"]
        buyers = pd.Index(recent.astype("string").unique()).dropna()
        if len(buyers) == 0:
            raise ParameterError(
                f"cutoff: no customer ordered in the {lookback_days} days up to {_day(cut)}, so the population is "
                f"empty; the data runs from {_day(tx['ordered_at'].min())} to {_day(data_end)}. Choose a later cutoff."
            )

    known, unknown_consent, known_notes = _as_known_at(data, day_after)
    X_all = features.customer_features(known, as_of=cut, window_days=feature_window_days)
    X_all = _mask_unknown_consents(X_all, unknown_consent)
    if X_all.index.has_duplicates:
        raise DataValidationError(
            "customers.customer_id: expected one row per customer in the customer features, found duplicates "
            f"(first: {X_all.index[X_all.index.duplicated()][0]!r})."
        )
    X_all = X_all.sort_index()
    on_file = X_all.index

    reasons: list[pd.Series] = []
    if lookback_days is None:
        population = on_file
        who = f"the {len(population):,} customers on file on {_day(cut)}"
    else:
        in_pop = on_file.isin(buyers)
        population = on_file[in_pop]
        reasons.append(
            pd.Series(f"no order in the {lookback_days} days up to the cutoff", index=on_file[~in_pop], dtype="string")
        )
        who = f"the {len(population):,} customers who ordered in the {lookback_days} days up to {_day(cut)}"
        not_on_file = buyers.difference(on_file)
        if len(not_on_file):
            reasons.append(
                pd.Series(
                    "ordered before the cutoff but not in customers by then (created later or missing)",
                    index=not_on_file,
                    dtype="string",
                )
            )
    if len(population) == 0:
        first = tx["ordered_at"].min()
        raise ParameterError(
            f"cutoff: no customer is in the population at {_day(cut)} ({who}); the data runs from "
            f"{_day(first)} to {_day(data_end)}. Choose a later cutoff."
        )

    set_aside = (
        pd.concat(reasons).rename("reason").rename_axis("customer_id").to_frame()
        if reasons
        else pd.DataFrame({"reason": pd.Series(dtype="string")}, index=pd.Index([], name="customer_id", dtype="string"))
    )
    return X_all, population, who, set_aside, known_notes


def _outcome_dataset(
    data,
    cutoff,
    horizon_days: int,
    *,
    kind: str,
    lookback_days: int | None,
    observation_end,
    feature_window_days: int,
) -> PropensityDataset:
    cut = _as_day(cutoff, "cutoff")
    horizon_days = _positive_int(horizon_days, "horizon_days")
    if lookback_days is not None:
        lookback_days = _positive_int(lookback_days, "lookback_days")
    feature_window_days = _positive_int(feature_window_days, "feature_window_days")
    tx = _transactions(data)
    usable = tx["customer_id"].notna() & tx["ordered_at"].notna()
    n_unusable = int((~usable).sum())
    tx = tx[usable]
    if tx.empty:
        raise DataValidationError("transactions: expected orders with a customer_id and an ordered_at, found none.")

    day_after = cut + pd.Timedelta(days=1)  # the cutoff's whole day counts as "before"
    window_end = day_after + pd.Timedelta(days=horizon_days)
    last_day = window_end - pd.Timedelta(days=1)
    if observation_end is None:
        data_end = tx["ordered_at"].max().normalize()
        end_text = f"the last order, on {_day(data_end)}"
    else:
        data_end = _as_day(observation_end, "observation_end")
        end_text = f"observation_end {_day(data_end)}"
    if last_day > data_end:
        latest = data_end - pd.Timedelta(days=horizon_days)
        raise ParameterError(
            f"cutoff: the label window {_day(day_after)} to {_day(last_day)} ({horizon_days} days after the cutoff "
            f"{_day(cut)}) runs past the end of the data ({end_text}), so customers who would still order in it "
            f"would be labelled wrongly. Choose a cutoff on or before {_day(latest)}, or a shorter horizon_days."
        )

    X_all, population, who, set_aside, known_notes = _population(
        data, tx, cut, lookback_days, feature_window_days, data_end
    )

    after = tx.loc[(tx["ordered_at"] >= day_after) & (tx["ordered_at"] < window_end), "customer_id"]
    ordered_after = population.isin(pd.Index(after.astype("string").unique()))
    if kind == "churn":
        target = "churned"
        y = pd.Series(~ordered_after, index=population, name=target)
        meaning = f"churned = no order in the {horizon_days} days after it"
    else:
        target = "purchased"
        y = pd.Series(ordered_after, index=population, name=target)
        meaning = f"purchased = at least one order in the {horizon_days} days after it"
    y.index.name = X_all.index.name or "customer_id"
    definition = (
        f"Among {who}, {meaning} ({_day(day_after)} to {_day(last_day)}); "
        f"features use only data dated on or before {_day(cut)}."
    )
    notes = known_notes
    if n_unusable:
        notes += (f"{n_unusable:,} transactions without a customer_id or ordered_at were not used.",)
    return PropensityDataset(
        X=X_all.loc[population],
        y=y,
        definition=definition,
        cutoff=cut,
        horizon_days=horizon_days,
        target=target,
        set_aside=set_aside,
        label_window=(day_after, window_end),
        notes=notes,
    )


def churn_dataset(
    data,
    cutoff,
    horizon_days: int = 90,
    *,
    lookback_days: int = 365,
    observation_end=None,
    feature_window_days: int = 90,
) -> PropensityDataset:
    """An out-of-time churn table: who of the recently active customers stops ordering.

    The population is every customer on file by ``cutoff`` who ordered in the
    ``lookback_days`` days up to and including it; ``churned`` is True when the customer
    placed no order in the ``horizon_days`` days after it. Features come from
    :func:`crmkit.features.customer_features` ``(data, as_of=cutoff)``, so they use only
    data dated on or before the cutoff; the label uses only the orders after it.

    Parameters
    ----------
    data : crmkit.schema.CRMData
        Needs ``transactions`` (``customer_id``, ``ordered_at``) and what
        ``customer_features`` needs (``customers``; other tables add features).
    cutoff : str, date or Timestamp
        The last day the features may see (the whole day counts).
    horizon_days : int, default 90
        Length of the label window, days after the cutoff.
    lookback_days : int, default 365
        A customer is in the population when they ordered in this many days up to the cutoff.
    observation_end : str, date or Timestamp, optional
        The last day the data is complete to; default the day of the last order. The label
        window must end on or before it.
    feature_window_days : int, default 90
        The recent window of the ``*_90d`` features (``window_days`` of ``customer_features``).

    Returns
    -------
    PropensityDataset
        ``X``, ``y`` (``churned``), ``definition``, ``cutoff``, ``horizon_days``,
        ``set_aside`` (customers on file without an order in the lookback, with the reason).

    Raises
    ------
    crmkit.errors.ParameterError
        The label window runs past the end of the data, the cutoff is not a date, or
        nobody is in the population.
    crmkit.errors.DataValidationError
        ``transactions`` or one of its columns is missing or has the wrong type.

    Examples
    --------
    >>> from crmkit import synth
    >>> world = synth.demo_world(300, seed=0)
    >>> ds = churn_dataset(world.data, "2025-06-30", horizon_days=90)
    >>> ds.definition.split(",")[0][:40]
    'Among the 188 customers who ordered in t'
    >>> len(ds.X) + len(ds.set_aside) == len(world.data.customers.query("created_at < '2025-07-01'"))
    True
    """
    return _outcome_dataset(
        data,
        cutoff,
        horizon_days,
        kind="churn",
        lookback_days=lookback_days,
        observation_end=observation_end,
        feature_window_days=feature_window_days,
    )


def purchase_dataset(
    data,
    cutoff,
    horizon_days: int = 90,
    *,
    lookback_days: int | None = None,
    observation_end=None,
    feature_window_days: int = 90,
) -> PropensityDataset:
    """An out-of-time purchase table: who of the customers on file orders in the next window.

    The population is every customer on file (created) by ``cutoff`` — or, with
    ``lookback_days``, only those who ordered in that many days up to it; ``purchased`` is
    True when the customer placed at least one order in the ``horizon_days`` days after
    the cutoff. Features as in :func:`churn_dataset`.

    Parameters
    ----------
    data, cutoff, horizon_days, observation_end, feature_window_days
        As in :func:`churn_dataset`.
    lookback_days : int, optional
        Restrict the population to customers with an order in this many days up to the
        cutoff. Default: every customer on file, including those who never ordered.

    Returns
    -------
    PropensityDataset
        With ``y`` named ``purchased``.

    Examples
    --------
    >>> from crmkit import synth
    >>> world = synth.demo_world(300, seed=0)
    >>> ds = purchase_dataset(world.data, "2025-06-30", horizon_days=30)
    >>> ds.definition[:46]
    'Among the 239 customers on file on 2025-06-30,'
    """
    return _outcome_dataset(
        data,
        cutoff,
        horizon_days,
        kind="purchase",
        lookback_days=lookback_days,
        observation_end=observation_end,
        feature_window_days=feature_window_days,
    )


def scoring_features(
    data,
    as_of=None,
    *,
    lookback_days: int | None = 365,
    feature_window_days: int = 90,
) -> pd.DataFrame:
    """Features of the customers to score now, built as :func:`churn_dataset` builds them.

    A model fitted on a dataset at an earlier cutoff scores these rows with
    ``model.predict_proba(X)[:, 1]``: the same population rule (on file by ``as_of`` and,
    with ``lookback_days``, an order in that many days up to it) and the same features
    (:func:`crmkit.features.customer_features` at ``as_of``, facts dated later left out).

    Parameters
    ----------
    data : crmkit.schema.CRMData
        As in :func:`churn_dataset`.
    as_of : str, date or Timestamp, optional
        The day to score at; default the day of the last order.
    lookback_days : int or None, default 365
        Only customers with an order in this many days up to ``as_of``; None: every
        customer on file (the population of :func:`purchase_dataset`).
    feature_window_days : int, default 90
        As in :func:`churn_dataset`.

    Returns
    -------
    pandas.DataFrame
        One row per customer of the population, indexed by ``customer_id``.

    Examples
    --------
    >>> from crmkit import synth
    >>> world = synth.demo_world(300, seed=0)
    >>> ds = churn_dataset(world.data, "2025-06-30")
    >>> model = PropensityModel().fit(ds.X, ds.y)
    >>> now = scoring_features(world.data)
    >>> list(now.columns) == list(ds.X.columns), bool(model.predict_proba(now)[:, 1].min() >= 0)
    (True, True)
    """
    lookback_days = None if lookback_days is None else _positive_int(lookback_days, "lookback_days")
    feature_window_days = _positive_int(feature_window_days, "feature_window_days")
    tx = _transactions(data)
    tx = tx[tx["customer_id"].notna() & tx["ordered_at"].notna()]
    if tx.empty:
        raise DataValidationError("transactions: expected orders with a customer_id and an ordered_at, found none.")
    data_end = tx["ordered_at"].max().normalize()
    cut = data_end if as_of is None else _as_day(as_of, "as_of")
    X_all, population, _, _, _ = _population(data, tx, cut, lookback_days, feature_window_days, data_end)
    return X_all.loc[population]


def labelled_dataset(
    frame: pd.DataFrame,
    target: str,
    *,
    positive=None,
    id_col: str | None = None,
    definition: str | None = None,
) -> PropensityDataset:
    """A :class:`PropensityDataset` from any one-row-per-customer table with a target column.

    Rows whose target is missing are set aside with that reason (never dropped silently).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per customer (or any unit): the features and the target.
    target : str
        The outcome column. Booleans and 0/1 need no ``positive``; otherwise name it.
    positive : optional
        The target value that counts as the positive outcome.
    id_col : str, optional
        A column holding the customer id, used as the index (must be unique). Default:
        the frame's index.
    definition : str, optional
        What the population and the label are; default a sentence naming the column.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b", "c"], "spend": [1.0, 5.0, 2.0], "left": ["yes", "no", None]})
    >>> ds = labelled_dataset(df, "left", positive="yes", id_col="id")
    >>> ds.y.tolist(), ds.set_aside["reason"].tolist()
    ([True, False], ['target left is missing'])
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame: expected a pandas DataFrame, found {type(frame).__name__}.")
    if target not in frame.columns:
        raise DataValidationError(
            f"frame.{target}: expected the target column, found only {', '.join(map(str, frame.columns))}."
        )
    df = frame
    if id_col is not None:
        if id_col not in frame.columns:
            raise DataValidationError(f"frame.{id_col}: expected the id column, not found.")
        df = frame.set_index(id_col)
    if df.index.has_duplicates:
        dup = df.index[df.index.duplicated()][0]
        raise DataValidationError(f"frame: expected one row per id, found {dup!r} more than once.")
    t = df[target]
    missing = t.isna().to_numpy()
    values = t[~missing]
    if positive is None:
        uniq = set(pd.unique(values.astype(object)))
        if uniq <= {True, False}:
            positive = True
        elif uniq <= {0, 1}:
            positive = 1
        else:
            raise ParameterError(
                f"positive: the target {target!r} holds {', '.join(map(repr, sorted(map(str, uniq))[:5]))}; "
                "say which value is the positive outcome, e.g. positive='yes'."
            )
    elif not (values == positive).any():
        raise ParameterError(f"positive: {positive!r} does not occur in the target column {target!r}.")
    n_values = values.nunique()
    if n_values > 2:
        raise DataValidationError(
            f"frame.{target}: expected a binary outcome, found {n_values} distinct values. "
            "Map it to two values (or to True/False) first."
        )
    y = pd.Series((values == positive).to_numpy(dtype=bool), index=values.index, name=str(target))
    X = df.loc[~missing].drop(columns=[target])
    reason = pd.Series(f"target {target} is missing", index=df.index[missing], dtype="string")
    set_aside = pd.DataFrame({"reason": reason})
    if definition is None:
        definition = (
            f"Among the {len(y):,} rows with a value in {target!r}, {target} = {positive!r} is the positive outcome."
        )
    return PropensityDataset(
        X=X, y=y, definition=definition, cutoff=None, horizon_days=None, target=str(target), set_aside=set_aside
    )


# --- the model --------------------------------------------------------------------------


def _as_frame(X, what: str = "X") -> pd.DataFrame:
    if isinstance(X, PropensityDataset):
        X = X.X
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise DataValidationError(f"{what}: expected a table (2-D), found an array of shape {arr.shape}.")
        X = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    if not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)
    if X.columns.has_duplicates:
        twice = X.columns[X.columns.duplicated()][0]
        raise DataValidationError(f"{what}: expected unique column names, found {twice!r} twice.")
    return X


_is_numeric = _drivers_mod.is_numeric


def _column_kinds(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
            raise DataValidationError(
                f"X.{col}: expected numbers or categories, found {s.dtype}. Turn it into a number first, "
                "e.g. days since the date."
            )
        (numeric if _is_numeric(s) else categorical).append(col)
    return numeric, categorical


def _model_frame(X: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Numeric columns as float64 (NaN for missing), categorical ones as object str (NaN for missing)."""
    out = {}
    for col in numeric:
        s = X[col]
        try:
            values = pd.to_numeric(s.astype(object) if s.dtype == object else s)
            out[col] = values.to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
            raise DataValidationError(
                f"X.{col}: expected numbers (the column was numeric when the model was fitted), "
                f"found {bad.iloc[0]!r} in {len(bad):,} rows."
            ) from None
    for col in categorical:
        s = X[col]
        miss = s.isna().to_numpy()
        vals = s.astype(object).to_numpy(copy=True)
        vals[~miss] = [str(v) for v in vals[~miss]]
        vals[miss] = np.nan
        out[col] = vals
    return pd.DataFrame(out, index=X.index)[numeric + categorical]


def _labels(y, n: int, index: pd.Index | None = None, what: str = "y") -> np.ndarray:
    """``y`` as a numpy array of outcomes, one per row of X; a Series must be aligned with ``index``."""
    if isinstance(y, PropensityDataset):
        y = y.y
    arr = pd.Series(y) if not isinstance(y, pd.Series) else y
    if len(arr) != n:
        raise DataValidationError(f"{what}: expected {n:,} outcomes (one per row of X), found {len(arr):,}.")
    if index is not None and isinstance(y, pd.Series) and not arr.index.equals(index):
        raise DataValidationError(
            f"{what}: expected the same index as X, in the same order (outcomes are matched to rows by it); "
            "found a different one. Align them first, e.g. y = y.loc[X.index]."
        )
    n_missing = int(arr.isna().sum())
    if n_missing:
        raise DataValidationError(
            f"{what}: expected an outcome for every row, found {n_missing:,} missing. "
            "Set those rows aside first (crmkit.propensity.labelled_dataset does, with the reason)."
        )
    values = arr.to_numpy()
    if values.dtype == object:
        kinds = {type(v) for v in values}
        if len(kinds) > 1:
            values = values.astype(str)
    return values


class PropensityModel(ClassifierMixin, BaseEstimator):
    """A binary classifier for raw customer tables, scikit-learn compatible.

    It takes a DataFrame with numeric and categorical (text) columns and missing values
    and builds its own preprocessing: numbers are imputed with the median (plus a
    missing-value indicator) and standardised; categories are imputed with
    ``"(missing)"`` and one-hot encoded (at most ``max_categories`` levels, rarer ones
    pooled; categories unseen in ``fit`` are ignored, encoded as all zeros). Then a
    logistic regression or a histogram gradient boosting model; ``calibrate=True``
    wraps the model in :class:`sklearn.calibration.CalibratedClassifierCV` (shuffled
    stratified folds, ``ensemble=False``: the calibration map is fitted on out-of-fold
    predictions, then applied to one model fitted on all rows, so scoring costs one model).

    It works inside :func:`sklearn.model_selection.cross_val_score`, grid searches and
    :func:`sklearn.base.clone`.

    Parameters
    ----------
    model : {"logistic", "gbm"}, default "logistic"
        :class:`~sklearn.linear_model.LogisticRegression` (L2-penalised) or
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    calibrate : bool, default False
        Calibrate the predicted probabilities by cross-validation.
    random_state : int, default 0
        Seeds the boosting model and the calibration folds.
    calibration_method : {"sigmoid", "isotonic"}, default "sigmoid"
        Platt scaling or isotonic regression; isotonic needs more data (≥ 1,000 per fold).
    cv : int, default 5
        Folds of the calibration.
    C : float, default 1.0
        Inverse L2 penalty of the logistic regression.
    learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Of the gradient boosting model.
    max_iter : int, optional
        Solver iterations (logistic, default 1,000) or boosting iterations (gbm, default 200).
    class_weight : None or "balanced"
        Weights of the classes in the fit (``"balanced"`` distorts probabilities; calibrate then).
    max_categories : int, default 20
        Most one-hot levels per categorical column.
    n_jobs : int, optional
        Threads (OpenMP, BLAS) used while fitting and predicting; default: the libraries'
        own choice (all cores). On a machine shared with other work, ``n_jobs=1`` avoids
        oversubscription, which slows gradient boosting down many times over.

    Attributes
    ----------
    estimator_ : sklearn.pipeline.Pipeline
        The fitted pipeline: ``prep`` (a ColumnTransformer: ``num`` and ``cat``)
        and ``clf`` (the model, or the calibrated model).
    classes_ : numpy.ndarray
        The two classes; ``predict_proba(X)[:, 1]`` is the probability of ``classes_[1]``.
    feature_names_in_ : numpy.ndarray
        The columns seen in ``fit``.
    numeric_features_, categorical_features_ : list of str
        How each column was treated.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.model_selection import cross_val_score, StratifiedKFold
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
    >>> y = (X["x"] + (X["c"] == "a") + rng.normal(size=300)) > 0.5
    >>> cv = StratifiedKFold(3, shuffle=True, random_state=0)
    >>> scores = cross_val_score(PropensityModel("logistic", calibrate=True), X, y, cv=cv, scoring="roc_auc")
    >>> bool(scores.mean() > 0.7)
    True
    """

    def __init__(
        self,
        model: str = "logistic",
        calibrate: bool = False,
        random_state=0,
        *,
        calibration_method: str = "sigmoid",
        cv: int = 5,
        C: float = 1.0,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_iter: int | None = None,
        class_weight=None,
        max_categories: int = 20,
        n_jobs: int | None = None,
    ):
        self.model = model
        self.calibrate = calibrate
        self.random_state = random_state
        self.calibration_method = calibration_method
        self.cv = cv
        self.C = C
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.max_categories = max_categories
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags

    def _check_params(self) -> None:
        if self.model not in ("logistic", "gbm"):
            raise ParameterError(f"model: expected 'logistic' or 'gbm', found {self.model!r}.")
        if self.calibration_method not in ("sigmoid", "isotonic"):
            raise ParameterError(
                f"calibration_method: expected 'sigmoid' or 'isotonic', found {self.calibration_method!r}."
            )
        if isinstance(self.cv, bool) or not isinstance(self.cv, (int, np.integer)) or self.cv < 2:
            raise ParameterError(f"cv: expected a whole number of folds ≥ 2, found {self.cv!r}.")
        if self.n_jobs is not None and (
            isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, (int, np.integer)) or self.n_jobs < 1
        ):
            raise ParameterError(f"n_jobs: expected None or a whole number of threads ≥ 1, found {self.n_jobs!r}.")

    def _pipeline(self, numeric: list[str], categorical: list[str], y: np.ndarray):
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        parts = []
        if numeric:
            steps = [
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
            parts.append(("num", Pipeline(steps), numeric))
        if categorical:
            steps = [
                ("impute", SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True)),
                (
                    "onehot",
                    OneHotEncoder(handle_unknown="ignore", max_categories=self.max_categories, sparse_output=False),
                ),
            ]
            parts.append(("cat", Pipeline(steps), categorical))
        prep = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
        if self.model == "logistic":
            clf = LogisticRegression(
                C=self.C, max_iter=self.max_iter or 1000, class_weight=self.class_weight, random_state=self.random_state
            )
        else:
            clf = HistGradientBoostingClassifier(
                learning_rate=self.learning_rate,
                max_iter=self.max_iter or 200,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                class_weight=self.class_weight,
                random_state=self.random_state,
            )
        if self.calibrate:
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.model_selection import StratifiedKFold

            smallest = int(pd.Series(y).value_counts().min())
            if smallest < self.cv:
                raise DataValidationError(
                    f"y: calibration with cv={self.cv} folds needs at least {self.cv} customers in each class, "
                    f"found {smallest} in the smaller one. Lower cv or fit without calibrate."
                )
            folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
            # ensemble=False: the calibration map is fitted on out-of-fold predictions of the
            # whole training set, then applied to one model fitted on all of it.
            clf = CalibratedClassifierCV(clf, method=self.calibration_method, cv=folds, ensemble=False)
        return Pipeline([("prep", prep), ("clf", clf)])

    def _threads(self):
        if self.n_jobs is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=int(self.n_jobs))

    def fit(self, X, y, sample_weight=None):
        """Fit preprocessing and model on ``X`` (DataFrame) and the binary outcome ``y``; returns self."""
        with self._threads():
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._check_params()
        index = X.index if isinstance(X, pd.DataFrame) else None
        X = _as_frame(X)
        if X.shape[1] == 0:
            raise DataValidationError("X: expected at least one feature column, found none.")
        y = _labels(y, len(X), index)
        classes = np.unique(y)
        if len(classes) != 2:
            raise DataValidationError(
                f"y: expected two outcome classes, found {len(classes)} "
                f"({', '.join(map(repr, classes[:5].tolist()))}). "
                "A propensity model needs customers with and without the outcome."
            )
        numeric, categorical = _column_kinds(X)
        frame = _model_frame(X, numeric, categorical)
        est = self._pipeline(numeric, categorical, y)
        fit_params = {} if sample_weight is None else {"clf__sample_weight": sample_weight}
        est.fit(frame, y, **fit_params)
        self.estimator_ = est
        self.classes_ = est.classes_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.numeric_features_ = numeric
        self.categorical_features_ = categorical
        return self

    def _frame(self, X) -> pd.DataFrame:
        check_is_fitted(self, "estimator_")
        X = _as_frame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise DataValidationError(
                f"X: expected the columns the model was fitted on; missing {', '.join(missing[:10])}"
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                + "."
            )
        return _model_frame(X, self.numeric_features_, self.categorical_features_)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, one row per row of ``X``."""
        frame = self._frame(X)
        with self._threads():
            return self.estimator_.predict_proba(frame)

    def predict(self, X) -> np.ndarray:
        """The more probable class of each row (threshold 0.5)."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > 0.5).astype(int)]

    def _blocks(self) -> dict[str, list[tuple[int, str]]]:
        """Input column → its encoded columns, as (position in the design matrix, readable name).

        Numbers: the standardised value (``x``) and, when the column had missing values in
        ``fit``, its missing-value indicator (``x (missing)``); categories: one column per
        kept level (``region = North``). Derived from the fitted imputer and encoder and
        checked against the width of the design matrix.
        """
        prep = self.estimator_.named_steps["prep"]
        out: dict[str, list[tuple[int, str]]] = {}
        if self.numeric_features_:
            start = prep.output_indices_["num"].start
            imputer = prep.named_transformers_["num"].named_steps["impute"]
            k = len(self.numeric_features_)
            for i, col in enumerate(self.numeric_features_):
                out[col] = [(start + i, col)]
            for j, i in enumerate(imputer.indicator_.features_ if imputer.indicator_ is not None else []):
                col = self.numeric_features_[i]
                out[col].append((start + k + j, f"{col} (missing)"))
        if self.categorical_features_:
            start = prep.output_indices_["cat"].start
            names = prep.named_transformers_["cat"].get_feature_names_out(self.categorical_features_)
            enc = prep.named_transformers_["cat"].named_steps["onehot"]
            pos = start
            for i, col in enumerate(self.categorical_features_):
                infrequent = (enc.infrequent_categories_[i] if getattr(enc, "infrequent_categories_", None) else None)
                width = len(enc.categories_[i]) - (len(infrequent) - 1 if infrequent is not None else 0)
                out[col] = [(pos + j, f"{col} = {names[pos - start + j][len(col) + 1:]}") for j in range(width)]
                pos += width
        width = sum(len(v) for v in out.values())
        total = prep.output_indices_["num" if not self.categorical_features_ else "cat"].stop
        if width != total:  # pragma: no cover - a scikit-learn change in the encoders' layout
            raise RuntimeError(f"encoded columns: expected {total}, mapped {width}")
        return out

    def _design(self, X):
        """The design matrix of ``X`` and what the drivers need to work on it directly.

        Returns ``(Z, blocks, encode, predict)``: ``blocks`` maps each input column to the
        positions of its encoded columns in ``Z``; ``encode([(column, value), ...])`` gives
        the encoded block of each value; ``predict(Z)`` the probability of ``classes_[1]``.
        Each column is encoded on its own, so permuting or setting a block of ``Z`` equals
        permuting or setting the column of ``X``. None when the layout cannot be mapped.
        """
        frame = self._frame(X)
        prep = self.estimator_.named_steps["prep"]
        clf = self.estimator_.named_steps["clf"]
        try:
            blocks = {col: np.array([p for p, _ in v]) for col, v in self._blocks().items()}
        except (AttributeError, KeyError, IndexError, RuntimeError):  # pragma: no cover
            return None
        Z = np.asarray(prep.transform(frame), dtype=float)

        def encode(pairs):
            rows = pd.concat([frame.iloc[:1]] * len(pairs), ignore_index=True)
            for r, (col, value) in enumerate(pairs):
                rows.at[r, col] = float(value) if col in self.numeric_features_ else str(value)
            enc = np.asarray(prep.transform(rows), dtype=float)
            return [enc[r, blocks[col]] for r, (col, _) in enumerate(pairs)]

        def predict(Zb):
            with self._threads():
                return clf.predict_proba(Zb)[:, 1]

        return Z, blocks, encode, predict

    def coefficients(self) -> pd.DataFrame:
        """Logistic coefficients per encoded feature, largest first.

        Only for ``model="logistic"`` without calibration. ``coefficient`` is the change in
        the log-odds of ``classes_[1]`` per standard deviation of a number (``x``), for a
        missing value (``x (missing)``, on top of the median it is imputed with), or for a
        category (``region = North``, against the average of the others).
        """
        check_is_fitted(self, "estimator_")
        if self.model != "logistic" or self.calibrate:
            raise ParameterError(
                "coefficients: only a logistic model without calibration has one coefficient per feature; "
                f"this one is model={self.model!r}, calibrate={self.calibrate!r}. Use evaluate(...).drivers instead."
            )
        coef = self.estimator_.named_steps["clf"].coef_[0]
        names = dict(pair for pairs in self._blocks().values() for pair in pairs)
        out = pd.DataFrame({"feature": [names[i] for i in range(len(coef))], "coefficient": coef})
        return out.reindex(out["coefficient"].abs().sort_values(ascending=False).index).reset_index(drop=True)


# --- evaluation --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PropensityEvaluation:
    """How good a propensity model is on held-out customers. Built by :func:`evaluate`.

    Probabilities and rates are fractions (0–1). Intervals are at level ``1 - alpha``.

    Attributes
    ----------
    target : str
        Name of the outcome (column of :meth:`to_frame`).
    label : str
        The outcome in words, for plot titles (``"churn"``).
    n, n_positive : int
        Customers evaluated and those with the outcome.
    base_rate, base_rate_low, base_rate_high : float
        Share with the outcome and its Wilson interval.
    auc, auc_se, auc_low, auc_high : float
        ROC AUC, its standard error and interval; ``auc_method`` says how
        (``"DeLong"``: DeLong et al. 1988 variance, normal interval clipped to [0, 1];
        ``"stratified bootstrap"``: percentile interval).
    brier, brier_low, brier_high : float
        Brier score (mean squared error of the probabilities), bootstrap interval.
    brier_reference : float
        The Brier score of predicting the base rate for everyone, ``base_rate·(1 − base_rate)``.
    brier_skill, brier_skill_low, brier_skill_high : float
        ``1 − brier / brier_reference`` (0: no better than the base rate; 1: perfect), bootstrap interval.
    calibration : dict
        ``intercept`` (calibration-in-the-large, 0 is right) and ``slope`` (1 is right),
        each with ``_low``/``_high``; ``ece`` the expected calibration error over ``reliability``'s bins.
    reliability : pandas.DataFrame
        One row per bin of customers with similar predictions: ``customers``,
        ``mean_predicted``, ``observed``, ``observed_low``, ``observed_high`` (Wilson).
    drivers : pandas.DataFrame or None
        One row per feature, most important first: ``importance`` (mean drop in ROC AUC
        when the feature is permuted), ``importance_std`` (spread over ``n_repeats``
        permutations), ``direction`` (``"+"``: higher values raise the predicted
        probability, ``"-"``: lower it, ``"0"``: no effect, ``"by category"``),
        ``effect`` (change in the average predicted probability from ``low_value`` to
        ``high_value`` — the 10th and 90th percentiles, or the categories with the lowest
        and highest average prediction — all else held as it is).
    scores : pandas.Series
        Predicted probability per customer (index of ``X_test``).
    outcome : pandas.Series
        Observed outcome per customer (bool).
    alpha, n_bootstrap, random_state
        As passed to :func:`evaluate`.
    lift : pandas.DataFrame
        The decile table (see :meth:`lift_table`).
    """

    target: str
    label: str
    n: int
    n_positive: int
    base_rate: float
    base_rate_low: float
    base_rate_high: float
    auc: float
    auc_se: float
    auc_low: float
    auc_high: float
    auc_method: str
    brier: float
    brier_low: float
    brier_high: float
    brier_reference: float
    brier_skill: float
    brier_skill_low: float
    brier_skill_high: float
    calibration: dict
    reliability: pd.DataFrame
    drivers: pd.DataFrame | None
    scores: pd.Series
    outcome: pd.Series
    alpha: float
    n_bootstrap: int
    random_state: int | None
    lift: pd.DataFrame = field(repr=False)

    def lift_table(self, n_groups: int | None = None) -> pd.DataFrame:
        """Decile lift and cumulative gains, from the highest predicted probability down.

        One row per group (``decile`` 1 = the tenth of customers with the highest scores):
        ``customers``, ``responders`` (with the outcome), ``rate`` with its Wilson interval,
        ``mean_predicted``, ``lift`` (rate / base rate) with a bootstrap interval, and the
        cumulative ``cumulative_customers``, ``cumulative_share`` (of customers),
        ``cumulative_responders``, ``cumulative_gain`` (share of all responders captured,
        with a bootstrap interval) and ``cumulative_lift``.

        ``n_groups`` other than 10 recomputes the table (e.g. 20 for ventiles).
        """
        if n_groups is None or n_groups == len(self.lift):
            return self.lift.copy()
        return _lift_table(
            self.outcome.to_numpy(dtype=bool), self.scores.to_numpy(dtype=float), n_groups,
            self.n_bootstrap, self.alpha, self.random_state,
        )[0]

    def to_frame(self) -> pd.DataFrame:
        """One row per customer: ``score``, ``outcome`` and ``decile`` (1 = highest scores)."""
        order = _stats.group_order(self.scores.to_numpy(), _rng(self.random_state))
        bounds = _stats.group_bounds(self.n, len(self.lift))
        group = np.empty(self.n, dtype=np.int64)
        group[order] = np.searchsorted(bounds, np.arange(self.n), side="right") + 1
        return pd.DataFrame({"score": self.scores, self.target: self.outcome, "decile": group}, index=self.scores.index)

    def summary(self) -> pd.DataFrame:
        """The model's quality in a few lines: ``measure``, ``value``, ``low``, ``high``, ``method``."""
        c = self.calibration
        top = self.lift.iloc[0]
        level = f"{1 - self.alpha:.0%}"
        boot = f"bootstrap, {self.n_bootstrap:,} replicates, {level}"
        rows = [
            ("customers", self.n, np.nan, np.nan, ""),
            (f"{self.target} (customers)", self.n_positive, np.nan, np.nan, ""),
            ("base rate", self.base_rate, self.base_rate_low, self.base_rate_high, f"Wilson, {level}"),
            ("ROC AUC", self.auc, self.auc_low, self.auc_high, f"{self.auc_method}, {level}"),
            ("Brier score", self.brier, self.brier_low, self.brier_high, boot),
            ("Brier score of the base rate", self.brier_reference, np.nan, np.nan, "reference: base rate for everyone"),
            ("Brier skill score", self.brier_skill, self.brier_skill_low, self.brier_skill_high, boot),
            ("calibration intercept", c["intercept"], c["intercept_low"], c["intercept_high"],
             f"0 is right; Wald, {level}"),
            ("calibration slope", c["slope"], c["slope_low"], c["slope_high"], f"1 is right; Wald, {level}"),
            ("expected calibration error", c["ece"], np.nan, np.nan, f"over {len(self.reliability)} bins"),
            ("top-decile lift", top["lift"], top["lift_low"], top["lift_high"], boot),
            ("responders in the top decile (share)", top["cumulative_gain"], top["cumulative_gain_low"],
             top["cumulative_gain_high"], boot),
        ]
        return pd.DataFrame(rows, columns=["measure", "value", "low", "high", "method"])

    def plot(self, kind: str = "reliability", *, top: int = 15):
        """A plotly figure: ``"reliability"``, ``"gains"``, ``"lift"``, ``"drivers"`` or ``"roc"``.

        ``top``: how many drivers to show. Returns a :class:`plotly.graph_objects.Figure`.
        """
        from crmkit import _propensity_plots as plots

        if kind not in _PLOT_KINDS:
            raise ParameterError(f"kind: expected one of {', '.join(map(repr, _PLOT_KINDS))}, found {kind!r}.")
        if kind == "drivers" and self.drivers is None:
            raise ParameterError("kind: 'drivers' needs the drivers; call evaluate(..., drivers=True).")
        return getattr(plots, kind)(self, top=top)

    def __repr__(self) -> str:
        return (
            f"PropensityEvaluation({self.target}: n={self.n:,}, AUC {self.auc:.3f} "
            f"[{self.auc_low:.3f}, {self.auc_high:.3f}], Brier {self.brier:.4f} vs {self.brier_reference:.4f})"
        )


def _rng(random_state, stream: int = 0) -> np.random.Generator:
    """A generator for one use (``stream``) of ``random_state``: an int or None seeds
    independent streams; a Generator is used as it is."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    return np.random.default_rng([int(random_state), stream]) if stream else np.random.default_rng(int(random_state))


def _lift_table(y: np.ndarray, p: np.ndarray, n_groups: int, n_bootstrap: int, alpha: float, random_state):
    n = len(y)
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or not 1 <= n_groups <= n:
        raise ParameterError(f"n_groups: expected a whole number from 1 to {n:,}, found {n_groups!r}.")
    rng = _rng(random_state)
    order = _stats.group_order(p, rng)
    y_sorted, p_sorted = y[order], p[order]
    bounds = _stats.group_bounds(n, n_groups)
    point = _stats.lift_frame(y_sorted, bounds)
    sizes = np.diff(bounds, prepend=0)
    mean_pred = np.add.reduceat(p_sorted, np.r_[0, bounds[:-1]]) / sizes
    lifts, gains, briers, skills = [], [], [], []
    for idx in _stats.bootstrap_rows(n, n_bootstrap, rng):
        ys, ps = y_sorted[idx], p_sorted[idx]
        fr = _stats.lift_frame(ys, bounds)
        lifts.append(fr["lift"])
        gains.append(fr["gain"])
        b = ((ps - ys) ** 2).mean(axis=1)
        rate = ys.mean(axis=1)
        ref = rate * (1.0 - rate)
        briers.append(b)
        with np.errstate(invalid="ignore", divide="ignore"):
            skills.append(1.0 - b / ref)
    q = [alpha / 2.0, 1.0 - alpha / 2.0]

    def band(reps):
        if not reps:
            return np.full((2,) + np.shape(point["lift"]), np.nan)
        return np.nanquantile(np.concatenate(reps), q, axis=0)

    lift_band, gain_band = band(lifts), band(gains)
    lo, hi = _stats.wilson_interval(point["responders"], sizes, alpha)
    table = pd.DataFrame(
        {
            "customers": sizes,
            "responders": point["responders"].astype(np.int64),
            "rate": point["rate"],
            "rate_low": lo,
            "rate_high": hi,
            "mean_predicted": mean_pred,
            "lift": point["lift"],
            "lift_low": lift_band[0],
            "lift_high": lift_band[1],
            "cumulative_customers": bounds,
            "cumulative_share": bounds / n,
            "cumulative_responders": np.cumsum(point["responders"]).astype(np.int64),
            "cumulative_gain": point["gain"],
            "cumulative_gain_low": gain_band[0],
            "cumulative_gain_high": gain_band[1],
            "cumulative_lift": point["cum_lift"],
        },
        index=pd.RangeIndex(1, n_groups + 1, name="decile" if n_groups == 10 else "group"),
    )
    brier_band = np.nanquantile(np.concatenate(briers), q) if briers else (np.nan, np.nan)
    skill_band = np.nanquantile(np.concatenate(skills), q) if skills else (np.nan, np.nan)
    return table, brier_band, skill_band


def _reliability(y: np.ndarray, p: np.ndarray, n_bins: int, strategy: str, alpha: float, rng) -> pd.DataFrame:
    n = len(y)
    if strategy == "quantile":
        order = _stats.group_order(-p, rng)  # lowest scores first
        bounds = _stats.group_bounds(n, min(n_bins, n))
        group = np.empty(n, dtype=np.int64)
        group[order] = np.searchsorted(bounds, np.arange(n), side="right")
    elif strategy == "uniform":
        group = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    else:
        raise ParameterError(f"strategy: expected 'quantile' or 'uniform', found {strategy!r}.")
    df = pd.DataFrame({"g": group, "y": y.astype(float), "p": p})
    agg = df.groupby("g").agg(customers=("y", "size"), responders=("y", "sum"), mean_predicted=("p", "mean"),
                              min_predicted=("p", "min"), max_predicted=("p", "max"))
    agg["observed"] = agg["responders"] / agg["customers"]
    lo, hi = _stats.wilson_interval(agg["responders"].to_numpy(), agg["customers"].to_numpy(), alpha)
    agg["observed_low"], agg["observed_high"] = lo, hi
    agg["responders"] = agg["responders"].astype(np.int64)
    agg = agg.reset_index(drop=True)
    agg.index = pd.RangeIndex(1, len(agg) + 1, name="bin")
    return agg[["customers", "responders", "mean_predicted", "min_predicted", "max_predicted", "observed",
                "observed_low", "observed_high"]]


def evaluate(
    model,
    X_test,
    y_test,
    random_state=0,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    *,
    ci_method: str = "delong",
    n_bins: int = 10,
    strategy: str = "quantile",
    drivers: bool = True,
    n_repeats: int = 5,
    drivers_max_rows: int | None = 5_000,
    target_name: str | None = None,
    outcome_label: str | None = None,
) -> PropensityEvaluation:
    """Evaluate a fitted binary classifier on held-out customers.

    Parameters
    ----------
    model : fitted classifier
        Anything with ``predict_proba`` and ``classes_`` (a :class:`PropensityModel`, a
        scikit-learn pipeline …); ``classes_[1]`` is the positive outcome.
    X_test : pandas.DataFrame
        Features of customers the model was not fitted on.
    y_test : array-like
        Their observed outcomes, in the classes the model was fitted on; no missing values;
        both classes present.
    random_state : int, default 0
        Seeds the bootstrap, the permutations and the breaking of tied scores.
    n_bootstrap : int, default 1000
        Bootstrap replicates (rows resampled with replacement) for the intervals of the
        Brier score, the Brier skill score, lift and gains; also of the AUC when
        ``ci_method="bootstrap"``. 0 leaves those intervals NaN.
    alpha : float, default 0.05
        Intervals are at level ``1 - alpha``.
    ci_method : {"delong", "bootstrap"}, default "delong"
        The AUC interval: DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988, computed
        with Sun & Xu's 2014 midrank algorithm) and a normal interval clipped to [0, 1];
        or a stratified bootstrap (positives and negatives resampled separately) with a
        percentile interval.
    n_bins : int, default 10
        Bins of the reliability table.
    strategy : {"quantile", "uniform"}, default "quantile"
        Reliability bins of equal size (customers) or of equal width (probability).
    drivers : bool, default True
        Compute permutation importance (``n_repeats`` permutations per feature, drop in
        ROC AUC) and the direction of effect (partial dependence: the average predicted
        probability with everyone's feature set to a low and a high value). Costs about
        ``n_features · (n_repeats + 2)`` predictions per row, made in a few large batches.
    n_repeats : int, default 5
        Permutations per feature.
    drivers_max_rows : int or None, default 5,000
        The drivers use a random subset of this many rows of ``X_test`` (seeded); None: all.
    target_name : str, optional
        Name of the outcome column in tables; default ``y_test.name`` or ``"outcome"``.
    outcome_label : str, optional
        The outcome in words for plot titles (``"churn rate"``, ``"churn probability"``);
        default ``"churn"`` for ``churned``, ``"purchase"`` for ``purchased``, else ``target_name``.

    Returns
    -------
    PropensityEvaluation

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=400)})
    >>> y = pd.Series(rng.random(400) < 1 / (1 + np.exp(-2 * X["x"])), name="bought")
    >>> res = evaluate(PropensityModel().fit(X[:200], y[:200]), X[200:], y[200:], n_bootstrap=100, drivers=False)
    >>> res.summary().set_index("measure").loc["ROC AUC", ["value", "low", "high"]].round(3).tolist()
    [0.856, 0.804, 0.907]
    """
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ParameterError(
            f"model: expected a fitted classifier with predict_proba and classes_, found {type(model).__name__}; "
            "call .fit(X, y) first."
        )
    if ci_method not in ("delong", "bootstrap"):
        raise ParameterError(f"ci_method: expected 'delong' or 'bootstrap', found {ci_method!r}.")
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha: expected a number between 0 and 1, found {alpha!r}.")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ParameterError(f"n_bootstrap: expected a whole number ≥ 0, found {n_bootstrap!r}.")
    if ci_method == "bootstrap" and n_bootstrap < 2:
        raise ParameterError("n_bootstrap: ci_method='bootstrap' needs at least 2 replicates.")
    classes = np.asarray(model.classes_)
    if len(classes) != 2:
        raise ParameterError(f"model: expected a binary classifier, found {len(classes)} classes.")
    X = _as_frame(X_test, "X_test")
    y_raw = _labels(y_test, len(X), X_test.index if isinstance(X_test, pd.DataFrame) else None, "y_test")
    unknown = ~np.isin(y_raw, classes)
    if unknown.any():
        raise DataValidationError(
            f"y_test: expected the classes the model was fitted on ({classes[0]!r}, {classes[1]!r}), "
            f"found {y_raw[unknown][0]!r} in {int(unknown.sum()):,} rows."
        )
    y = y_raw == classes[1]
    n, k = len(y), int(y.sum())
    if k == 0 or k == n:
        raise DataValidationError(
            f"y_test: expected customers with and without the outcome, found {'none' if k == 0 else 'only'} with it "
            f"among {n:,}. ROC AUC and lift need both."
        )
    if target_name is None:
        target_name = str(y_test.name) if isinstance(y_test, pd.Series) and y_test.name is not None else "outcome"
    if outcome_label is None:
        outcome_label = {"churned": "churn", "purchased": "purchase"}.get(target_name, target_name)
    p = np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise DataValidationError("model: predict_proba returned values outside [0, 1] or missing values.")

    if ci_method == "delong":
        auc, auc_se, auc_low, auc_high = _stats.auc_interval(y, p, alpha)
        auc_method = "DeLong"
    else:
        auc, auc_se, auc_low, auc_high = _stats.bootstrap_auc(y, p, n_bootstrap, _rng(random_state, 2), alpha)
        auc_method = "stratified bootstrap"

    lift, brier_band, skill_band = _lift_table(y, p, 10 if n >= 10 else n, n_bootstrap, alpha, random_state)
    brier = float(np.mean((p - y) ** 2))
    rate = k / n
    ref = rate * (1.0 - rate)
    base_lo, base_hi = _stats.wilson_interval(k, n, alpha)
    reliability = _reliability(y, p, n_bins, strategy, alpha, _rng(random_state, 3))
    calibration = _stats.recalibration(y, p, alpha)
    calibration["ece"] = float(
        (reliability["customers"] * (reliability["observed"] - reliability["mean_predicted"]).abs()).sum() / n
    )
    drv = None
    if drivers:
        # A generator of its own, so that the drivers do not shift the bootstrap draws.
        drv = _drivers_mod.drivers(
            model, X, y, n_repeats=n_repeats, rng=_rng(random_state, 1), max_rows=drivers_max_rows
        )
    index = X.index
    return PropensityEvaluation(
        target=target_name,
        label=outcome_label,
        n=n,
        n_positive=k,
        base_rate=rate,
        base_rate_low=float(base_lo),
        base_rate_high=float(base_hi),
        auc=auc,
        auc_se=auc_se,
        auc_low=auc_low,
        auc_high=auc_high,
        auc_method=auc_method,
        brier=brier,
        brier_low=float(brier_band[0]),
        brier_high=float(brier_band[1]),
        brier_reference=ref,
        brier_skill=1.0 - brier / ref,
        brier_skill_low=float(skill_band[0]),
        brier_skill_high=float(skill_band[1]),
        calibration=calibration,
        reliability=reliability,
        drivers=drv,
        scores=pd.Series(p, index=index, name="score"),
        outcome=pd.Series(y, index=index, name=target_name),
        alpha=alpha,
        n_bootstrap=int(n_bootstrap),
        random_state=random_state,
        lift=lift,
    )
