"""Contact fatigue measured from history: how a contact's incremental response falls with
the number of contacts the customer had just before it, and the cap where it stops paying.

:func:`fatigue_curve` reads three tables — ``campaign_members`` (who was treated or held
out, who converted), ``campaigns`` (start dates, cost per contact) and ``interactions``
(outbound contacts) — and measures, for every campaign member, ``n``: the outbound
contacts (newsletters, other campaigns, any channel) the customer received in the
``window_days`` before the member's contact time. Treated members are compared with
control members *at the same* ``n``, so a customer base that responds differently when it
is contacted more often (selection) does not pass for fatigue: the uplift at ``n`` is
the treated response rate minus the control response rate at ``n``.

Three estimates are reported, from the most to the least model-free:

1. **binned rates**: per ``n`` (the last bin collects ``n`` and more), the response rate
   of treated and control members with Wilson 95 % intervals and their difference with
   Newcombe's hybrid score interval (``statsmodels.stats.proportion``);
2. **smooth logistic fit** (:attr:`FatigueCurve.fit`): a binomial GLM with logit link,
   ``converted ~ C(campaign) + cr(n) + treated:cr(n)`` (patsy natural cubic regression
   splines, 3 degrees of freedom), i.e. a per-campaign baseline, a smooth trend of the
   control rate in ``n`` and a smooth treatment effect in ``n``. Its uplift curve
   (averaged over the campaign mix of the treated members) carries a 95 % band from
   2,000 draws of the coefficients from their asymptotic normal distribution;
3. **exponential decay** (:attr:`FatigueCurve.decay_fit`): the response probability is
   ``b_campaign + treated * u_campaign * exp(-k * n)`` (binomial GLM with identity link,
   so uplifts are on the probability scale); ``k`` is found by profile likelihood and its
   95 % interval is the set of ``k`` whose likelihood-ratio statistic is below the
   chi-square(1) quantile. ``u0`` (the uplift of a contact to a customer with no recent
   contact) is the average of ``u_campaign`` weighted by treated members. The model
   assumes that the response *without* contact does not change with ``n``; the slope
   ``beta`` of a model with ``+ beta * n`` is always estimated and tested, ``describe()``
   warns when it is significant, and ``control_trend=True`` puts it into the model (a
   cautious estimate with a much wider interval: on the 50k demo world the interval of
   ``k`` is about 0.35 wide instead of 0.25).

The decay curve ``u(n) = u0 * exp(-k n)`` gives the recommended cap: a contact to a
customer who already had ``n`` contacts in the window is expected to earn
``u(n) * value_per_response`` and costs ``cost_per_contact``; it pays while
``u(n) * value >= cost``. The **recommended cap** is the number of contacts in any
``window_days`` that still pay — the smallest ``n`` for which the next contact does not,
``floor(ln(u0 * value / cost) / k) + 1`` (0 when even the first contact does not pay).
The **saturation point** is the number of contacts after which a further contact earns
less than 10 % of a first contact's uplift, ``ceil(ln 10 / k)``: by then 90 % of the
incremental response contacts in the window can ever raise has been reached.

The contact time of a treated member is ``contacted_at``; control members were never
contacted, so their would-be contact time is the campaign start plus the median delay of
the campaign's treated contacts. The member's own campaign contact is never counted in
``n``. Members that cannot be used (no outcome, no contact time) are set aside with a
reason and counted in :attr:`FatigueCurve.set_aside`.

>>> from crmkit.synth import demo_world
>>> fc = fatigue_curve(demo_world(3_000, seed=2).data, value_per_response=50, cost_per_contact=0.5)
>>> list(fc.to_frame().columns[:4])
['n_recent_contacts', 'label', 'treated_n', 'treated_responses']
>>> fc.n_members == fc.n_treated + fc.n_control
True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError

__all__ = ["FatigueCurve", "fatigue_curve"]

_SATURATION_SHARE = 0.1  # a contact earning less than this share of a first contact's uplift is "saturated"
_N_DRAWS = 2_000  # coefficient draws for the smooth curve's band
_BLUE, _GREY, _ORANGE = "#2563eb", "#6b7280", "#ea580c"


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class FatigueCurve:
    """Response to a contact as a function of recent contacts, measured from history.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per bin of recent contacts (see :meth:`to_frame`).
    curve : pandas.DataFrame
        One row per whole ``n`` from 0 to ``max_contacts``: ``uplift_smooth`` with
        ``uplift_smooth_low``/``high`` (logistic spline fit, 95 % band), ``treated_smooth``,
        ``control_smooth`` (fitted response rates) and ``uplift_decay`` (``u0 * exp(-k n)``).
    fit : statsmodels GLMResults
        The logistic fit with spline terms (aggregated binomial rows).
    decay_fit : statsmodels GLMResults
        The identity-link fit at the estimated ``k``.
    k, k_low, k_high : float
        Fatigue rate per recent contact (the uplift is multiplied by ``exp(-k)`` for each
        contact in the window) and its 95 % profile-likelihood interval (``inf`` when the
        data cannot bound it above).
    u0, u0_low, u0_high : float
        Uplift (added response probability) of a contact to a customer with no contact in
        the window, with a 95 % Wald interval given ``k``.
    recommended_cap : int or None
        Contacts in any ``window_days`` that still pay (see the module docstring); ``None``
        when no value or cost is known, when the data show no fatigue (``k <= 0``) or when
        more than ``window_days`` contacts (one a day) would still pay: no limit in practice.
    cap_low, cap_high : int or None
        The cap at the ends of ``k``'s interval (with ``u0`` refitted there).
    saturation_point : int or None
        Contacts in the window after which a further contact earns less than 10 % of a
        first contact's uplift.
    value_per_response, cost_per_contact : float
        The money the cap is computed with (from the data unless given; see ``value_source``).
    window_days, max_contacts, confidence, currency
    n_members, n_treated, n_control : int
        Campaign members used (treated + control = members used).
    set_aside : pandas.DataFrame
        ``reason``, ``rows``: campaign members that could not be used.
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    fit: object
    decay_fit: object
    k: float
    k_low: float
    k_high: float
    u0: float
    u0_low: float
    u0_high: float
    control_trend: bool
    beta_control: float
    beta_low: float
    beta_high: float
    beta_pvalue: float
    recommended_cap: int | None
    cap_low: int | None
    cap_high: int | None
    saturation_point: int | None
    value_per_response: float
    cost_per_contact: float
    value_source: str
    window_days: int
    max_contacts: int
    confidence: float
    currency: str
    n_members: int
    n_treated: int
    n_control: int
    n_observed_max: int
    set_aside: pd.DataFrame
    _profile: pd.DataFrame = field(repr=False, default=None)
    _campaign_weights: pd.Series = field(repr=False, default=None)

    # ---------------------------------------------------------------- caps
    def uplift(self, n) -> np.ndarray:
        """The decay curve ``u0 * exp(-k n)``: expected added responses of one contact
        to a customer with ``n`` contacts in the window."""
        return self.u0 * np.exp(-self.k * np.asarray(n, dtype=float))

    def cap_for(self, cost_per_contact: float, value_per_response: float | None = None) -> int | None:
        """Contacts in any ``window_days`` that still pay at this cost (and value per response).

        ``None`` when the data show no fatigue (``k <= 0``: every contact pays as much as the
        first) or when more than one contact a day over ``window_days`` would still pay.
        """
        value = self.value_per_response if value_per_response is None else _positive(value_per_response, "value_per_response")
        cost = _positive(cost_per_contact, "cost_per_contact", allow_zero=True)
        return _cap(self.u0, self.k, value, cost, self.window_days)

    def caps(self, costs) -> pd.DataFrame:
        """Recommended caps for several costs per contact (e.g. per channel).

        ``costs``: a mapping or Series name → cost per contact. Returns ``channel``,
        ``cost_per_contact``, ``cap`` and ``cap_low``/``cap_high`` (over ``k``'s interval;
        nullable integers, missing = no limit); ``extrapolated`` is True when the cap lies
        beyond the largest contact count seen in the data (it then rests on the exponential
        form alone); ``cap_text`` and ``range_text`` say the same in words.
        """
        items = dict(costs.items()) if hasattr(costs, "items") else dict(costs)
        rows = []
        for name, cost in items.items():
            c = _positive(cost, "cost_per_contact", allow_zero=True)
            cap = self.cap_for(c)
            lo, hi = self._cap_range(self.value_per_response, c)
            if cap is None:
                text = "no limit"
            elif cap == 0:
                text = "0 (not even a first contact pays)"
            else:
                text = f"{cap}" + (" (beyond the data)" if cap > self.n_observed_max else "")
            rows.append({
                "channel": name, "cost_per_contact": c, "cap": cap, "cap_low": lo, "cap_high": hi,
                "extrapolated": cap is None or cap > self.n_observed_max, "cap_text": text,
                "range_text": f"{'no limit' if lo is None else lo} to {'no limit' if hi is None else hi}",
            })
        out = pd.DataFrame(rows)
        for col in ("cap", "cap_low", "cap_high"):
            out[col] = pd.array([None if pd.isna(v) else int(v) for v in out[col]], dtype="Int64")
        return out

    def _cap_range(self, value: float, cost: float) -> tuple[int | None, int | None]:
        """The cap at the upper end of ``k``'s interval (fewest contacts) and at the lower
        end (most; ``None`` = no limit, when the interval reaches ``k <= 0``)."""
        prof = self._profile
        if prof is None or prof.empty or not np.isfinite(value) or not np.isfinite(cost):
            return None, None

        def at(kk: float):
            u = float(np.interp(kk, prof["k"], prof["u0"]))
            return _cap(u, kk, value, cost, self.window_days)

        if np.isfinite(self.k_high):
            low = at(self.k_high)
        else:
            low = 1 if self.u0 * value >= cost else 0
        high = at(self.k_low) if np.isfinite(self.k_low) else None
        return low, high

    # ---------------------------------------------------------------- views
    def to_frame(self) -> pd.DataFrame:
        """One row per bin of recent contacts.

        ``n_recent_contacts`` (the last bin holds this many or more; ``label`` says so),
        ``treated_n``/``treated_responses``/``treated_rate`` with Wilson ``treated_low``/
        ``treated_high``, the same for ``control_``, ``uplift`` (treated minus control rate)
        with Newcombe ``uplift_low``/``uplift_high``, and the fitted curves at the bin:
        ``uplift_smooth`` (logistic spline) and ``uplift_decay`` (``u0 exp(-k n)``).
        """
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """The headline numbers with their intervals and what each means."""
        c = self.currency
        pct = f"{self.confidence:.0%}"
        rows = [
            ("fatigue rate k", self.k, self.k_low, self.k_high,
             f"each contact in the previous {self.window_days} days multiplies the uplift of the next one by exp(-k) = "
             f"{math.exp(-self.k):.2f} ({pct} profile-likelihood interval)"),
            ("uplift of a first contact", self.u0, self.u0_low, self.u0_high,
             "added response probability of a contact to a customer with no contact in the window"),
            ("control trend per contact", self.beta_control, self.beta_low, self.beta_high,
             f"change in the response rate WITHOUT contact per recent contact (selection, not fatigue; "
             f"p = {self.beta_pvalue:.2f}; {'in' if self.control_trend else 'not in'} the decay model)"),
            ("recommended cap", _num(self.recommended_cap), _num(self.cap_low), _num(self.cap_high),
             f"contacts in any {self.window_days} days that still pay at {_money(self.cost_per_contact, c, 3)} per contact "
             f"and {_money(self.value_per_response, c, 2)} per response (range over k's interval)"),
            ("saturation point", _num(self.saturation_point), np.nan, np.nan,
             "contacts after which a further one earns less than 10% of a first contact's uplift"),
            ("campaign members used", self.n_members, np.nan, np.nan,
             f"{self.n_treated:,} treated and {self.n_control:,} control; {int(self.set_aside['rows'].sum()):,} set aside"),
        ]
        return pd.DataFrame(rows, columns=["quantity", "estimate", "low", "high", "meaning"])

    def describe(self) -> str:
        """The result in sentences a business reader understands."""
        c = self.currency
        parts = [
            f"Measured on {self.n_members:,} campaign members ({self.n_treated:,} contacted, {self.n_control:,} held out), "
            f"a first contact raises the chance of a response by {self.u0:.1%} "
            f"({self.confidence:.0%} interval {self.u0_low:.1%} to {self.u0_high:.1%}).",
        ]
        if self.k > 0:
            hi = "an unbounded value" if not np.isfinite(self.k_high) else f"{self.k_high:.2f}"
            parts.append(
                f"Each contact the customer got in the previous {self.window_days} days cuts the effect of the next one "
                f"by {1 - math.exp(-self.k):.0%} (fatigue rate k = {self.k:.2f}, interval {self.k_low:.2f} to {hi})."
            )
        else:
            parts.append(
                f"The data show no fatigue: the effect of a contact does not fall with the contacts before it "
                f"(k = {self.k:.2f}, interval {self.k_low:.2f} to {self.k_high:.2f})."
            )
        if not self.control_trend and np.isfinite(self.beta_pvalue) and self.beta_pvalue < 0.05:
            parts.append(
                f"Caution: customers who had more recent contacts also respond differently without a contact "
                f"({self.beta_control:+.2%} per contact, p = {self.beta_pvalue:.3f}), so part of the slope may be "
                "selection rather than fatigue; refit with control_trend=True for the cautious estimate."
            )
        if self.saturation_point is not None:
            parts.append(
                f"After {self.saturation_point} contacts in {self.window_days} days a further contact earns less than "
                f"a tenth of what the first one did."
            )
        if self.recommended_cap is not None:
            rng = ""
            if self.cap_low is not None:
                rng = f" (between {self.cap_low} and {self.cap_high if self.cap_high is not None else 'no limit'} over k's interval)"
            extra = ""
            if self.recommended_cap > self.n_observed_max:
                extra = (f" This is beyond the {self.n_observed_max} contacts seen in the data, so it rests on the "
                         "exponential shape of the curve.")
            parts.append(
                f"At {_money(self.value_per_response, c, 2)} per response ({self.value_source}) and "
                f"{_money(self.cost_per_contact, c, 3)} per contact, contacts pay up to {self.recommended_cap} in any "
                f"{self.window_days} days{rng}; beyond that a contact costs more than the response it adds.{extra}"
            )
        elif np.isfinite(self.value_per_response) and np.isfinite(self.cost_per_contact):
            parts.append(
                f"At {_money(self.value_per_response, c, 2)} per response and {_money(self.cost_per_contact, c, 3)} per "
                f"contact, even one contact a day would still pay: fatigue sets no practical cap at this cost."
            )
        return " ".join(parts)

    def plot(self, ax=None):
        """Uplift against recent contacts: binned differences with Newcombe intervals, the
        logistic spline fit with its band, and the exponential decay; the cap as a line.

        ``ax``: a plotly figure to draw into (default: a new one). Returns the figure.
        """
        import plotly.graph_objects as go

        fig = ax if ax is not None else go.Figure()
        t, cv = self.table, self.curve
        fig.add_trace(go.Scatter(
            x=list(cv["n_recent_contacts"]) + list(cv["n_recent_contacts"])[::-1],
            y=list(cv["uplift_smooth_high"] * 100) + list(cv["uplift_smooth_low"] * 100)[::-1],
            mode="lines", fill="toself", fillcolor="rgba(37,99,235,0.14)", line={"width": 0}, hoverinfo="skip",
            name=f"logistic fit, {self.confidence:.0%} band"))
        fig.add_trace(go.Scatter(x=cv["n_recent_contacts"], y=cv["uplift_smooth"] * 100, mode="lines",
                                 line={"color": _BLUE, "width": 2}, name="logistic fit (spline)"))
        fig.add_trace(go.Scatter(x=cv["n_recent_contacts"], y=cv["uplift_decay"] * 100, mode="lines",
                                 line={"color": _ORANGE, "width": 2, "dash": "dash"},
                                 name=f"u0·exp(−k n), k = {self.k:.2f}"))
        fig.add_trace(go.Scatter(
            x=t["n_recent_contacts"], y=t["uplift"] * 100, mode="markers",
            # bins with few held-out members (under 30) in grey: their difference is barely measured
            marker={"color": np.where(t["control_n"] >= 30, "#111827", "#9ca3af").tolist(), "size": 9},
            error_y={"type": "data", "symmetric": False, "array": (t["uplift_high"] - t["uplift"]) * 100,
                     "arrayminus": (t["uplift"] - t["uplift_low"]) * 100, "color": _GREY},
            text=t["label"], customdata=np.c_[t["treated_n"], t["control_n"]],
            hovertemplate="%{text} recent contacts<br>uplift %{y:.1f} points<br>%{customdata[0]:,} treated, "
                          "%{customdata[1]:,} control<extra></extra>",
            name="measured (treated − control)"))
        fig.add_hline(y=0, line={"color": _GREY, "width": 1})
        if self.recommended_cap is not None and self.recommended_cap <= self.max_contacts + 1:
            fig.add_vline(x=self.recommended_cap - 0.5, line={"color": "#16a34a", "dash": "dot"},
                          annotation_text=f"cap: {self.recommended_cap}", annotation_position="top right")
        fig.update_layout(
            title=f"Fatigue: uplift of a contact by contacts in the previous {self.window_days} days"
                  f"<br><sup>points: measured with {self.confidence:.0%} Newcombe intervals (grey: under 30 held out); "
                  f"last point: {self.max_contacts} or more</sup>",
            xaxis_title=f"Outbound contacts in the previous {self.window_days} days",
            yaxis_title="Uplift (percentage points)", template="plotly_white", height=440,
            legend={"orientation": "h", "y": -0.22}, margin={"l": 60, "r": 20, "t": 70, "b": 40},
        )
        fig.update_xaxes(dtick=1)
        # Scale the axis to the curves and the measured points, not to the widest interval
        # (a bin with a handful of held-out members would squash everything else).
        vals = np.r_[cv["uplift_smooth_low"], cv["uplift_smooth_high"], cv["uplift_decay"], t["uplift"]] * 100
        vals = vals[np.isfinite(vals)]
        if len(vals):
            lo, hi = min(vals.min(), 0.0), max(vals.max(), 0.0)
            pad = 0.25 * (hi - lo) if hi > lo else 1.0
            fig.update_yaxes(range=[lo - pad, hi + pad])
        return fig

    def __repr__(self) -> str:
        return (f"FatigueCurve(k={self.k:.3f} [{self.k_low:.3f}, {self.k_high:.3f}], u0={self.u0:.4f}, "
                f"recommended_cap={self.recommended_cap}, members={self.n_members})")


