"""Segment profiles, plain-words names and recommended actions.

For each segment: its size, its share of revenue, the mean of every feature beside the
population's, and the difference as a *standardised effect* (segment mean minus
population mean, in population standard deviations, on the log scale the clustering
uses for counts, days and money). The three features with the largest effects (one per
concept: value, frequency, recency, a category …) describe the segment in words and
suggest its name, e.g. "Top-value frequent online buyers".

>>> import pandas as pd
>>> f = pd.DataFrame({"orders": [9.0, 8.0, 1.0, 1.0, 2.0, 1.0], "revenue": [900.0, 700.0, 20.0, 30.0, 40.0, 25.0]},
...                  index=pd.Index(list("abcdef"), name="customer_id"))
>>> p = profile_segments(f, pd.Series([1, 1, 2, 2, 2, 2], index=f.index))
>>> p.summary()[["segment_id", "customers", "value_share", "suggested_name"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
   segment_id  customers  value_share                     suggested_name
0           1          2        0.933  Top-value very frequent customers
1           2          4        0.067   Lower-value infrequent customers
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.segment._features import LogScaler, feature_kind, feature_label

__all__ = [
    "SegmentProfile",
    "profile_segments",
    "ACTION_RULES",
    "recommended_actions",
    "effect_words",
]

# Effects this large (in population standard deviations) count as distinguishing; the
# usual reading of a standardised difference: 0.2 small, 0.5 medium, 0.8 large.
NAME_THRESHOLD = 0.25


def _concept(feature: str) -> str:
    if feature in ("revenue", "revenue_90d"):
        return "value"
    if feature in ("orders", "orders_90d", "repeat_rate"):
        return "frequency"
    if feature == "days_since_last_order":
        return "recency"
    if feature == "avg_order_value":
        return "basket"
    if feature in ("tenure_days", "days_since_first_order"):
        return "tenure"
    if feature.startswith(("tickets_", "csat")):
        return "service"
    if feature.startswith("contacts_"):
        return "contact:" + feature
    return feature  # each category, channel, consent is its own concept


# Words for a concept: (much higher, higher, lower, much lower) than average, "much"
# meaning an effect of 0.8 standard deviations or more.
_WORDS: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
    "value": ("top-value", "high-value", "lower-value", "low-value"),
    "frequency": ("very frequent", "frequent", "infrequent", "occasional"),
    "recency": ("long-lapsed", "lapsing", "fairly recent", "recently active"),
    "basket": ("big-basket", "larger-basket", "smaller-basket", "small-basket"),
    "tenure": ("long-standing", "established", "newer", "new"),
    "service": ("service-heavy", "service-using", None, None),
}
_SLOTS = ["recency", "value", "frequency", "basket", "tenure", "service", "category", "channel"]


def _word(feature: str, effect: float) -> tuple[str | None, str]:
    """The word a feature contributes to a name, and its slot (``None`` when it has none)."""
    concept = _concept(feature)
    strong = abs(effect) >= 0.8
    if concept in _WORDS:
        much_higher, higher, lower, much_lower = _WORDS[concept]
        if effect > 0:
            return (much_higher if strong else higher), concept
        return (much_lower if strong else lower), concept
    if feature == "csat_mean":
        return ("satisfied" if effect > 0 else "dissatisfied"), "service"
    if feature.startswith("category_share__") and effect > 0:
        return f"{feature.removeprefix('category_share__').replace('_', ' ')}-focused", "category"
    if feature.startswith("sales_channel_share__") and effect > 0:
        channel = feature.removeprefix("sales_channel_share__")
        return {"online": "online", "store": "in-store", "app": "app"}.get(channel, channel.replace("_", " ")), "channel"
    return None, "other"


def effect_words(effect: float) -> str:
    """``"much higher"``, ``"higher"``, ``"somewhat higher"``, ``"about average"`` … for an effect.

    >>> effect_words(1.1), effect_words(-0.3), effect_words(0.05)
    ('much higher', 'somewhat lower', 'about average')
    """
    if not np.isfinite(effect) or abs(effect) < 0.2:
        return "about average"
    size = "much " if abs(effect) >= 0.8 else "" if abs(effect) >= 0.5 else "somewhat "
    return size + ("higher" if effect > 0 else "lower")


def _fmt(feature: str, value: float, currency: str) -> str:
    if not np.isfinite(value):
        return "–"
    kind = feature_kind(feature)
    if kind == "share":
        return f"{value:.0%}"
    if kind == "money":
        number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
        return (f"{currency}{number}" if len(currency) == 1 else f"{number} {currency}") if currency else number
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _name_from(words: list[tuple[str, str]]) -> str:
    """A name from (word, slot) pairs, in slot order: "Top-value frequent online buyers"."""
    if not words:
        return "Typical customers"
    first: dict[str, str] = {}
    for w, slot in words:  # most distinguishing first: one word per slot
        first.setdefault(slot, w)
    ordered = sorted(first.items(), key=lambda sw: _SLOTS.index(sw[0]) if sw[0] in _SLOTS else len(_SLOTS))
    ordered = [(w, slot) for slot, w in ordered]
    seen: list[str] = []
    for w, _ in ordered:
        if w not in seen:
            seen.append(w)
    noun = "buyers" if any(slot == "channel" for _, slot in ordered) else "customers"
    text = " ".join(seen + [noun])
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class SegmentProfile:
    """Who is in each segment: size, value share, feature means and standardised effects.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per segment and feature: ``segment_id``, ``feature``, ``label``,
        ``mean`` and ``mean_se`` (segment mean and its standard error, in the feature's
        units), ``population_mean``, ``median``, ``population_median``, ``effect`` and ``effect_se`` (standardised
        difference from the population on the log scale, and its standard error).
    segments : pandas.DataFrame
        One row per segment: ``segment_id``, ``segment`` (name), ``customers``,
        ``share`` and ``share_se``, ``revenue``, ``value_share`` and ``value_share_se``
        (bootstrap-free delta-method standard error), ``revenue_per_customer``,
        ``top_features``, ``description`` and ``suggested_name``.
    currency : str
        Currency of money features.
    """

    table: pd.DataFrame
    segments: pd.DataFrame
    currency: str = "£"
    features: tuple[str, ...] = field(default=())

    @property
    def segment_ids(self) -> list:
        return self.segments["segment_id"].tolist()

    @property
    def suggested_names(self) -> list[str]:
        return self.segments["suggested_name"].tolist()

    def with_names(self, names: dict) -> "SegmentProfile":
        """The same profile with segment names replaced (``{segment_id: name}``)."""
        seg = self.segments.copy()
        seg["segment"] = [names.get(i, n) for i, n in zip(seg["segment_id"], seg["segment"])]
        return replace(self, segments=seg)

    def summary(self) -> pd.DataFrame:
        """One row per segment: size, shares, what distinguishes it, and its name."""
        cols = ["segment_id", "segment", "customers", "share", "value_share", "revenue_per_customer",
                "description", "suggested_name"]
        return self.segments[[c for c in cols if c in self.segments.columns]].copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per segment and feature (means, effects and their standard errors)."""
        return self.table.copy()

    def effects(self) -> pd.DataFrame:
        """Segments (rows, by name) × features (columns, plain-words labels): standardised effects."""
        wide = self.table.pivot(index="segment_id", columns="feature", values="effect")
        wide = wide[[f for f in self.features if f in wide.columns]]
        wide.index = self.segments.set_index("segment_id").loc[wide.index, "segment"]
        wide.columns = [feature_label(c, self.currency) for c in wide.columns]
        return wide

    def means(self) -> pd.DataFrame:
        """Segments × features: the segment means in the features' units, plus the population row."""
        wide = self.table.pivot(index="segment_id", columns="feature", values="mean")
        pop = self.table.drop_duplicates("feature").set_index("feature")["population_mean"]
        wide = wide[[f for f in self.features if f in wide.columns]]
        wide.index = self.segments.set_index("segment_id").loc[wide.index, "segment"]
        wide.loc["All customers"] = pop.reindex(wide.columns)
        wide.columns = [feature_label(c, self.currency) for c in wide.columns]
        return wide

    def segment(self, segment) -> pd.DataFrame:
        """One segment against the population, feature by feature, largest differences first."""
        seg = self.segments
        hit = seg[(seg["segment_id"] == segment) | (seg["segment"] == segment)]
        if hit.empty:
            raise ParameterError(f"segment: expected one of {seg['segment'].tolist()} or ids {seg['segment_id'].tolist()}, found {segment!r}.")
        sid = hit["segment_id"].iloc[0]
        rows = self.table[self.table["segment_id"] == sid].copy()
        rows["difference"] = [effect_words(e) for e in rows["effect"]]
        rows = rows.reindex(rows["effect"].abs().sort_values(ascending=False).index)
        return rows[["feature", "label", "mean", "population_mean", "effect", "effect_se", "difference"]].reset_index(drop=True)

    def plot(self, *, title: str | None = None):
        """Heatmap of the standardised effects (plotly Figure): segments × features."""
        from crmkit.segment._plots import profile_heatmap

        return profile_heatmap(self, title=title)

    def plot_segment(self, segment):
        """Bar chart of one segment's effects against the population (plotly Figure)."""
        from crmkit.segment._plots import segment_bars

        return segment_bars(self, segment)


