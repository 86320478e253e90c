"""A seeded demo world with known truth: a fictional UK retailer over about three years.

:func:`demo_world` builds all eight canonical tables (:mod:`crmkit.schema`) and records
what it planted in :class:`DemoTruth`, so every analysis in crmkit can be checked
against the truth it should recover:

- latent customer **segments** with a BG/NBD buying process (λ ~ Gamma(r, alpha),
  dropout p ~ Beta(a, b)) and a Gamma-Gamma spend process (p, q, v), **time unit: days**;
- **churn drivers**: the dropout probability is raised, on the logit scale, by bad
  service (a ticket rated 1–2, a missed SLA, the number of tickets);
- **campaigns** with randomised control groups, an uplift that differs by segment and one
  campaign with two treatment arms;
- **contact fatigue**: a contact's uplift is multiplied by ``exp(-k * n)`` where ``n`` is
  the number of outbound contacts the customer got in the previous 30 days;
- **consents** with known opt-out shares (campaigns and newsletters only go to customers
  who granted the channel);
- **duplicate customers** with realistic typos;
- a **sales pipeline** with known stage conversion rates and **service tickets** with SLA
  first-response targets.

All draws come from one ``numpy.random.default_rng(seed)`` split with ``spawn``; Faker is
seeded from it. The same ``seed`` gives the identical world (with the same versions of
numpy and Faker).

Simplifications worth knowing: the ``transactions`` table is the BG/NBD / Gamma-Gamma
stream only (campaign conversions and their revenue live in ``campaign_members``, so
CLV models can recover the planted parameters); a campaign's baseline conversion does
not depend on whether the customer is still alive; consent is today's state and
campaigns honour it for their whole history; every person makes a first purchase.

>>> world = demo_world(500, seed=1)
>>> world.data.customers.shape[0]
500
>>> sorted(world.truth.segment_params.index)
['bargain', 'occasional', 'one-off', 'regular', 'vip']
>>> world.data.integrity_problems()
{}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crmkit import _synth_people as _people
from crmkit.errors import ParameterError
from crmkit.schema import CONTACT_CHANNELS, DTYPES, TABLES, TOUCHPOINT_CHANNELS, CRMData

__all__ = ["demo_world", "DemoWorld", "DemoTruth", "SEGMENTS"]


# --- the planted truth (module constants; DemoTruth carries copies) -------------------

SEGMENTS: tuple[str, ...] = ("vip", "regular", "occasional", "bargain", "one-off")

# share of people; BG/NBD r, alpha (days); dropout Beta(a, b); Gamma-Gamma p, q, v;
# expected number of service tickets over a customer's life.
#
# The segments are behaviourally distinct, as a consultant would describe them, so that a
# segmentation can be checked against them (the Bayes-optimal assignment from these
# parameters agrees with them at an adjusted Rand index of about 0.98 on 100,000 customers):
#   vip         ~24 orders a year (λ mean r/alpha = 1/15 per day), ~£90 an order, in the app,
#               fashion and electronics;
#   regular     ~15 orders a year, ~£65, in store, home and beauty;
#   occasional  ~2 orders a year, ~£35, online, toys;
#   bargain     ~24 orders a year, ~£18 baskets, grocery, in the app (its vouchers) or online;
#   one-off     one order (~85 % never repeat: λ mean 0.22 a year, very uneven), ~£150, online,
#               electronics.
# Noise stays realistic: λ varies ±30 % within a segment (Gamma shape 8-10), order values
# ±30 % around a customer's own mean, which varies ±20 % (Gamma-Gamma p 10-12, q 21-25);
# dropout p ~ Beta(0.5, b) is uneven (most customers stay, a few leave early) and about 20 %
# of the vip, regular, occasional and bargain customers have left by the end; sign-ups
# grow over the window, so many customers have a short history. Shape parameters are
# kept where the BG/NBD and Gamma-Gamma fits can still identify them (tests/test_clv.py).
_SEGMENT_PARAMS = pd.DataFrame(
    {
        "share": [0.08, 0.30, 0.30, 0.17, 0.15],
        "r": [8.0, 10.0, 10.0, 10.0, 0.3],
        "alpha": [120.0, 240.0, 1800.0, 150.0, 500.0],
        "a": [0.5, 0.5, 0.5, 0.5, 2.0],
        "b": [60.0, 50.0, 4.5, 60.0, 2.0],
        "p": [12.0, 12.0, 10.0, 10.0, 10.0],
        "q": [25.0, 25.0, 21.0, 21.0, 21.0],
        "v": [180.0, 130.0, 70.0, 36.0, 300.0],
        "ticket_rate": [0.8, 1.0, 0.5, 0.8, 0.3],
    },
    index=pd.Index(SEGMENTS, name="segment"),
)

REGIONS = ("North", "South", "East", "West", "Central")
_REGION_SHARES = (0.22, 0.28, 0.15, 0.17, 0.18)
ACQUISITION_CHANNELS = ("organic", "paid_search", "social", "referral", "store")
_ACQUISITION_SHARES = (0.30, 0.25, 0.20, 0.10, 0.15)

CATEGORIES = ("fashion", "home", "electronics", "beauty", "grocery", "toys")
_CATEGORY_MIX = np.array(
    [
        [0.50, 0.04, 0.35, 0.07, 0.02, 0.02],  # vip: fashion and electronics
        [0.05, 0.50, 0.02, 0.38, 0.03, 0.02],  # regular: home and beauty
        [0.18, 0.04, 0.03, 0.12, 0.03, 0.60],  # occasional: toys
        [0.02, 0.05, 0.01, 0.05, 0.85, 0.02],  # bargain: grocery
        [0.07, 0.08, 0.75, 0.03, 0.02, 0.05],  # one-off: electronics
    ]
)
SALES_CHANNELS = ("online", "store", "app")
_SALES_CHANNEL_MIX = np.array(
    [
        [0.15, 0.05, 0.80],  # vip: the app
        [0.08, 0.85, 0.07],  # regular: the store
        [0.85, 0.08, 0.07],  # occasional: online
        [0.30, 0.05, 0.65],  # bargain: the app (its vouchers)
        [0.75, 0.20, 0.05],  # one-off: online
    ]
)
_VISIT_CHANNEL = {"online": "web", "store": "store", "app": "app"}
_VISIT_SHARE = 0.25  # share of orders preceded by a logged web/app/store visit

_OPTOUT_SHARES = {"email": 0.25, "sms": 0.45, "push": 0.55, "phone": 0.60, "post": 0.30}

# Logistic effects on the per-purchase dropout probability (logit scale, added to logit(p0)).
_CHURN_COEFFICIENTS = {"low_csat_ticket": 1.0, "sla_breach": 0.4, "n_tickets": 0.15}

PRIORITIES = ("low", "medium", "high", "urgent")
_PRIORITY_SHARES = (0.40, 0.35, 0.18, 0.07)
_SLA_TARGET_HOURS = (48.0, 24.0, 8.0, 2.0)
_SLA_MET_SHARE = (0.90, 0.85, 0.80, 0.75)
_RESOLVE_MEAN_HOURS = (72.0, 48.0, 24.0, 8.0)
_CSAT_RATED_SHARE = 0.6
_CSAT_IF_MET = (0.05, 0.07, 0.15, 0.33, 0.40)
_CSAT_IF_BREACHED = (0.25, 0.25, 0.20, 0.20, 0.10)

STAGES = ("lead", "qualified", "proposal", "negotiation")
_STAGE_CONVERSION = (0.60, 0.70, 0.65, 0.55)  # P(next stage | stage reached); last: P(won)
_STAGE_DAYS = (10.0, 14.0, 21.0, 14.0)  # mean days spent in each stage (exponential)
_BUSINESS_SHARE = 0.05
LEAD_SOURCES = ("inbound", "outbound", "referral", "event", "partner")
_LEAD_SOURCE_SHARES = (0.35, 0.25, 0.15, 0.15, 0.10)  # independent of how a deal goes

_DUPLICATE_SHARE = 0.03

_FATIGUE_K = 0.3
_FATIGUE_WINDOW_DAYS = 30
# Newsletter cadence of e-mail subscribers (days between sends; 0 = none) and shares.
_NEWSLETTER_CADENCE = (0, 30, 14, 7)
_NEWSLETTER_SHARES = (0.50, 0.32, 0.12, 0.06)

_SEGMENT_BASE_MULT = np.array([2.5, 1.4, 0.8, 1.0, 0.4])
_SEGMENT_UPLIFT_MULT = np.array([0.4, 1.0, 1.3, 2.0, 0.6])

# campaign_id, name, channel, offer, start, days, cost_per_contact, holdout, target share,
# baseline conversion, {arm: uplift} (before the segment multipliers above).
_CAMPAIGNS = (
    ("CMP01", "Spring welcome voucher", "email", "10% off", "2023-04-17", 14, 0.02, 0.15, 0.8, 0.05, {"treatment": 0.04}),
    ("CMP02", "Summer flash sale", "sms", "24h flash sale", "2023-07-10", 7, 0.06, 0.10, 0.8, 0.04, {"treatment": 0.03}),
    ("CMP03", "Spring catalogue mailer", "post", "£10 voucher", "2024-02-05", 28, 0.85, 0.20, 0.6, 0.03, {"treatment": 0.05}),
    ("CMP04", "Free delivery push", "push", "free delivery", "2024-06-03", 7, 0.005, 0.10, 0.9, 0.04, {"treatment": 0.02}),
    (
        "CMP05",
        "Black Friday A/B",
        "email",
        "A: 20% off / B: free gift",
        "2024-11-25",
        7,
        0.02,
        0.15,
        0.9,
        0.08,
        {"treatment_a": 0.06, "treatment_b": 0.03},
    ),
    ("CMP06", "Loyalty double points", "sms", "double points", "2025-03-10", 14, 0.06, 0.15, 0.8, 0.05, {"treatment": 0.04}),
)

# Hour-of-day profiles (relative weights for hours 0..23).
_HOURS_SHOPPING = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3.5, 4, 4.5, 5, 4.5, 4, 4, 4.2, 4.8, 5.5, 6.5, 7, 6, 4, 2])
_HOURS_OFFICE = np.array([0, 0, 0, 0, 0, 0, 0, 0.5, 2, 4, 4, 4, 3, 4, 4, 4, 3.5, 2.5, 1, 0, 0, 0, 0, 0])


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DemoTruth:
    """What :func:`demo_world` planted. Times are days unless a name says otherwise.

    Attributes
    ----------
    start, end : pandas.Timestamp
        Observation window: ``start`` (inclusive) to ``end`` (exclusive; midnight after the
        ``end`` date passed to :func:`demo_world`). Nothing in the data lies outside it.
    time_unit : str
        ``"D"``: rates, ``alpha`` and durations are per day / in days.
    segment_params : pandas.DataFrame
        One row per segment: ``share`` of people; BG/NBD ``r`` and ``alpha`` (days;
        λ ~ Gamma(shape r, rate alpha), purchases per day, mean r/alpha); dropout
        p0 ~ Beta(``a``, ``b``), applied after each *repeat* purchase as in BG/NBD (a
        first purchase is always followed by at least a chance to repeat); Gamma-Gamma ``p``, ``q``, ``v`` (order value
        z ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate v), mean order value
        p·v/(q−1), currency units); ``ticket_rate`` (expected tickets per customer);
        ``baseline_mult`` and ``uplift_mult`` (campaign multipliers, see ``campaign_uplift``).
    customers : pandas.DataFrame
        One row per customer record (indexed by ``customer_id``, duplicates included):
        ``segment``; ``person_id`` (the original record of the person; itself unless a
        duplicate); ``is_duplicate``; ``purchase_rate`` λ (purchases per day);
        ``dropout_prob_base`` p0 (before churn drivers); ``dropout_prob`` p (after them);
        ``alive_at_end`` (has not dropped out by ``end``); ``spend_rate`` ν and
        ``mean_order_value`` p/ν; ``business`` (in the B2B pipeline slice);
        ``newsletter_cadence_days`` (0 = no newsletter). A duplicate record repeats its
        person's values: it is the same person, booking some orders on a second record.
    churn_coefficients : pandas.Series
        Logit-scale effects of the churn drivers: ``logit(p) = logit(p0) + Σ coef · driver``.
    churn_drivers : pandas.DataFrame
        Per person (``customer_id``): ``low_csat_ticket`` (0/1, a ticket rated 1 or 2),
        ``sla_breach`` (0/1, a ticket whose first response missed its SLA) and
        ``n_tickets``. These are customer-level: they apply to every purchase.
    region_shares, acquisition_channel_shares : pandas.Series
        Shares the customers' ``region`` and ``acquisition_channel`` are drawn with.
    category_mix, sales_channel_mix : pandas.DataFrame
        Segment × category (× sales channel) probabilities of an order.
    optout_shares : pandas.Series
        Per contact channel, the probability that a customer record has ``granted=False``.
    campaign_params : pandas.DataFrame
        Per campaign: ``channel``, ``holdout_share`` (P(control)), ``target_share`` (share
        of eligible consenting customers made members), ``arms``.
    campaign_uplift : pandas.DataFrame
        Campaign × arm × segment: ``baseline`` conversion (probability without contact)
        and ``uplift`` (added conversion probability of a contact to a customer with no
        contact in the previous 30 days). The realised uplift is ``uplift`` times the
        fatigue multiplier.
    member_response : pandas.DataFrame
        Row-aligned with ``data.campaign_members`` (``campaign_id``, ``customer_id``,
        ``group`` repeated): ``segment``, ``n_recent_contacts``
        (outbound contacts in the 30 days before the (would-be) contact time; for control
        members the time they would have been contacted), ``fatigue_multiplier``,
        ``p_baseline``, ``p_uplift`` (0 for control) and ``p_convert``.
    fatigue_k : float
        Fatigue rate per recent contact: multiplier ``exp(-fatigue_k * n)``.
    fatigue_window_days : int
        The window (days before the contact) in which contacts count.
    duplicate_pairs : pandas.DataFrame
        ``customer_id`` (the duplicate record), ``duplicate_of`` (the original record) and
        ``variations`` (comma-joined: name, email, phone, address, email_missing).
    duplicate_share : float
        Planted share of customer records that are duplicates (realised rows are
        ``round(duplicate_share * n_customers)``).
    stage_conversion : pandas.Series
        P(advance | stage reached) for lead→qualified, qualified→proposal,
        proposal→negotiation and negotiation→closed_won, indexed by the from-stage.
    stage_days : pandas.Series
        Mean days an opportunity spends in each stage (exponential durations).
    opportunity_stages : pandas.DataFrame
        Stage history: ``opportunity_id``, ``stage`` and ``entered_at`` for every stage an
        opportunity entered, including ``closed_won``/``closed_lost``. The canonical
        ``opportunities`` table carries the same history in its optional columns
        ``qualified_at``, ``proposal_at``, ``negotiation_at`` (entry times; the lead stage
        is entered at ``created_at``) and ``lost_at_stage``.
    business_share : float
        Share of people in the B2B pipeline slice.
    lead_source_shares : pandas.Series
        Shares ``opportunities.lead_source`` is drawn with, independently of the
        opportunity's path: every source has the same conversion rates.
    priority_shares, sla_target_hours, sla_met_share : pandas.Series
        Per ticket priority: share of tickets, first-response target (hours) and the
        probability the target is met.
    csat_rated_share : float
        Probability that a resolved ticket carries a csat rating.
    csat_shares : pandas.DataFrame
        Probability of each csat score (index 1–5) for a ticket whose first response
        met its SLA (column ``met``) or missed it (``breached``).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    time_unit: str
    segment_params: pd.DataFrame
    customers: pd.DataFrame
    churn_coefficients: pd.Series
    churn_drivers: pd.DataFrame
    region_shares: pd.Series
    acquisition_channel_shares: pd.Series
    category_mix: pd.DataFrame
    sales_channel_mix: pd.DataFrame
    optout_shares: pd.Series
    campaign_params: pd.DataFrame
    campaign_uplift: pd.DataFrame
    member_response: pd.DataFrame
    fatigue_k: float
    fatigue_window_days: int
    duplicate_pairs: pd.DataFrame
    duplicate_share: float
    stage_conversion: pd.Series
    stage_days: pd.Series
    opportunity_stages: pd.DataFrame
    business_share: float
    lead_source_shares: pd.Series
    priority_shares: pd.Series
    sla_target_hours: pd.Series
    sla_met_share: pd.Series
    csat_rated_share: float
    csat_shares: pd.DataFrame

    @property
    def segment_of(self) -> pd.Series:
        """Segment of every customer record (``customer_id`` → segment)."""
        return self.customers["segment"]

    @property
    def alive_at_end(self) -> pd.Series:
        """Whether each customer record's person has not dropped out by ``end``."""
        return self.customers["alive_at_end"]

    @property
    def purchase_rate(self) -> pd.Series:
        """λ per customer record, purchases per day."""
        return self.customers["purchase_rate"]

    @property
    def dropout_prob(self) -> pd.Series:
        """p per customer record: probability of dropping out after each repeat purchase."""
        return self.customers["dropout_prob"]

    def fatigue_multiplier(self, n_recent_contacts) -> np.ndarray:
        """The uplift multiplier ``exp(-fatigue_k * n)`` for ``n`` contacts in the window.

        >>> truth = demo_world(300, seed=0).truth
        >>> float(truth.fatigue_multiplier(0))
        1.0
        """
        return np.exp(-self.fatigue_k * np.asarray(n_recent_contacts, dtype=float))