# ----------------------------------------------------------------------------- helpers
def _num(v):
    return np.nan if v is None else float(v)


def _money(v: float, currency: str, decimals: int) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    text = f"{v:,.{decimals}f}"
    if not currency:
        return text
    return f"{currency}{text}" if len(currency) == 1 else f"{text} {currency}"


def _positive(v, name: str, *, allow_zero: bool = False) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        x = np.nan
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ParameterError(f"{name}: expected a number {'≥' if allow_zero else '>'} 0, found {v!r}.")
    return x


def _cap(u0: float, k: float, value: float, cost: float, limit: int = 10_000) -> int | None:
    """Contacts in the window that pay: #{n ≥ 0 : u0 exp(-k n) value ≥ cost}; ``None`` when
    there is no finite cap (no fatigue) or it exceeds ``limit``."""
    if not (np.isfinite(u0) and np.isfinite(k) and np.isfinite(value) and np.isfinite(cost)):
        return None
    gain = u0 * value
    if gain <= 0 or gain < cost:
        return 0
    if k <= 0 or cost <= 0:
        return None
    cap = int(math.floor(math.log(gain / cost) / k + 1e-12)) + 1
    return None if cap > limit else cap


def _saturation(k: float) -> int | None:
    if not np.isfinite(k) or k <= 0:
        return None
    return int(math.ceil(math.log(1.0 / _SATURATION_SHARE) / k - 1e-12))