def _unique_names(words: list, more: list, ids: list) -> list[str]:
    """Names from each segment's words; where two names collide, the next distinguishing
    features add words until they differ; a name still repeated gets its segment id."""
    current = [list(w) for w in words]
    for extra in range(4):
        names = [_name_from(w) for w in current]
        counts = pd.Series(names).value_counts()
        clashing = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clashing:
            return names
        for i in clashing:
            if extra < len(more[i]):
                current[i] = current[i] + [more[i][extra]]
    names = [_name_from(w) for w in current]
    counts = pd.Series(names).value_counts()
    return [f"{n} ({sid})" if counts[n] > 1 else n for n, sid in zip(names, ids)]


def _sentence(feature: str, effect: float, mean: float, pop_mean: float, median: float, pop_median: float,
              currency: str) -> str:
    """One distinguishing feature in words. Counts, days and money are compared by their
    median (the typical customer; a few big spenders move a mean), shares by their mean."""
    label = feature_label(feature, currency)
    if feature_kind(feature) in ("money", "count", "days"):
        return (f"{label} {effect_words(effect)} than typical "
                f"(median {_fmt(feature, median, currency)} vs {_fmt(feature, pop_median, currency)} for all)")
    return f"{label} {effect_words(effect)} than average ({_fmt(feature, mean, currency)} vs {_fmt(feature, pop_mean, currency)})"


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]


