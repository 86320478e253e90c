"""Private: opportunities as they stood at a moment (``as_of``), and times spent in stages.

:func:`prepare` turns the ``opportunities`` table into one row per usable opportunity
with its state at ``as_of`` — the furthest stage it had reached (``k``), whether it was
won, lost or still open, when it entered each stage — and accounts for every row it
could not use (rows in = rows used + rows set aside, with reasons).

>>> import pandas as pd
>>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": ["proposal", "closed_lost"],
...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
...                      "closed_at": pd.to_datetime([None, "2024-02-01"]), "lost_at_stage": [None, "lead"]})
>>> p = prepare(opps, ("lead", "qualified", "proposal", "negotiation"))
>>> p.deals[["opportunity_id", "k", "outcome"]].to_dict("list")
{'opportunity_id': ['a', 'b'], 'k': [2, 0], 'outcome': ['open', 'lost']}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError

__all__ = ["WON", "LOST", "parse_as_of", "opportunities_of", "prepare", "Prepared", "Durations", "durations"]

WON, LOST = "closed_won", "closed_lost"
_DAY = pd.Timedelta(days=1)


def parse_as_of(value, what: str = "as_of") -> pd.Timestamp | None:
    """A moment from a date or date-time; a date (no time of day) means the end of that day."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: expected a date such as '2025-06-30', found {value!r}.") from exc
    if ts is pd.NaT:
        return None
    if ts.tz is not None:
        raise ParameterError(f"{what}: expected a timezone-naive (UTC) date, found {value!r}.")
    if ts == ts.normalize():
        ts = ts + _DAY - pd.Timedelta(1, "ns")
    return ts