@dataclass(frozen=True, eq=False)
class DemoWorld:
    """A demo world: the CRM tables (``data``) and what was planted in them (``truth``).

    >>> world = demo_world(300, seed=0)
    >>> list(world.summary()["table"])[:2]
    ['customers', 'consents']
    """

    data: CRMData
    truth: DemoTruth
    seed: int
    n_customers: int

    def summary(self) -> pd.DataFrame:
        """Rows per table, one line each (``table``, ``rows``)."""
        counts = self.data.row_counts()
        return pd.DataFrame({"table": list(counts), "rows": list(counts.values())})

    def __repr__(self) -> str:
        return f"DemoWorld(seed={self.seed}, n_customers={self.n_customers:,}, data={self.data!r})"


# --- helpers ---------------------------------------------------------------------------


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded 1..n (``C000001`` …), built in Arrow (fast for millions)."""
    width = max(width, len(str(n)))
    numbers = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.large_string())
    prefix_s = pa.scalar(prefix, type=pa.large_string())
    return pc.binary_join_element_wise(prefix_s, pc.utf8_lpad(numbers, width, padding="0"), pa.scalar("", type=pa.large_string()))


@dataclass(frozen=True)
class _Coded:
    """A string column as integer codes into ``categories`` (code -1 = missing)."""

    codes: np.ndarray
    categories: object  # sequence of str or a pyarrow array

    def to_arrow(self) -> pa.Array:
        codes = np.asarray(self.codes)
        indices = pa.array(np.maximum(codes, 0).astype(np.int64), mask=codes < 0)
        dictionary = self.categories
        if not isinstance(dictionary, pa.Array):
            dictionary = pa.array([str(c) for c in dictionary], type=pa.large_string())
        return pc.take(dictionary, indices)


def _hour_fraction(rng: np.random.Generator, n: int, profile: np.ndarray) -> np.ndarray:
    """Time of day as a fraction of a day, hours drawn from ``profile``."""
    hours = rng.choice(24, size=n, p=profile / profile.sum())
    return (hours + rng.random(n)) / 24.0


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` without the loop."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total) - np.repeat(starts, counts)


class _Clock:
    """Days since ``start`` (floats) to datetime64[ns], seconds resolution."""

    def __init__(self, start: pd.Timestamp):
        self.start_ns = int(start.value)

    def __call__(self, days: np.ndarray) -> np.ndarray:
        days = np.asarray(days, dtype=float)
        out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
        ok = ~np.isnan(days)
        secs = np.floor(days[ok] * 86_400.0).astype(np.int64)
        out[ok] = (self.start_ns + secs * 1_000_000_000).astype("datetime64[ns]")
        return out


def _table(name: str, columns: dict) -> pd.DataFrame:
    """A canonical table: schema column order, schema dtypes, a fresh RangeIndex."""
    spec = TABLES[name]
    out = {}
    for col in spec.columns:
        dtype = DTYPES[col.kind]
        values = columns[col.name]
        if dtype == "datetime64[ns]":
            out[col.name] = pd.Series(np.asarray(values, dtype="datetime64[ns]"))
        elif dtype == "string" and isinstance(values, (_Coded, pa.Array)):
            arr = values.to_arrow() if isinstance(values, _Coded) else values
            out[col.name] = pd.Series(pd.array(arr, dtype="string"))
        elif dtype in ("string", "boolean", "Int64"):
            out[col.name] = pd.Series(pd.array(values, dtype=dtype))
        else:
            out[col.name] = pd.Series(np.asarray(values, dtype=dtype))
    return pd.DataFrame(out)


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="demo world", unit="step")


# --- the world ---------------------------------------------------------------------------


def demo_world(
    n_customers: int = 100_000,
    seed: int = 0,
    *,
    start: str | pd.Timestamp = "2023-01-01",
    end: str | pd.Timestamp = "2025-12-31",
    progress: bool = False,
) -> DemoWorld:
    """Build a seeded demo world of a fictional retailer, with its planted truth.

    Parameters
    ----------
    n_customers : int, default 100_000
        Customer records, duplicates included: ``round(0.03 * n_customers)`` records are
        second records of other people (see ``truth.duplicate_pairs``).
    seed : int, default 0
        Seed of the one ``numpy.random.default_rng`` every draw comes from.
    start, end : str or Timestamp
        First and last day of the observation window (``end`` is inclusive: the window
        ends at midnight after it). At least a year apart. Campaign dates are set for the
        default start and move with it; campaigns that would not fit the window are left out.
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    DemoWorld
        ``.data`` (a :class:`~crmkit.schema.CRMData` with all eight tables, validated by
        :func:`crmkit.schema.pandera_schema`) and ``.truth`` (:class:`DemoTruth`).

    Examples
    --------
    >>> world = demo_world(1_000, seed=7)
    >>> world.truth.duplicate_pairs.shape[0]
    30
    >>> sorted(world.data.campaign_members["group"].unique())
    ['control', 'treatment', 'treatment_a', 'treatment_b']
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < 100:
        raise ParameterError(f"demo_world: n_customers must be a whole number ≥ 100, found {n_customers!r}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"demo_world: seed must be a whole number ≥ 0, found {seed!r}.")
    try:
        t_start = pd.Timestamp(start).normalize()
        t_end = pd.Timestamp(end).normalize() + pd.Timedelta(days=1)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"demo_world: start and end must be dates, found {start!r} and {end!r}.") from exc
    if t_start.tz is not None or t_end.tz is not None:
        raise ParameterError("demo_world: start and end must be timezone-naive (UTC), found a timezone.")
    horizon = (t_end - t_start).days
    if horizon < 365:
        raise ParameterError(
            f"demo_world: the window from {t_start.date()} to {(t_end - pd.Timedelta(days=1)).date()} "
            f"is {horizon} days; make it at least 365 days."
        )
    n_customers = int(n_customers)
    seed = int(seed)

    bar = _progress(progress, 10)

    def step():
        if bar is not None:
            bar.update(1)

    root = np.random.default_rng(seed)
    # Children are numbered: a stream added later (g_lead_source) comes last, so the
    # first ten, and every draw made from them, stay as they were.
    (g_people, g_faker, g_buy, g_ticket, g_dup, g_order, g_consent, g_news, g_camp, g_opp, g_lead_source) = root.spawn(11)
    clock = _Clock(t_start)
    T = float(horizon)  # window length, days
    seg = _SEGMENT_PARAMS

    # -- people: segment, region, channel, sign-up ------------------------------------
    n_dup = int(round(_DUPLICATE_SHARE * n_customers))
    n_people = n_customers - n_dup
    segment = g_people.choice(len(SEGMENTS), size=n_people, p=seg["share"].to_numpy())
    region = g_people.choice(len(REGIONS), size=n_people, p=_REGION_SHARES)
    acq = g_people.choice(len(ACQUISITION_CHANNELS), size=n_people, p=_ACQUISITION_SHARES)
    # Sign-ups grow linearly over the window (density ∝ 1 + t/L), none in the last 14 days.
    L = T - 14.0
    u = g_people.random(n_people)
    created = L * (np.sqrt(1.0 + 3.0 * u) - 1.0)  # inverse CDF of density ∝ 1 + t/L on [0, L]
    created = np.floor(created) + _hour_fraction(g_people, n_people, _HOURS_SHOPPING)
    age_years = np.clip(g_people.normal(44.0, 15.0, n_people), 18.0, 90.0)
    birth = np.floor(created - age_years * 365.25)  # days since start (negative), midnight
    pools = _people.faker_pools(int(g_faker.integers(2**32)), REGIONS)
    persons = _people.people(g_people, pools, region)
    step()

    # -- service experience first: it drives dropout ------------------------------------
    n_tickets = g_ticket.poisson(seg["ticket_rate"].to_numpy()[segment])
    n_tickets[created > T - 10.0] = 0  # too new to have a ticket inside the window
    tk_owner = np.repeat(np.arange(n_people), n_tickets)
    n_tk = len(tk_owner)
    tk_priority = g_ticket.choice(4, size=n_tk, p=_PRIORITY_SHARES)
    tk_met = g_ticket.random(n_tk) < np.asarray(_SLA_MET_SHARE)[tk_priority]
    csat_draw = np.where(
        tk_met,
        g_ticket.choice(5, size=n_tk, p=_CSAT_IF_MET),
        g_ticket.choice(5, size=n_tk, p=_CSAT_IF_BREACHED),
    ) + 1
    tk_rated = g_ticket.random(n_tk) < _CSAT_RATED_SHARE
    low_csat = np.bincount(tk_owner, weights=(tk_rated & (csat_draw <= 2)), minlength=n_people) > 0
    breach = np.bincount(tk_owner, weights=~tk_met, minlength=n_people) > 0
    drivers = np.column_stack([low_csat.astype(float), breach.astype(float), n_tickets.astype(float)])
    coef = np.array([_CHURN_COEFFICIENTS[k] for k in ("low_csat_ticket", "sla_breach", "n_tickets")])

    # -- BG/NBD buying process ----------------------------------------------------------
    r, alpha = seg["r"].to_numpy()[segment], seg["alpha"].to_numpy()[segment]
    lam = g_buy.gamma(r, 1.0 / alpha)
    p0 = np.clip(g_buy.beta(seg["a"].to_numpy()[segment], seg["b"].to_numpy()[segment]), 1e-6, 1 - 1e-6)
    p_drop = _expit(_logit(p0) + drivers @ coef)
    nu = g_buy.gamma(seg["q"].to_numpy()[segment], 1.0 / seg["v"].to_numpy()[segment])
    gg_p = seg["p"].to_numpy()[segment]

    # First purchase on or after sign-up (mean 3 days later), inside the window.
    first = created + g_buy.exponential(3.0, n_people)
    late = first >= T
    first[late] = created[late] + (T - created[late]) * g_buy.random(int(late.sum()))
    W = T - first
    # Poisson purchases in (first, T]; dropout after the J-th repeat purchase, J ~ Geom(p).
    M = g_buy.poisson(lam * W)
    J = g_buy.geometric(p_drop)
    n_rep = np.minimum(M, J)
    alive = J > M
    # The first n_rep of M uniform order statistics, from exponential spacings.
    rep_owner = np.repeat(np.arange(n_people), n_rep)
    gaps = g_buy.exponential(1.0, int(n_rep.sum()))
    csum = np.cumsum(gaps)
    base = np.concatenate([[0.0], csum])[np.cumsum(n_rep) - n_rep]
    partial = csum - np.repeat(base, n_rep)
    rest = g_buy.gamma((M - n_rep + 1).astype(float))
    total = np.bincount(rep_owner, weights=gaps, minlength=n_people) + rest
    rep_t = first[rep_owner] + W[rep_owner] * partial / total[rep_owner]
    last_purchase = first.copy()
    if len(rep_t):
        np.maximum.at(last_purchase, rep_owner, rep_t)
    step()

    # -- ticket times, inside the active life ------------------------------------------
    life_end = np.where(alive, T, last_purchase + 14.0)
    hi = np.minimum(life_end, T - 10.0)
    lo = np.minimum(first, hi)
    tk_open = lo[tk_owner] + (hi - lo)[tk_owner] * g_ticket.random(n_tk)
    tk_open = np.maximum(tk_open, created[tk_owner] + 1.0 / 24)
    target_h = np.asarray(_SLA_TARGET_HOURS)[tk_priority]
    resp_h = np.where(
        tk_met,
        target_h * g_ticket.uniform(0.05, 0.99, n_tk),
        target_h * (1.0 + np.minimum(g_ticket.exponential(1.0, n_tk), 3.0)) + 1.0 / 60,
    )
    tk_resp = tk_open + resp_h / 24.0
    tk_resolved = tk_resp + g_ticket.gamma(2.0, np.asarray(_RESOLVE_MEAN_HOURS)[tk_priority] / 2.0) / 24.0
    tk_resolved[tk_resolved >= T] = np.nan  # still open at the end of the window
    tk_csat = np.where(tk_rated & ~np.isnan(tk_resolved), csat_draw, -1)
    step()

    # -- duplicate records ----------------------------------------------------------------
    candidates = np.flatnonzero(created < T - 90.0)
    dup_of = np.sort(g_dup.choice(candidates, size=n_dup, replace=False))
    dup_created = created[dup_of] + 30.0 + (T - 31.0 - created[dup_of]) * g_dup.random(n_dup)
    dup_fields, dup_variations = _people.duplicate_records(g_dup, persons.iloc[dup_of])
    # all records: people first, then duplicates; ids follow sign-up time
    rec_person = np.concatenate([np.arange(n_people), dup_of])
    rec_created = np.concatenate([created, dup_created])
    order = np.argsort(rec_created, kind="stable")
    rank = np.empty(n_customers, dtype=np.int64)
    rank[order] = np.arange(n_customers)
    cust_ids_sorted = _ids("C", n_customers, 6)
    rec_id = cust_ids_sorted.to_numpy(zero_copy_only=False).astype(object)[rank]  # id of record i
    step()

    # -- transactions --------------------------------------------------------------------
    tx_person = np.concatenate([np.arange(n_people), rep_owner])
    tx_t = np.concatenate([first, rep_t])
    n_tx = len(tx_t)
    tx_t = np.floor(tx_t) + _hour_fraction(g_order, n_tx, _HOURS_SHOPPING)
    tx_rec = tx_person.copy()
    # A duplicate record books some of its person's later orders (35 % of them).
    dup_rec_of_person = np.full(n_people, -1)
    dup_rec_of_person[dup_of] = n_people + np.arange(n_dup)
    drec = dup_rec_of_person[tx_person]
    moved = (drec >= 0) & (tx_t > rec_created[np.maximum(drec, 0)]) & (g_order.random(n_tx) < 0.35)
    tx_rec[moved] = drec[moved]
    tx_t = np.maximum(tx_t, rec_created[tx_rec] + 1.0 / 1440)
    tx_seg = segment[tx_person]
    tx_cat = np.empty(n_tx, dtype=np.int64)
    tx_chan = np.empty(n_tx, dtype=np.int64)
    for s in range(len(SEGMENTS)):
        m = tx_seg == s
        tx_cat[m] = g_order.choice(len(CATEGORIES), size=int(m.sum()), p=_CATEGORY_MIX[s])
        tx_chan[m] = g_order.choice(len(SALES_CHANNELS), size=int(m.sum()), p=_SALES_CHANNEL_MIX[s])
    tx_amount = np.round(g_order.gamma(gg_p[tx_person], 1.0 / nu[tx_person]), 2)
    tx_sort = np.lexsort((tx_rec, tx_t))
    step()

    # -- consents (all records; state set at sign-up or a later opt-out) ------------------
    optout = np.array([_OPTOUT_SHARES[c] for c in CONTACT_CHANNELS])
    granted = g_consent.random((n_customers, len(CONTACT_CHANNELS))) >= optout
    later = (~granted) & (g_consent.random(granted.shape) < 0.5)
    upd = np.repeat(rec_created[:, None], len(CONTACT_CHANNELS), axis=1)
    upd = upd + later * (T - upd) * g_consent.random(granted.shape)
    # Campaigns honour today's state: only customers with granted=True are ever contacted,
    # so a later opt-out has been contacted at most before the campaigns shown here.
    step()

    # -- newsletters (e-mail subscribers only) ----------------------------------------------
    email_ok = granted[:, CONTACT_CHANNELS.index("email")]
    cadence = np.where(
        email_ok, np.asarray(_NEWSLETTER_CADENCE)[g_news.choice(4, size=n_customers, p=_NEWSLETTER_SHARES)], 0
    )
    nl_rec, nl_t = [], []
    for cad in _NEWSLETTER_CADENCE[1:]:
        offset = {30: 0.0, 14: 3.0, 7: 1.0}[cad]
        sched = np.arange(offset, T, float(cad)) + 9.0 / 24
        who = np.flatnonzero(cadence == cad)
        k0 = np.searchsorted(sched, rec_created[who], side="right")
        cnt = len(sched) - k0
        nl_rec.append(np.repeat(who, cnt))
        nl_t.append(sched[np.repeat(k0, cnt) + _ragged_arange(cnt)])
    nl_rec = np.concatenate(nl_rec)
    nl_t = np.concatenate(nl_t) + g_news.random(len(nl_rec)) * (2.0 / 24)  # sent 09:00–11:00
    step()

    # -- campaigns ---------------------------------------------------------------------------
    rec_segment = segment[rec_person]
    campaign_rows, uplift_rows, param_rows = [], [], []
    mem = {k: [] for k in ("camp", "rec", "arm", "t", "base", "upl")}
    camp_contacts_rec, camp_contacts_t, camp_contacts_cid, camp_contacts_chan = [], [], [], []
    for ci, (cid, name, chan, offer, cstart, days, cost, holdout, target, base_c, arms) in enumerate(_CAMPAIGNS):
        # Campaign dates are for the default start (2023-01-01) and move with ``start``.
        c0 = float((pd.Timestamp(cstart) - pd.Timestamp("2023-01-01")).days)
        c1 = c0 + days
        if c0 < 30 or c1 > T:
            continue
        campaign_rows.append((cid, name, chan, offer, c0, c1, cost))
        param_rows.append((cid, chan, holdout, target, ", ".join(arms)))
        arm_names = list(arms)
        baseline = base_c * _SEGMENT_BASE_MULT
        for arm, upl in arms.items():
            for s, sname in enumerate(SEGMENTS):
                uplift_rows.append((cid, arm, sname, baseline[s], upl * _SEGMENT_UPLIFT_MULT[s]))
        eligible = granted[:, CONTACT_CHANNELS.index(chan)] & (rec_created < c0 - 7.0)
        members = np.flatnonzero(eligible & (g_camp.random(n_customers) < target))
        nm = len(members)
        control = g_camp.random(nm) < holdout
        arm_idx = g_camp.integers(0, len(arm_names), nm)
        arm = np.where(control, -1, arm_idx)
        t_contact = c0 + g_camp.integers(0, 3, nm) + _hour_fraction(g_camp, nm, _HOURS_OFFICE)
        upl_arm = np.array([arms[a] for a in arm_names])
        mseg = rec_segment[members]
        mem["camp"].append(np.full(nm, ci))
        mem["rec"].append(members)
        mem["arm"].append(arm)
        mem["t"].append(t_contact)
        mem["base"].append(baseline[mseg])
        mem["upl"].append(np.where(control, 0.0, upl_arm[arm_idx] * _SEGMENT_UPLIFT_MULT[mseg]))
        treated = ~control
        camp_contacts_rec.append(members[treated])
        camp_contacts_t.append(t_contact[treated])
        camp_contacts_cid.append(np.full(int(treated.sum()), ci))
        camp_contacts_chan.append(np.full(int(treated.sum()), TOUCHPOINT_CHANNELS.index(chan)))
    mem = {k: np.concatenate(v) for k, v in mem.items()}
    cc_rec = np.concatenate(camp_contacts_rec)
    cc_t = np.concatenate(camp_contacts_t)

    # Contact fatigue: outbound contacts in the 30 days before each (would-be) contact.
    out_rec = np.concatenate([nl_rec, cc_rec])
    out_t = np.concatenate([nl_t, cc_t])
    stride = 2.0 * (T + 1.0)
    keys = np.sort(out_rec * stride + out_t)
    q = mem["rec"] * stride + mem["t"]
    n_recent = np.searchsorted(keys, q, side="left") - np.searchsorted(keys, q - _FATIGUE_WINDOW_DAYS, side="left")
    fatigue = np.exp(-_FATIGUE_K * n_recent)
    p_upl = mem["upl"] * fatigue
    p_conv = np.clip(mem["base"] + p_upl, 0.0, 1.0)
    converted = g_camp.random(len(p_conv)) < p_conv
    m_person = rec_person[mem["rec"]]
    revenue = np.where(converted, np.round(g_camp.gamma(gg_p[m_person], 1.0 / nu[m_person]), 2), 0.0)
    arm_label = np.empty(len(p_conv), dtype=object)
    for ci, row in enumerate(_CAMPAIGNS):
        m = mem["camp"] == ci
        names = np.array(list(row[10]), dtype=object)
        arm_label[m] = np.where(mem["arm"][m] < 0, "control", names[np.maximum(mem["arm"][m], 0)])
    step()

    # -- opportunities (B2B slice) -----------------------------------------------------------
    business = g_opp.random(n_people) < _BUSINESS_SHARE
    biz = np.flatnonzero(business)
    n_opp_each = 1 + g_opp.poisson(0.4, len(biz))
    op_person = np.repeat(biz, n_opp_each)
    n_op = len(op_person)
    op_created = created[op_person] + (T - created[op_person]) * g_opp.random(n_op)
    op_amount = np.round(g_opp.lognormal(np.log(12_000.0), 0.8, n_op), -2)
    reps = pools["reps"]
    op_owner = np.asarray(reps, dtype=object)[g_opp.integers(0, len(reps), n_op)]
    op_stage = np.zeros(n_op, dtype=np.int64)  # index into STAGES; 4 = won, 5 = lost
    op_closed = np.full(n_op, np.nan)
    t = op_created.copy()
    hist_op, hist_stage, hist_t = [np.arange(n_op)], [np.zeros(n_op, dtype=np.int64)], [op_created.copy()]
    op_entered = np.full((n_op, len(STAGES)), np.nan)  # when each open stage was entered (days)
    op_entered[:, 0] = op_created
    op_lost_at = np.full(n_op, -1, dtype=np.int64)  # index of the stage a lost deal left from
    open_ = np.ones(n_op, dtype=bool)
    for s in range(len(STAGES)):
        t = t + g_opp.exponential(_STAGE_DAYS[s], n_op)
        advance = g_opp.random(n_op) < _STAGE_CONVERSION[s]
        moving = open_ & (t < T)
        nxt = s + 1 if s + 1 < len(STAGES) else 4
        won_or_next = moving & advance
        lost = moving & ~advance
        op_stage[won_or_next] = nxt
        op_stage[lost] = 5
        closes = lost | (won_or_next & (nxt == 4))
        op_closed[closes] = t[closes]
        if nxt < 4:
            op_entered[won_or_next, nxt] = t[won_or_next]
        op_lost_at[lost] = s
        hist_op += [np.flatnonzero(won_or_next), np.flatnonzero(lost)]
        hist_stage += [np.full(int(won_or_next.sum()), nxt), np.full(int(lost.sum()), 5)]
        hist_t += [t[won_or_next], t[lost]]
        open_ = won_or_next & (nxt < 4)
    # Where each lead came from: drawn from its own stream, independent of the outcome.
    op_source = g_lead_source.choice(len(LEAD_SOURCES), size=n_op, p=_LEAD_SOURCE_SHARES)
    step()

    # -- assemble ------------------------------------------------------------------------------
    rec_fields = pd.concat([persons, dup_fields], ignore_index=True)
    rec_region = np.asarray(REGIONS, dtype=object)[np.concatenate([region, region[dup_of]])]
    rec_acq_idx = np.concatenate([acq, g_dup.choice(len(ACQUISITION_CHANNELS), size=n_dup, p=_ACQUISITION_SHARES)])
    rec_birth = np.concatenate([birth, birth[dup_of]])
    cust_cols = {c: rec_fields[c].to_numpy(dtype=object)[order] for c in rec_fields.columns}
    customers = _table(
        "customers",
        {
            "customer_id": cust_ids_sorted,
            **cust_cols,
            "country": np.full(n_customers, "GB", dtype=object),
            "birth_date": clock(rec_birth[order]),
            "created_at": clock(rec_created[order]),
            "region": rec_region[order],
            "acquisition_channel": np.asarray(ACQUISITION_CHANNELS, dtype=object)[rec_acq_idx][order],
        },
    )

    n_ch = len(CONTACT_CHANNELS)
    consents = _table(
        "consents",
        {
            "customer_id": _Coded(np.repeat(np.arange(n_customers), n_ch), cust_ids_sorted),
            "channel": _Coded(np.tile(np.arange(n_ch), n_customers), CONTACT_CHANNELS),
            "granted": granted[order].ravel(),
            "updated_at": clock(upd[order].ravel()),
        },
    )

    transactions = _table(
        "transactions",
        {
            "order_id": _ids("O", n_tx, 8),
            "customer_id": _Coded(rank[tx_rec[tx_sort]], cust_ids_sorted),
            "ordered_at": clock(tx_t[tx_sort]),
            "amount": tx_amount[tx_sort],
            "category": _Coded(tx_cat[tx_sort], CATEGORIES),
            "sales_channel": _Coded(tx_chan[tx_sort], SALES_CHANNELS),
        },
    )

    campaigns = _table(
        "campaigns",
        {
            "campaign_id": [c[0] for c in campaign_rows],
            "name": [c[1] for c in campaign_rows],
            "channel": [c[2] for c in campaign_rows],
            "offer": [c[3] for c in campaign_rows],
            "start": clock(np.array([c[4] for c in campaign_rows], dtype=float)),
            "end": clock(np.array([c[5] for c in campaign_rows], dtype=float)),
            "cost_per_contact": [c[6] for c in campaign_rows],
        },
    )
    camp_ids = np.array([c[0] for c in _CAMPAIGNS], dtype=object)
    treated_m = arm_label != "control"
    campaign_members = _table(
        "campaign_members",
        {
            "campaign_id": camp_ids[mem["camp"]],
            "customer_id": rec_id[mem["rec"]],
            "group": arm_label,
            "contacted_at": clock(np.where(treated_m, mem["t"], np.nan)),
            "converted": converted,
            "revenue": revenue,
        },
    )

    # interactions: newsletters, campaign contacts, visits before orders, service requests
    visit = g_order.random(n_tx) < _VISIT_SHARE
    v_t = tx_t[visit] - g_order.uniform(2.0, 40.0, int(visit.sum())) / 1440
    v_t = np.maximum(v_t, rec_created[tx_rec[visit]])
    svc_phone = g_ticket.random(n_tk) < 0.65
    it_rec = np.concatenate([nl_rec, cc_rec, tx_rec[visit], tk_owner])
    it_t = np.concatenate([nl_t, cc_t, v_t, tk_open])
    touch = list(TOUCHPOINT_CHANNELS)
    n_nl, n_cc, n_v = len(nl_rec), len(cc_rec), len(v_t)
    it_chan = np.concatenate(
        [
            np.full(n_nl, touch.index("email")),
            np.concatenate(camp_contacts_chan),
            np.array([touch.index(_VISIT_CHANNEL[c]) for c in SALES_CHANNELS])[tx_chan[visit]],
            np.where(svc_phone, touch.index("phone"), touch.index("email")),
        ]
    )
    it_dir = np.repeat([0, 1], [n_nl + n_cc, n_v + n_tk])  # outbound, inbound
    it_kind = np.repeat([0, 1, 2, 3], [n_nl, n_cc, n_v, n_tk])
    it_cid = np.concatenate([np.full(n_nl, -1), np.concatenate(camp_contacts_cid), np.full(n_v + n_tk, -1)])
    it_sort = np.lexsort((it_rec, it_t))
    interactions = _table(
        "interactions",
        {
            "interaction_id": _ids("I", len(it_t), 8),
            "customer_id": _Coded(rank[it_rec[it_sort]], cust_ids_sorted),
            "at": clock(it_t[it_sort]),
            "channel": _Coded(it_chan[it_sort], TOUCHPOINT_CHANNELS),
            "direction": _Coded(it_dir[it_sort], ("outbound", "inbound")),
            "kind": _Coded(it_kind[it_sort], ("newsletter", "campaign", "visit", "service_request")),
            "campaign_id": _Coded(it_cid[it_sort], [c[0] for c in _CAMPAIGNS]),
        },
    )

    op_sort = np.argsort(op_created, kind="stable")
    op_ids = _ids("OPP", n_op, 6)
    stage_names = np.asarray(STAGES + ("closed_won", "closed_lost"), dtype=object)
    won = np.where(op_stage == 4, True, np.where(op_stage == 5, False, None))
    opportunities = _table(
        "opportunities",
        {
            "opportunity_id": op_ids,
            "customer_id": rec_id[op_person[op_sort]],
            "stage": stage_names[op_stage[op_sort]],
            "created_at": clock(op_created[op_sort]),
            "closed_at": clock(op_closed[op_sort]),
            "amount": op_amount[op_sort],
            "won": won[op_sort],
            "owner": op_owner[op_sort],
            "lead_source": np.asarray(LEAD_SOURCES, dtype=object)[op_source[op_sort]],
            "qualified_at": clock(op_entered[op_sort, 1]),
            "proposal_at": clock(op_entered[op_sort, 2]),
            "negotiation_at": clock(op_entered[op_sort, 3]),
            "lost_at_stage": np.where(
                op_lost_at[op_sort] >= 0, np.asarray(STAGES, dtype=object)[np.maximum(op_lost_at[op_sort], 0)], None
            ),
        },
    )
    op_id_of = np.empty(n_op, dtype=object)
    op_id_of[op_sort] = op_ids
    h_op = np.concatenate(hist_op)
    h_t = np.concatenate(hist_t)
    h_sort = np.lexsort((np.concatenate(hist_stage), h_t))
    opportunity_stages = pd.DataFrame(
        {
            "opportunity_id": pd.array(op_id_of[h_op][h_sort], dtype="string"),
            "stage": pd.array(stage_names[np.concatenate(hist_stage)][h_sort], dtype="string"),
            "entered_at": clock(h_t[h_sort]),
        }
    )

    tk_sort = np.argsort(tk_open, kind="stable")
    tickets = _table(
        "tickets",
        {
            "ticket_id": _ids("T", n_tk, 7),
            "customer_id": rec_id[tk_owner[tk_sort]],
            "opened_at": clock(tk_open[tk_sort]),
            "first_response_at": clock(tk_resp[tk_sort]),
            "resolved_at": clock(tk_resolved[tk_sort]),
            "priority": np.asarray(PRIORITIES, dtype=object)[tk_priority[tk_sort]],
            "csat": np.where(tk_csat[tk_sort] > 0, tk_csat[tk_sort], None),
        },
    )

    data = CRMData(
        customers=customers,
        consents=consents,
        transactions=transactions,
        interactions=interactions,
        campaigns=campaigns,
        campaign_members=campaign_members,
        opportunities=opportunities,
        tickets=tickets,
        source=f"crmkit.synth.demo_world(n_customers={n_customers}, seed={seed})",
    )

    # -- truth ---------------------------------------------------------------------------------
    idx = pd.Index(pd.array(rec_id, dtype="string"), name="customer_id")
    truth_customers = pd.DataFrame(
        {
            "segment": np.asarray(SEGMENTS, dtype=object)[rec_segment],
            "person_id": rec_id[rec_person],
            "is_duplicate": np.arange(n_customers) >= n_people,
            "purchase_rate": lam[rec_person],
            "dropout_prob_base": p0[rec_person],
            "dropout_prob": p_drop[rec_person],
            "alive_at_end": alive[rec_person],
            "spend_rate": nu[rec_person],
            "mean_order_value": gg_p[rec_person] / nu[rec_person],
            "business": business[rec_person],
            "newsletter_cadence_days": cadence,
        },
        index=idx,
    ).iloc[order]
    truth_customers["segment"] = truth_customers["segment"].astype("string")
    truth_customers["person_id"] = truth_customers["person_id"].astype("string")
    params = seg.copy()
    params["baseline_mult"] = _SEGMENT_BASE_MULT
    params["uplift_mult"] = _SEGMENT_UPLIFT_MULT
    churn_drivers = pd.DataFrame(
        drivers, columns=["low_csat_ticket", "sla_breach", "n_tickets"], index=idx[:n_people]
    ).astype({"low_csat_ticket": "int64", "sla_breach": "int64", "n_tickets": "int64"})
    member_response = pd.DataFrame(
        {
            "campaign_id": campaign_members["campaign_id"],
            "customer_id": campaign_members["customer_id"],
            "group": campaign_members["group"],
            "segment": pd.array(np.asarray(SEGMENTS, dtype=object)[rec_segment[mem["rec"]]], dtype="string"),
            "n_recent_contacts": n_recent,
            "fatigue_multiplier": fatigue,
            "p_baseline": mem["base"],
            "p_uplift": p_upl,
            "p_convert": p_conv,
        }
    )
    truth = DemoTruth(
        start=t_start,
        end=t_end,
        time_unit="D",
        segment_params=params,
        customers=truth_customers,
        churn_coefficients=pd.Series(_CHURN_COEFFICIENTS, name="logit_effect"),
        churn_drivers=churn_drivers.iloc[np.argsort(rank[:n_people], kind="stable")],
        region_shares=pd.Series(_REGION_SHARES, index=pd.Index(REGIONS, name="region"), name="share"),
        acquisition_channel_shares=pd.Series(
            _ACQUISITION_SHARES, index=pd.Index(ACQUISITION_CHANNELS, name="acquisition_channel"), name="share"
        ),
        category_mix=pd.DataFrame(_CATEGORY_MIX, index=pd.Index(SEGMENTS, name="segment"), columns=list(CATEGORIES)),
        sales_channel_mix=pd.DataFrame(
            _SALES_CHANNEL_MIX, index=pd.Index(SEGMENTS, name="segment"), columns=list(SALES_CHANNELS)
        ),
        optout_shares=pd.Series(_OPTOUT_SHARES, name="optout_share").rename_axis("channel"),
        campaign_params=pd.DataFrame(
            param_rows, columns=["campaign_id", "channel", "holdout_share", "target_share", "arms"]
        ).set_index("campaign_id"),
        campaign_uplift=pd.DataFrame(uplift_rows, columns=["campaign_id", "arm", "segment", "baseline", "uplift"]),
        member_response=member_response,
        fatigue_k=_FATIGUE_K,
        fatigue_window_days=_FATIGUE_WINDOW_DAYS,
        duplicate_pairs=pd.DataFrame(
            {
                "customer_id": pd.array(rec_id[n_people:], dtype="string"),
                "duplicate_of": pd.array(rec_id[dup_of], dtype="string"),
                "variations": pd.array(dup_variations, dtype="string"),
            }
        ),
        duplicate_share=_DUPLICATE_SHARE,
        stage_conversion=pd.Series(_STAGE_CONVERSION, index=pd.Index(STAGES, name="from_stage"), name="conversion"),
        stage_days=pd.Series(_STAGE_DAYS, index=pd.Index(STAGES, name="stage"), name="mean_days"),
        opportunity_stages=opportunity_stages,
        business_share=_BUSINESS_SHARE,
        lead_source_shares=pd.Series(
            _LEAD_SOURCE_SHARES, index=pd.Index(LEAD_SOURCES, name="lead_source"), name="share"
        ),
        priority_shares=pd.Series(_PRIORITY_SHARES, index=pd.Index(PRIORITIES, name="priority"), name="share"),
        sla_target_hours=pd.Series(_SLA_TARGET_HOURS, index=pd.Index(PRIORITIES, name="priority"), name="hours"),
        sla_met_share=pd.Series(_SLA_MET_SHARE, index=pd.Index(PRIORITIES, name="priority"), name="met_share"),
        csat_rated_share=_CSAT_RATED_SHARE,
        csat_shares=pd.DataFrame(
            {"met": _CSAT_IF_MET, "breached": _CSAT_IF_BREACHED}, index=pd.RangeIndex(1, 6, name="csat")
        ),
    )
    step()
    if bar is not None:
        bar.close()
    return DemoWorld(data=data, truth=truth, seed=seed, n_customers=n_customers)