def profile_segments(
    features: pd.DataFrame,
    segments: pd.Series,
    *,
    names: dict | None = None,
    columns=None,
    name_from=None,
    value_col: str = "revenue",
    currency: str = "£",
) -> SegmentProfile:
    """Profile segments: size, value share, feature means, standardised effects, names.

    Parameters
    ----------
    features : pandas.DataFrame
        Customer features indexed by customer_id (see :func:`crmkit.features.customer_features`).
    segments : pandas.Series
        Segment of each customer (ids or names), indexed by customer_id. Only customers
        in both are profiled; the population is all of them.
    names : dict, optional
        ``{segment: name}`` overriding the suggested names.
    columns : list of str, optional
        Features to profile; default every numeric column.
    name_from : list of str, optional
        Features allowed to name a segment (default ``columns``): the clustering features.
    value_col : str, default "revenue"
        The money column value shares are computed from.
    currency : str, default "£"
    """
    if not isinstance(segments, pd.Series):
        raise ParameterError(f"segments: expected a pandas Series indexed by customer_id, found {type(segments).__name__}.")
    common = features.index.intersection(segments.index)
    if len(common) == 0:
        raise DataValidationError("segments: no customer id is in both the features and the segments.")
    frame = features.loc[common]
    seg = segments.loc[common]
    if seg.isna().any():
        raise DataValidationError(f"segments: expected a segment for every customer, found {int(seg.isna().sum())} missing.")
    cols = list(columns) if columns is not None else _numeric_columns(frame)
    cols = [c for c in cols if c in frame.columns and frame[c].notna().any()]
    nameable = set(name_from) if name_from is not None else set(cols)
    scaler = LogScaler(tuple(cols)).fit(frame)
    raw_all = frame[cols].to_numpy(dtype="float64", na_value=np.nan)
    log_all = scaler.log_scale(frame).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        pop_mean_log = np.nanmean(log_all, axis=0)
        pop_sd_log = np.nanstd(log_all, axis=0)
        pop_sd_log = np.where(pop_sd_log > 0, pop_sd_log, np.nan)
        pop_mean = pd.Series(np.nanmean(raw_all, axis=0), index=cols)
        pop_median = pd.Series(np.nanmedian(raw_all, axis=0), index=cols)
    value_all = frame[value_col].to_numpy(dtype="float64", na_value=0.0) if value_col in frame.columns else None
    total_value = float(value_all.sum()) if value_all is not None else float("nan")
    n_all = len(frame)
    seg_values = seg.to_numpy()
    labels = [feature_label(c, currency) for c in cols]

    rows, seg_rows = [], []
    order = sorted(seg.unique().tolist(), key=lambda v: (str(type(v)), v))
    for sid in order:
        ind = seg_values == sid
        n = int(ind.sum())
        raw, lg = raw_all[ind], log_all[ind]
        # A feature with no value in a segment (all NaN) has no mean: NaN, said nowhere else.
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = pd.Series(np.nanmean(raw, axis=0), index=cols)
            median = pd.Series(np.nanmedian(raw, axis=0), index=cols)
            sd = np.nanstd(raw, axis=0, ddof=1) if n > 1 else np.full(len(cols), np.nan)
            mean_se = pd.Series(sd / math.sqrt(n), index=cols)
            effect = pd.Series((np.nanmean(lg, axis=0) - pop_mean_log) / pop_sd_log, index=cols)
            lg_sd = np.nanstd(lg, axis=0, ddof=1) if n > 1 else np.full(len(cols), np.nan)
            effect_se = pd.Series(lg_sd / pop_sd_log / math.sqrt(n), index=cols)
        rows.append(
            pd.DataFrame(
                {
                    "segment_id": [sid] * len(cols),
                    "feature": cols,
                    "label": labels,
                    "mean": mean.to_numpy(),
                    "mean_se": mean_se.to_numpy(),
                    "population_mean": pop_mean.to_numpy(),
                    "median": median.to_numpy(),
                    "population_median": pop_median.to_numpy(),
                    "effect": effect.to_numpy(),
                    "effect_se": effect_se.to_numpy(),
                }
            )
        )
        # distinguishing features: largest |effect|, one per concept, among the naming features
        eff = effect.to_dict()
        ranked = sorted((c for c in cols if np.isfinite(eff[c])), key=lambda c: -abs(eff[c]))
        distinguishing, concepts = [], set()
        for c in ranked:
            if c not in nameable or abs(eff[c]) < NAME_THRESHOLD:
                continue
            if _concept(c) in concepts:
                continue
            concepts.add(_concept(c))
            distinguishing.append(c)
        top = distinguishing[:3]
        words = [w for w in (_word(c, effect[c]) for c in top) if w[0]]
        more_words = [w for w in (_word(c, effect[c]) for c in distinguishing[3:]) if w[0]]
        sentences = [_sentence(c, effect[c], mean[c], pop_mean[c], median[c], pop_median[c], currency) for c in top]
        value = float(value_all[ind].sum()) if value_all is not None else float("nan")
        share = n / n_all
        # delta-method SE of a ratio of sums over customers (value share), treating customers as the sampling unit
        if value_all is not None and total_value > 0:
            r = value / total_value
            resid = value_all * ind - r * value_all
            value_se = float(math.sqrt(n_all * np.var(resid)) / total_value)
        else:
            r, value_se = float("nan"), float("nan")
        seg_rows.append(
            {
                "segment_id": sid,
                "customers": n,
                "share": share,
                "share_se": math.sqrt(share * (1 - share) / n_all),
                "revenue": value,
                "value_share": r,
                "value_share_se": value_se,
                "revenue_per_customer": value / n if n else float("nan"),
                "top_features": tuple(top),
                "description": "; ".join(sentences) if sentences else "Close to the average customer on every feature.",
                "_words": words,
                "_more": more_words,
            }
        )
    table = pd.concat(rows, ignore_index=True)
    segs = pd.DataFrame(seg_rows)
    segs["suggested_name"] = _unique_names(segs["_words"].tolist(), segs["_more"].tolist(), segs["segment_id"].tolist())
    segs["segment"] = [(names or {}).get(sid, s) for sid, s in zip(segs["segment_id"], segs["suggested_name"])]
    segs = segs.drop(columns=["_words", "_more"])
    segs = segs[["segment_id", "segment", "customers", "share", "share_se", "revenue", "value_share", "value_share_se",
                 "revenue_per_customer", "top_features", "description", "suggested_name"]]
    return SegmentProfile(table=table, segments=segs, currency=currency, features=tuple(cols))