def parse_window(window, what: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``(start, end)`` → inclusive bounds (``end`` date = its whole day); ``None`` = open."""
    if window is None:
        return None, None
    try:
        start, end = window
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: expected (start, end) dates, found {window!r}.") from exc
    lo = None if start in (None, "") else pd.Timestamp(start)
    hi = parse_as_of(end, what)
    if lo is not None and hi is not None and lo > hi:
        raise ParameterError(f"{what}: the start {lo.date()} is after the end {hi.date()}.")
    return lo, hi


def opportunities_of(data) -> pd.DataFrame:
    """The opportunities table of a CRMData, or the DataFrame itself."""
    if isinstance(data, pd.DataFrame):
        return data
    table = getattr(data, "opportunities", None)
    if table is None:
        raise DataValidationError("opportunities: the table is required for the sales pipeline but is missing from the data.")
    return table


def _require(df: pd.DataFrame, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{table}: expected column{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
            f"found only {', '.join(map(str, df.columns))}."
        )
    for c in columns:
        if c.endswith("_at") and not pd.api.types.is_datetime64_any_dtype(df[c]):
            raise DataValidationError(
                f"{table}.{c}: expected dates (datetime64), found dtype {df[c].dtype}; load the table with crmkit.io.load."
            )


def check_stages(stages) -> tuple[str, ...]:
    if isinstance(stages, str):
        stages = (stages,)
    stages = tuple(str(s) for s in stages)
    if len(stages) < 1 or len(set(stages)) != len(stages) or {WON, LOST} & set(stages):
        raise ParameterError(
            f"stages: expected the open stages in funnel order, each once and without {WON!r}/{LOST!r}, found {stages!r}."
        )
    return stages


@dataclass(frozen=True)
class Prepared:
    """Opportunities at ``as_of``: ``deals`` (one row per usable opportunity) and the accounting."""

    deals: pd.DataFrame
    entered: np.ndarray  # (n, m) datetime64[ns]: when each stage was entered (NaT: not by as_of / unknown)
    stages: tuple[str, ...]
    as_of: pd.Timestamp
    rows_in: int
    set_aside: pd.DataFrame  # reason, rows
    has_history: bool

    @property
    def rows_used(self) -> int:
        return len(self.deals)


def _set_aside_frame(reasons: pd.Series) -> pd.DataFrame:
    r = reasons.dropna()
    if r.empty:
        return pd.DataFrame({"reason": pd.Series(dtype="str"), "rows": pd.Series(dtype="int64")})
    counts = r.value_counts(sort=False)
    return pd.DataFrame({"reason": counts.index.astype(str), "rows": counts.to_numpy(dtype="int64")})


def prepare(data, stages, as_of=None, *, created_between=None) -> Prepared:
    """The opportunities' state at ``as_of`` (default: the latest time in the table)."""
    stages = check_stages(stages)
    opps = opportunities_of(data)
    _require(opps, "opportunities", ["opportunity_id", "stage", "created_at"])
    m = len(stages)
    n_in = len(opps)
    opps = opps.reset_index(drop=True)
    hist_cols = {i: f"{s}_at" for i, s in enumerate(stages) if i > 0 and f"{s}_at" in opps.columns}
    _require(opps, "opportunities", list(hist_cols.values()) + (["closed_at"] if "closed_at" in opps.columns else []))
    created = opps["created_at"]
    closed = opps["closed_at"] if "closed_at" in opps.columns else pd.Series(pd.NaT, index=opps.index, dtype="datetime64[ns]")
    stage = opps["stage"].astype("string")

    times = [created, closed] + [opps[c] for c in hist_cols.values()]
    data_end = max((t.max() for t in times if t.notna().any()), default=pd.NaT)
    as_of_ts = parse_as_of(as_of)
    past = as_of_ts is not None and data_end is not pd.NaT and as_of_ts < data_end
    if as_of_ts is None:
        as_of_ts = data_end if data_end is not pd.NaT else pd.Timestamp.now().floor("s")
    if past and m > 1 and not hist_cols:
        raise DataValidationError(
            "opportunities: the pipeline as of "
            f"{as_of_ts:%Y-%m-%d} (before the latest record, {data_end:%Y-%m-%d}) needs the stage-history columns "
            f"{', '.join(f'{s}_at' for s in stages[1:])}; found none. Use as_of=None for the current pipeline."
        )

    reasons = pd.Series(pd.NA, index=opps.index, dtype="string")

    def flag(mask, text) -> None:
        nonlocal reasons
        mask = pd.Series(np.asarray(mask, dtype=bool), index=opps.index)
        reasons = reasons.mask(mask & reasons.isna(), text)

    flag(created.isna(), "created_at missing")
    flag(created > as_of_ts, "created after as_of (not yet in the pipeline)")
    lo, hi = parse_window(created_between, "created_between")
    if lo is not None:
        flag(created < lo, "created before the period")
    if hi is not None:
        flag(created > hi, "created after the period")
    known = stage.isin(list(stages) + [WON, LOST]).fillna(False)
    flag(~known, f"stage not one of {', '.join(stages)}, {WON}, {LOST}")

    # entry times, masked to what was known at as_of
    entered = np.full((len(opps), m), np.datetime64("NaT"), dtype="datetime64[ns]")
    entered[:, 0] = created.to_numpy(dtype="datetime64[ns]")
    for i, col in hist_cols.items():
        entered[:, i] = opps[col].to_numpy(dtype="datetime64[ns]")
    as_of64 = np.datetime64(as_of_ts.to_datetime64(), "ns")
    entered[entered > as_of64] = np.datetime64("NaT")
    has_entry = ~np.isnat(entered)
    hist_k = np.where(has_entry.any(axis=1), m - 1 - np.argmax(has_entry[:, ::-1], axis=1), 0)

    is_closed_now = stage.isin([WON, LOST]).fillna(False).to_numpy(dtype=bool)
    closed_known = closed.notna().to_numpy(dtype=bool)
    closed_by = is_closed_now & (~closed_known | (closed.to_numpy(dtype="datetime64[ns]") <= as_of64))
    if past:
        flag(is_closed_now & ~closed_known, "closed without closed_at, so its state at as_of is unknown")
    won_now = (stage == WON).fillna(False).to_numpy(dtype=bool)
    outcome = np.where(closed_by, np.where(won_now, "won", "lost"), "open")

    stage_index = {s: i for i, s in enumerate(stages)}
    cur = stage.map(stage_index).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    k = hist_k.astype(np.int64).copy()
    # still open now, at its current stage: that stage was entered by as_of unless its entry time says otherwise
    open_now = ~is_closed_now & ~np.isnan(cur)
    cur_i = np.nan_to_num(cur, nan=0).astype(np.int64)
    cur_entry = entered[np.arange(len(opps)), cur_i]
    raw_entry_known = np.ones(len(opps), dtype=bool)
    for i, col in hist_cols.items():
        sel = cur_i == i
        raw_entry_known[sel] = opps[col].notna().to_numpy(dtype=bool)[sel]
    raw_entry_known[cur_i == 0] = True
    if not past:
        k = np.where(open_now, np.maximum(k, cur_i), k)
    else:
        held = open_now & ~np.isnat(cur_entry)
        k = np.where(held, np.maximum(k, cur_i), k)
        flag(open_now & (cur_i > 0) & ~raw_entry_known, "in a later stage now, entered at an unknown time")
    # won: reached the last stage; lost: the stage it was lost from
    k = np.where(closed_by & won_now, m - 1, k)
    lost_by = closed_by & ~won_now
    if "lost_at_stage" in opps.columns:
        lost_at = opps["lost_at_stage"].astype("string").map(stage_index).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        has_lost_at = ~np.isnan(lost_at)
        k = np.where(lost_by & has_lost_at, np.maximum(k, np.nan_to_num(lost_at, nan=0).astype(np.int64)), k)
        bad_lost_at = lost_by & opps["lost_at_stage"].notna().to_numpy(dtype=bool) & ~has_lost_at
        flag(bad_lost_at, f"lost_at_stage not one of {', '.join(stages)}")
    else:
        has_lost_at = np.zeros(len(opps), dtype=bool)
    if not hist_cols and m > 1:
        flag(lost_by & ~has_lost_at, "lost, but the stage it was lost from is not recorded (lost_at_stage)")

    used = reasons.isna().to_numpy()
    deals = pd.DataFrame(
        {
            "opportunity_id": opps["opportunity_id"].astype("string"),
            "customer_id": opps["customer_id"].astype("string") if "customer_id" in opps.columns else pd.NA,
            "amount": pd.to_numeric(opps["amount"], errors="coerce").astype("float64") if "amount" in opps.columns else np.nan,
            "owner": opps["owner"].astype("string") if "owner" in opps.columns else pd.NA,
            "lead_source": opps["lead_source"].astype("string") if "lead_source" in opps.columns else pd.NA,
            "created_at": created,
            "closed_at": closed.where(pd.Series(closed_by, index=opps.index)),
            "outcome": outcome,
            "k": k,
        }
    )
    deals["stage_at"] = np.where(
        outcome == "won", WON, np.where(outcome == "lost", LOST, np.asarray(stages, dtype=object)[np.clip(k, 0, m - 1)])
    )
    entry_k = entered[np.arange(len(opps)), np.clip(k, 0, m - 1)]
    age = (as_of64 - entry_k) / np.timedelta64(1, "D")
    deals["days_in_stage"] = np.where(outcome == "open", age, np.nan)
    deals = deals[used].reset_index(drop=True)
    return Prepared(
        deals=deals,
        entered=entered[used],
        stages=stages,
        as_of=as_of_ts,
        rows_in=n_in,
        set_aside=_set_aside_frame(reasons),
        has_history=bool(hist_cols),
    )


@dataclass(frozen=True)
class Durations:
    """Days spent in one stage: one row per opportunity that entered it with a known time."""

    stage: str
    days: np.ndarray
    event: np.ndarray  # 1 = left the stage (moved on, won or lost), 0 = still there at as_of (censored)
    opportunity_id: np.ndarray
    unknown_entry: int  # entered the stage at an unknown time: not used


def durations(p: Prepared) -> list[Durations]:
    """Time in each stage; open deals are censored at ``as_of``."""
    d = p.deals
    m = len(p.stages)
    k = d["k"].to_numpy()
    outcome = d["outcome"].to_numpy()
    closed_at = d["closed_at"].to_numpy(dtype="datetime64[ns]")
    as_of64 = np.datetime64(p.as_of.to_datetime64(), "ns")
    out = []
    for i in range(m):
        reached = k >= i
        start = p.entered[:, i]
        # leaving: the next known entry after i; at the furthest stage, the close (or as_of if open)
        nxt = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]")
        for j in range(m - 1, i, -1):
            e = p.entered[:, j]
            nxt = np.where(~np.isnat(e), e, nxt)
        end = np.where(k > i, nxt, np.where(outcome == "open", as_of64, closed_at))
        event = np.where((k > i) | (outcome != "open"), 1, 0)
        ok = reached & ~np.isnat(start) & ~np.isnat(end)
        days = (end - start) / np.timedelta64(1, "D")
        ok &= days >= 0
        out.append(
            Durations(
                stage=p.stages[i],
                days=days[ok].astype(float),
                event=event[ok].astype(np.int64),
                opportunity_id=d["opportunity_id"].to_numpy(dtype=object)[ok],
                unknown_entry=int((reached & ~ok).sum()),
            )
        )
    return out


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve with an exponential tail beyond its last event, for sampling."""

    times: np.ndarray  # distinct event times, ascending
    surv: np.ndarray  # S(t) just after each event time
    tail_rate: float  # events per day of exposure (exponential MLE), used beyond the last event

    @classmethod
    def fit(cls, days: np.ndarray, event: np.ndarray) -> "KaplanMeier":
        days = np.asarray(days, dtype=float)
        event = np.asarray(event, dtype=np.int64)
        exposure = days.sum()
        n_events = int(event.sum())
        rate = n_events / exposure if exposure > 0 else (np.inf if n_events else 0.0)
        if n_events == 0:
            return cls(np.empty(0), np.empty(0), rate)
        ev_times = np.unique(days[event == 1])
        at_risk = len(days) - np.searchsorted(np.sort(days), ev_times, side="left")
        d = np.bincount(np.searchsorted(ev_times, days[event == 1]), minlength=len(ev_times))
        surv = np.cumprod(1.0 - d / at_risk)
        return cls(ev_times, surv, rate)

    def survival(self, t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.times, t, side="right") - 1
        s = np.where(idx >= 0, self.surv[np.maximum(idx, 0)] if len(self.surv) else 1.0, 1.0)
        return s

    def sample_residual(self, age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Remaining days in the stage for deals already ``age`` days in it."""
        age = np.asarray(age, dtype=float)
        s_age = np.ones(len(age))
        started = age > 0  # most deals start a stage afresh (S = 1): skip the lookup for them
        if started.any():
            s_age[started] = self.survival(age[started])
        u = rng.random(len(age)) * s_age
        out = np.empty(len(age))
        if len(self.times):
            idx = np.searchsorted(-self.surv, -u, side="left")  # first event time with S <= u
            inside = idx < len(self.times)
            out[inside] = self.times[idx[inside]] - age[inside]
        else:
            inside = np.zeros(len(age), dtype=bool)
        beyond = ~inside
        if beyond.any():
            start = np.maximum(age[beyond], self.times[-1] if len(self.times) else 0.0)
            if self.tail_rate > 0 and np.isfinite(self.tail_rate):
                extra = rng.exponential(1.0 / self.tail_rate, int(beyond.sum()))
            else:
                extra = np.full(int(beyond.sum()), np.inf if self.tail_rate == 0 else 0.0)
            out[beyond] = start + extra - age[beyond]
        return np.maximum(out, 0.0)