def _table(data, name: str, required: list[str]) -> pd.DataFrame:
    frame = data.get(name) if isinstance(data, dict) else getattr(data, name, None)
    if frame is None:
        raise DataValidationError(
            f"{name}: fatigue_curve needs the {name} table (columns {', '.join(required)}); it is missing."
        )
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{name}: fatigue_curve needs the column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}."
        )
    return frame


def _days(values) -> np.ndarray:
    """Datetimes as float days since the epoch (NaT → nan)."""
    t = pd.to_datetime(pd.Series(values), errors="coerce")
    out = t.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float) / 86_400e9
    out[t.isna().to_numpy()] = np.nan
    return out


# ----------------------------------------------------------------------------- measuring n
def _members_with_n(data, window_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaign members with their contact time and recent outbound contacts; rows set aside."""
    mem = _table(data, "campaign_members", ["campaign_id", "customer_id", "group", "converted"])
    camp = _table(data, "campaigns", ["campaign_id", "start"])
    inter = _table(data, "interactions", ["customer_id", "at", "direction"])
    n_in = len(mem)
    reasons: dict[str, int] = {}

    m = pd.DataFrame(
        {
            "campaign_id": mem["campaign_id"].astype("string").to_numpy(dtype=object),
            "customer_id": mem["customer_id"].astype("string").to_numpy(dtype=object),
            "group": mem["group"].astype("string").str.strip().str.lower().to_numpy(dtype=object),
            "t": _days(mem["contacted_at"]) if "contacted_at" in mem.columns else np.full(n_in, np.nan),
        }
    )
    conv = pd.Series(mem["converted"]).reset_index(drop=True)
    # booleans (and 0/1, which hash like them) or the words true/false; anything else is missing
    conv_num = pd.to_numeric(conv.astype("object").map({True: 1, False: 0, "true": 1, "false": 0}), errors="coerce")
    m["converted"] = conv_num.to_numpy(dtype=float)
    m["treated"] = (m["group"] != "control").astype(int)
    if "revenue" in mem.columns:
        m["revenue"] = pd.to_numeric(pd.Series(mem["revenue"]).reset_index(drop=True), errors="coerce").to_numpy()

    bad = m["converted"].isna() | m["group"].isna() | m["customer_id"].isna() | m["campaign_id"].isna()
    if bad.any():
        reasons["no outcome, group or id"] = int(bad.sum())
        m = m[~bad]

    # The (would-be) contact time: treated → contacted_at; control → campaign start + the
    # median delay of the campaign's treated contacts.
    starts = pd.Series(_days(camp["start"]), index=camp["campaign_id"].astype("string").to_numpy(dtype=object))
    starts = starts[~starts.index.duplicated()]
    m["start"] = m["campaign_id"].map(starts).astype(float)
    delay = (m["t"] - m["start"])[m["treated"] == 1].groupby(m["campaign_id"]).median()
    median_t = m.loc[m["treated"] == 1, "t"].groupby(m["campaign_id"]).median()
    fill = m["start"] + m["campaign_id"].map(delay).fillna(0.0).astype(float)
    fill = fill.where(fill.notna(), m["campaign_id"].map(median_t).astype(float))
    m["ref"] = np.where(m["treated"] == 1, m["t"].fillna(fill), fill)
    no_time = m["ref"].isna()
    if no_time.any():
        reasons["no contact time (campaign without start and without contacted members)"] = int(no_time.sum())
        m = m[~no_time]
    if m.empty:
        raise DataValidationError("campaign_members: no member with an outcome and a contact time; fatigue cannot be measured.")

    # Outbound contacts strictly before the reference time, within the window.
    direction = inter["direction"].astype("string").str.lower()
    out = inter[(direction == "outbound").fillna(False).to_numpy()]
    o_cust = out["customer_id"].astype("string").to_numpy(dtype=object)
    o_t = _days(out["at"])
    keep = ~np.isnan(o_t)
    o_cust, o_t = o_cust[keep], o_t[keep]
    o_camp = (out["campaign_id"].astype("string").to_numpy(dtype=object)[keep]
              if "campaign_id" in out.columns else np.full(len(o_t), None, dtype=object))
    codes, _ = pd.factorize(np.concatenate([o_cust, m["customer_id"].to_numpy(dtype=object)]))
    oc, mc = codes[: len(o_cust)].astype(float), codes[len(o_cust):].astype(float)
    lo_t = float(np.nanmin(np.concatenate([o_t, m["ref"].to_numpy()]))) - window_days - 1.0
    hi_t = float(np.nanmax(np.concatenate([o_t, m["ref"].to_numpy()]))) + 1.0
    stride = 2.0 * (hi_t - lo_t + window_days + 2.0)
    keys = np.sort(oc * stride + (o_t - lo_t))
    q = mc * stride + (m["ref"].to_numpy() - lo_t)
    n = np.searchsorted(keys, q, side="left") - np.searchsorted(keys, q - window_days, side="left")

    # Never count the member's own campaign contact (it may be logged a moment before contacted_at).
    own = pd.DataFrame({"customer_id": o_cust, "campaign_id": o_camp, "at": o_t}).dropna(subset=["campaign_id"])
    if len(own):
        key = m[["customer_id", "campaign_id", "ref"]].reset_index()
        hit = key.merge(own, on=["customer_id", "campaign_id"], how="inner")
        hit = hit[(hit["at"] < hit["ref"]) & (hit["at"] >= hit["ref"] - window_days)]
        if len(hit):
            sub = hit.groupby("index").size()
            pos = m.index.get_indexer(sub.index)
            n[pos] -= sub.to_numpy()
    m["n"] = n.astype(int)
    set_aside = pd.DataFrame({"reason": list(reasons), "rows": list(reasons.values())}, columns=["reason", "rows"])
    return m.reset_index(drop=True), set_aside


# ----------------------------------------------------------------------------- fits
def _aggregate(m: pd.DataFrame) -> pd.DataFrame:
    agg = m.groupby(["campaign_id", "treated", "n"], observed=True)["converted"].agg(["sum", "count"]).reset_index()
    agg = agg.rename(columns={"sum": "x", "count": "m"})
    agg["fails"] = agg["m"] - agg["x"]
    agg["campaign"] = agg["campaign_id"].astype(str)
    return agg


def _decay_design(agg: pd.DataFrame, k: float, campaigns: list[str], trend: bool) -> np.ndarray:
    cols = []
    onehot = (agg["campaign"].to_numpy()[:, None] == np.asarray(campaigns)[None, :]).astype(float)
    cols.append(onehot)
    if trend:
        cols.append(agg["n"].to_numpy(dtype=float)[:, None])
    decay = np.exp(-k * agg["n"].to_numpy(dtype=float)) * agg["treated"].to_numpy(dtype=float)
    cols.append(onehot * decay[:, None])
    return np.hstack(cols)


def _decay_glm(agg: pd.DataFrame, k: float, campaigns: list[str], trend: bool):
    import statsmodels.api as sm

    endog = agg[["x", "fails"]].to_numpy(dtype=float)
    exog = _decay_design(agg, k, campaigns, trend)
    family = sm.families.Binomial(link=sm.families.links.Identity())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identity link: statsmodels warns it is not the canonical link
        model = sm.GLM(endog, exog, family=family)
        rate = agg.groupby("campaign")[["x", "m"]].sum()
        base = (rate["x"] / rate["m"]).reindex(campaigns).to_numpy()
        start = np.r_[base, [0.0] * trend, np.full(len(campaigns), 0.01)]
        try:
            return model.fit(start_params=start, maxiter=200)
        except Exception:  # noqa: BLE001 - a k where the identity link leaves (0, 1) has no likelihood
            return None


def _profile_k(agg: pd.DataFrame, campaigns: list[str], weights: np.ndarray, confidence: float, trend: bool):
    from scipy.optimize import minimize_scalar
    from scipy.stats import chi2

    n_base = len(campaigns) + int(trend)
    x_succ = agg["x"].to_numpy(dtype=float)
    x_fail = agg["fails"].to_numpy(dtype=float)
    cache: dict[float, object] = {}

    def fit_at(k: float):
        key = round(float(k), 10)
        if key not in cache:
            cache[key] = _decay_glm(agg, k, campaigns, trend)
        return cache[key]

    def ll(k: float) -> float:
        res = fit_at(k)
        if res is None:
            return -np.inf
        # Binomial log-likelihood (without the constant), fitted probabilities kept inside
        # (0, 1): on sparse cells the identity link can step just outside, which must not
        # cut the profile short.
        p = np.clip(np.asarray(res.mu, dtype=float), 1e-9, 1 - 1e-9)
        value = float(np.sum(x_succ * np.log(p) + x_fail * np.log1p(-p)))
        return value if np.isfinite(value) else -np.inf

    grid = np.round(np.arange(-0.5, 3.0001, 0.05), 4)
    lls = np.array([ll(k) for k in grid])
    if not np.isfinite(lls).any():
        raise DataValidationError("campaign_members: the exponential fatigue model could not be fitted to these data.")
    i = int(np.nanargmax(lls))
    lo_b, hi_b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    opt = minimize_scalar(lambda k: -ll(k) if np.isfinite(ll(k)) else 1e300, bounds=(lo_b, hi_b), method="bounded", options={"xatol": 1e-4})
    k_hat = float(opt.x) if -opt.fun >= lls[i] else float(grid[i])
    ll_max = ll(k_hat)
    crit = float(chi2.ppf(confidence, 1)) / 2.0

    def g(k):
        return ll_max - ll(k) - crit

    def outside(k: float) -> bool:
        val = g(k)
        return not np.isfinite(val) or val > 0  # -inf likelihood (probabilities leave [0, 1]) is outside too

    def bound(direction: int) -> float:
        inner = k_hat
        for step in np.arange(0.05, 3.51, 0.05):
            outer = k_hat + direction * step
            if outside(outer):
                for _ in range(40):  # bisection: g may be infinite, so no brentq
                    mid = (inner + outer) / 2
                    if outside(mid):
                        outer = mid
                    else:
                        inner = mid
                    if abs(outer - inner) < 1e-4:
                        break
                return float((inner + outer) / 2)
            inner = outer
        return direction * np.inf

    k_low, k_high = bound(-1), bound(+1)
    # u0 along the profile (for the cap's range), from the fits already made.
    prof_rows = []
    for key, res in sorted(cache.items()):
        if res is not None:
            prof_rows.append((key, ll(key), float(weights @ res.params[n_base:])))
    profile = pd.DataFrame(prof_rows, columns=["k", "llf", "u0"])
    return k_hat, k_low, k_high, fit_at(k_hat), profile


def _spline_fit(agg: pd.DataFrame, df: int):
    """Logistic GLM with spline terms; returns (result, patsy design_info)."""
    import statsmodels.api as sm
    from patsy import dmatrix

    rhs = f"C(campaign) + cr(n, df={df}, constraints='center') + treated:cr(n, df={df})"
    if df < 3:
        rhs = "C(campaign) + n + treated + treated:n"
    X = dmatrix(rhs, agg, return_type="dataframe")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(agg[["x", "fails"]].to_numpy(dtype=float), X, family=sm.families.Binomial()).fit()
    return res, X.design_info


def _spline_curve(fit, design_info, campaigns: list[str], weights: np.ndarray, grid: np.ndarray, confidence: float, seed: int = 0):
    """Uplift (treated − control) averaged over the campaign mix, with a simulation band."""
    from patsy import build_design_matrices
    from scipy.special import expit

    rows = pd.DataFrame(
        [(c, t, float(n)) for t in (1, 0) for c in campaigns for n in grid], columns=["campaign", "treated", "n"]
    )
    (X,) = build_design_matrices([design_info], rows, return_type="dataframe")
    X = X.to_numpy()
    params = fit.params.to_numpy()
    cov = fit.cov_params().to_numpy()
    rng = np.random.default_rng(seed)
    draws = np.vstack([params, rng.multivariate_normal(params, cov, size=_N_DRAWS, method="svd")])
    p = expit(draws @ X.T)  # draws × rows
    nc, ng = len(campaigns), len(grid)
    pt = p[:, : nc * ng].reshape(-1, nc, ng)
    pc = p[:, nc * ng:].reshape(-1, nc, ng)
    w = weights[None, :, None]
    treated = (pt * w).sum(axis=1)
    control = (pc * w).sum(axis=1)
    up = treated - control
    a = (1 - confidence) / 2
    return {
        "uplift_smooth": up[0],
        "uplift_smooth_low": np.quantile(up[1:], a, axis=0),
        "uplift_smooth_high": np.quantile(up[1:], 1 - a, axis=0),
        "treated_smooth": treated[0],
        "control_smooth": control[0],
    }


def _bins(m: pd.DataFrame, max_contacts: int, confidence: float) -> pd.DataFrame:
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        proportion_confint,
    )

    nb = np.minimum(m["n"].to_numpy(), max_contacts)
    g = pd.DataFrame({"bin": nb, "treated": m["treated"].to_numpy(), "y": m["converted"].to_numpy()})
    agg = g.groupby(["bin", "treated"])["y"].agg(["sum", "count"]).unstack("treated", fill_value=0)
    rows = []
    alpha = 1 - confidence
    for b in range(max_contacts + 1):
        xt = float(agg.loc[b, ("sum", 1)]) if b in agg.index and ("sum", 1) in agg.columns else 0.0
        nt = float(agg.loc[b, ("count", 1)]) if b in agg.index and ("count", 1) in agg.columns else 0.0
        xc = float(agg.loc[b, ("sum", 0)]) if b in agg.index and ("sum", 0) in agg.columns else 0.0
        nc = float(agg.loc[b, ("count", 0)]) if b in agg.index and ("count", 0) in agg.columns else 0.0
        rt = xt / nt if nt else np.nan
        rc = xc / nc if nc else np.nan
        tl, th = proportion_confint(xt, nt, alpha=alpha, method="wilson") if nt else (np.nan, np.nan)
        cl, ch = proportion_confint(xc, nc, alpha=alpha, method="wilson") if nc else (np.nan, np.nan)
        if nt and nc:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ul, uh = confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff", alpha=alpha)
        else:
            ul, uh = np.nan, np.nan
        rows.append({
            "n_recent_contacts": b,
            "label": f"{b}+" if b == max_contacts and (m["n"] > max_contacts).any() else str(b),
            "treated_n": int(nt), "treated_responses": int(xt), "treated_rate": rt,
            "treated_low": float(tl), "treated_high": float(th),
            "control_n": int(nc), "control_responses": int(xc), "control_rate": rc,
            "control_low": float(cl), "control_high": float(ch),
            "uplift": rt - rc, "uplift_low": float(ul), "uplift_high": float(uh),
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- public
def fatigue_curve(
    data,
    *,
    window_days: int = 30,
    max_contacts: int | None = None,
    value_per_response: float | None = None,
    cost_per_contact: float | None = None,
    confidence: float = 0.95,
    currency: str = "£",
    control_trend: bool = False,
    random_state: int = 0,
) -> FatigueCurve:
    """Response to a contact as a function of the contacts just before it, from history.

    Parameters
    ----------
    data : CRMData or dict of DataFrames
        ``campaign_members`` (campaign_id, customer_id, group — ``"control"`` or a
        treatment arm —, converted, contacted_at; revenue optional), ``campaigns``
        (campaign_id, start; cost_per_contact optional) and ``interactions``
        (customer_id, at, direction; campaign_id optional).
    window_days : int, default 30
        Contacts count when they fall in this many days before the contact time.
    max_contacts : int, optional
        The last bin of the table collects this many contacts or more; default the
        smallest count that fewer than 1 % of members exceed (at least 1).
    value_per_response : float, optional
        Money a response brings; default the mean revenue of converted treated members.
    cost_per_contact : float, optional
        Cost of one contact; default the treated members' average campaign cost per contact.
    confidence : float, default 0.95
        Level of every interval.
    currency : str, default "£"
    control_trend : bool, default False
        Let the response rate *without* contact change linearly with ``n`` in the decay
        model (protects against customers who get more contacts responding differently
        anyway, at the price of a much wider interval for ``k``). Either way the slope is
        estimated and tested (``beta_control``, ``beta_pvalue``) and :meth:`FatigueCurve.describe`
        warns when it is significant.
    random_state : int, default 0
        Seed of the coefficient draws behind the smooth curve's band.

    Returns
    -------
    FatigueCurve
        See the module docstring for the three estimates and the cap.
    """
    from crmkit._intervals import check_confidence

    confidence = check_confidence(confidence)
    if isinstance(window_days, bool) or not isinstance(window_days, (int, np.integer)) or window_days < 1:
        raise ParameterError(f"window_days: expected a whole number of days ≥ 1, found {window_days!r}.")
    if max_contacts is not None and (
        isinstance(max_contacts, bool) or not isinstance(max_contacts, (int, np.integer)) or max_contacts < 1
    ):
        raise ParameterError(f"max_contacts: expected a whole number ≥ 1 or None, found {max_contacts!r}.")

    from crmkit.plan._eligibility import crm_data

    m, set_aside = _members_with_n(crm_data(data), int(window_days))
    n_treated, n_control = int(m["treated"].sum()), int((m["treated"] == 0).sum())
    if n_treated == 0 or n_control == 0:
        raise DataValidationError(
            f"campaign_members.group: fatigue is measured as treated minus control at the same contact count; "
            f"found {n_treated:,} treated and {n_control:,} control members. Campaigns need a control group."
        )
    if m["n"].nunique() < 2:
        raise DataValidationError(
            f"interactions: every campaign member had the same number of recent contacts ({int(m['n'].iloc[0])}); "
            "fatigue cannot be measured without variation."
        )
    if max_contacts is None:
        counts = m["n"].value_counts().sort_index()
        above = 1.0 - counts.cumsum() / counts.sum()
        max_contacts = int(max(1, above.index[np.argmax(above.to_numpy() < 0.01)]))
    max_contacts = int(max_contacts)
    n_observed_max = int(m["n"].max())

    # Money.
    value_source = "given"
    if value_per_response is None:
        rev = m.loc[(m["treated"] == 1) & (m["converted"] == 1), "revenue"] if "revenue" in m else pd.Series(dtype=float)
        rev = rev.dropna()
        value_per_response = float(rev.mean()) if len(rev) else np.nan
        value_source = "mean revenue of converted contacted members" if len(rev) else "unknown"
    else:
        value_per_response = _positive(value_per_response, "value_per_response")
    if cost_per_contact is None:
        camp = data.get("campaigns") if isinstance(data, dict) else data.campaigns
        if "cost_per_contact" in camp.columns:
            cost_map = pd.Series(pd.to_numeric(camp["cost_per_contact"], errors="coerce").to_numpy(),
                                 index=camp["campaign_id"].astype("string").to_numpy(dtype=object))
            cost_map = cost_map[~cost_map.index.duplicated()]
            cost_per_contact = float(m.loc[m["treated"] == 1, "campaign_id"].map(cost_map).mean())
        else:
            cost_per_contact = np.nan
    else:
        cost_per_contact = _positive(cost_per_contact, "cost_per_contact", allow_zero=True)

    # Fits on aggregated binomial rows (campaign × treated × n).
    agg = _aggregate(m)
    campaigns = sorted(agg["campaign"].unique())
    tw = m[m["treated"] == 1].groupby("campaign_id").size()
    tw.index = tw.index.astype(str)
    weights = (tw.reindex(campaigns).fillna(0) / tw.sum()).to_numpy()

    k_hat, k_low, k_high, dfit, profile = _profile_k(agg, campaigns, weights, confidence, bool(control_trend))
    n_base = len(campaigns) + int(bool(control_trend))
    u_params = np.asarray(dfit.params[n_base:])
    u_cov = np.asarray(dfit.cov_params())[n_base:, n_base:]
    u0 = float(weights @ u_params)
    se_u0 = float(np.sqrt(max(weights @ u_cov @ weights, 0.0)))
    from crmkit._intervals import z_value

    z = z_value(confidence)
    # The check on the no-trend assumption: the control rate's slope in n at k-hat (Wald).
    tfit = dfit if control_trend else _decay_glm(agg, k_hat, campaigns, True)
    i_beta = len(campaigns)
    if tfit is not None:
        beta = float(np.asarray(tfit.params)[i_beta])
        beta_se = float(np.asarray(tfit.bse)[i_beta])
        beta_p = float(np.asarray(tfit.pvalues)[i_beta])
    else:
        beta, beta_se, beta_p = np.nan, np.nan, np.nan

    df_spline = int(min(3, m["n"].clip(upper=max_contacts).nunique() - 1))
    agg_s = agg.assign(n=np.minimum(agg["n"], max_contacts)).groupby(["campaign", "treated", "n"], as_index=False)[
        ["x", "fails", "m"]].sum()
    sfit, design_info = _spline_fit(agg_s, df_spline)
    grid = np.arange(0, max_contacts + 1, dtype=float)
    sc = _spline_curve(sfit, design_info, campaigns, weights, grid, confidence, seed=random_state)
    curve = pd.DataFrame({"n_recent_contacts": grid.astype(int), **sc,
                          "uplift_decay": u0 * np.exp(-k_hat * grid)})

    table = _bins(m, max_contacts, confidence)
    table = table.merge(curve[["n_recent_contacts", "uplift_smooth", "uplift_decay"]], on="n_recent_contacts", how="left")

    cap = _cap(u0, k_hat, value_per_response, cost_per_contact, int(window_days))
    result = FatigueCurve(
        table=table, curve=curve, fit=sfit, decay_fit=dfit,
        k=k_hat, k_low=k_low, k_high=k_high,
        u0=u0, u0_low=u0 - z * se_u0, u0_high=u0 + z * se_u0, control_trend=bool(control_trend),
        beta_control=beta, beta_low=beta - z * beta_se, beta_high=beta + z * beta_se, beta_pvalue=beta_p,
        recommended_cap=cap, cap_low=None, cap_high=None, saturation_point=_saturation(k_hat),
        value_per_response=float(value_per_response), cost_per_contact=float(cost_per_contact),
        value_source=value_source, window_days=int(window_days), max_contacts=max_contacts,
        confidence=confidence, currency=currency, n_members=len(m), n_treated=n_treated, n_control=n_control,
        n_observed_max=n_observed_max, set_aside=set_aside, _profile=profile,
        _campaign_weights=pd.Series(weights, index=campaigns),
    )
    lo, hi = result._cap_range(float(value_per_response), float(cost_per_contact)) if cap is not None else (None, None)
    object.__setattr__(result, "cap_low", lo)
    object.__setattr__(result, "cap_high", hi)
    return result