# --------------------------------------------------------------------------- actions

#: Rule-based recommended actions, evaluated top to bottom on a segment's standardised
#: effects (first match wins). ``when`` is a condition on ``value`` (revenue effect),
#: ``frequency`` (orders), ``recency`` (days since last order: positive = lapsing) —
#: a consultant edits this table, not code.
ACTION_RULES = pd.DataFrame(
    [
        ("Reward and retain", "value >= 0.5 and recency <= 0",
         "Loyalty perks, early access and thank-yous; protect the margin, no blanket discounts."),
        ("Win back before they go", "value >= 0.5 and recency > 0",
         "Personal outreach and a service check; a tailored offer on what they used to buy."),
        ("Grow the next purchase", "recency < 0 and frequency < 0",
         "Onboarding and second-purchase journey; recommend categories they have not tried."),
        ("Develop", "value > -0.5 and recency <= 0.5",
         "Cross-sell and membership offers; test which channel answers best."),
        ("Reactivate at low cost", "recency > 0.5",
         "One automated win-back with a modest incentive, then reduce contact to protect consent."),
        ("Keep in touch", "True", "Regular newsletter only; watch for signs of growth."),
    ],
    columns=["action", "when", "how"],
)

_RULE_NAMES = {"value": "revenue", "frequency": "orders", "recency": "days_since_last_order"}


def recommended_actions(profile: SegmentProfile, rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """One recommended action per segment, from a rule table a consultant can edit.

    Parameters
    ----------
    profile : SegmentProfile
        The segments' profile (effects of ``revenue``, ``orders``, ``days_since_last_order``).
    rules : DataFrame, optional
        Columns ``action``, ``when`` (a condition on ``value``, ``frequency``,
        ``recency``; evaluated with :meth:`pandas.DataFrame.eval`) and ``how``; default
        :data:`ACTION_RULES`.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``customers``, ``value_share``, ``action``, ``how``.
    """
    rules = ACTION_RULES if rules is None else rules
    missing = [c for c in ("action", "when", "how") if c not in getattr(rules, "columns", [])]
    if missing:
        raise ParameterError(f"rules: expected columns action, when, how; missing {', '.join(missing)}.")
    eff = profile.table.pivot(index="segment_id", columns="feature", values="effect")
    env = pd.DataFrame(
        {key: eff[col] if col in eff.columns else 0.0 for key, col in _RULE_NAMES.items()}, index=eff.index
    ).fillna(0.0)
    chosen = pd.Series(pd.NA, index=env.index, dtype="object")
    how = pd.Series(pd.NA, index=env.index, dtype="object")
    for rule in rules.itertuples(index=False):
        try:
            hit = env.eval(str(rule.when)) if str(rule.when) != "True" else pd.Series(True, index=env.index)
        except Exception as exc:  # noqa: BLE001 - a consultant's typo gets a clear message
            raise ParameterError(f"rules: cannot evaluate the condition {rule.when!r} ({exc}).") from None
        hit = pd.Series(hit, index=env.index).astype(bool) & chosen.isna()
        chosen[hit] = rule.action
        how[hit] = rule.how
    segs = profile.segments.set_index("segment_id")
    out = pd.DataFrame(
        {
            "segment": segs["segment"],
            "customers": segs["customers"],
            "value_share": segs["value_share"],
            "action": chosen.reindex(segs.index).fillna("No rule matched"),
            "how": how.reindex(segs.index).fillna(""),
        }
    )
    return out.reset_index(drop=True)
