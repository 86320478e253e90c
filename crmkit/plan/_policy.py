"""The contact policy: channels, caps, quiet periods and offers as data a consultant edits.

Every rule is a row of a small DataFrame, so a policy round-trips to a dict of frames, to
a folder of CSV files or to one Excel workbook (one sheet per table) and back.

Meaning of each table
---------------------
``channels``       channel, cost_per_contact (currency per contact), capacity_per_day
                   (contacts per day; NaN = unlimited; fractions are rounded down).
``caps``           scope (a channel or ``"all"``), kind (``"sliding"`` or ``"calendar"``),
                   window (``"7D"``: any 7 consecutive days, for sliding; ``"week"`` (ISO,
                   Monday first) or ``"month"`` for calendar), max_weight (the most message
                   weight allowed in one window). Past outbound contacts weigh 1 each; a
                   planned contact weighs its offer's ``weight``.
``quiet_periods``  event (``"complaint"``: a ticket is opened; ``"purchase"``: an order),
                   days (no marketing from the event's day through ``days`` days after it).
``offers``         offer, weight, min_volume, max_volume (contacts over the plan; NaN = no
                   bound), channels (comma list of allowed channels or ``"*"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from crmkit.errors import CrmkitError, ParameterError, SourceError
from crmkit.schema import CONTACT_CHANNELS

__all__ = ["CHANNEL_WORDS", "ContactPolicy", "InfeasiblePolicyError"]


class InfeasiblePolicyError(CrmkitError, ValueError):
    """No plan can satisfy the policy; ``constraints`` lists the conflicting rules in words."""

    def __init__(self, message: str, constraints: list[str] | None = None):
        super().__init__(message)
        self.constraints = list(constraints or [])


#: How each channel is named in sentences.
CHANNEL_WORDS = {
    "email": "e-mail",
    "sms": "SMS",
    "push": "push notification",
    "phone": "call-centre call",
    "post": "mailing",
    "all": "contact (all channels)",
}

_FRAMES = ("channels", "caps", "quiet_periods", "offers")
_COLUMNS = {
    "channels": ["channel", "cost_per_contact", "capacity_per_day"],
    "caps": ["scope", "kind", "window", "max_weight"],
    "quiet_periods": ["event", "days"],
    "offers": ["offer", "weight", "min_volume", "max_volume", "channels"],
}
_SLIDING = re.compile(r"^\s*(\d+)\s*[dD]\s*$")
_EVENTS = ("complaint", "purchase")


def sliding_days(window) -> int:
    """Length in days of a sliding window written ``"7D"``."""
    m = _SLIDING.match(str(window))
    if not m or int(m.group(1)) < 1:
        raise ParameterError(f"caps.window: expected a sliding window such as '7D' (days ≥ 1), found {window!r}.")
    return int(m.group(1))


def _num(frame: pd.DataFrame, table: str, col: str, *, allow_nan: bool, ge: float = 0.0) -> pd.Series:
    s = pd.to_numeric(frame[col], errors="coerce").astype(float)
    bad = (s.isna() & frame[col].notna()) | (s < ge) | (~allow_nan & s.isna())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParameterError(
            f"policy.{table}.{col}: expected a number ≥ {ge:g}{' or empty' if allow_nan else ''}, "
            f"found {frame[col].iloc[i]!r} in row {i}."
        )
    return s


def _validate(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    for name in _FRAMES:
        if name not in frames or not isinstance(frames[name], pd.DataFrame):
            raise ParameterError(f"policy.{name}: expected a DataFrame with columns {_COLUMNS[name]}, found {type(frames.get(name)).__name__}.")
        f = frames[name].copy().reset_index(drop=True)
        missing = [c for c in _COLUMNS[name] if c not in f.columns]
        if name == "offers" and missing == ["channels"]:
            f["channels"] = "*"
            missing = []
        if name == "offers":
            for c, default in (("min_volume", np.nan), ("max_volume", np.nan), ("weight", 1.0)):
                if c in missing:
                    f[c] = default
                    missing.remove(c)
        if missing:
            raise ParameterError(f"policy.{name}: missing column(s) {missing}; expected {_COLUMNS[name]}.")
        out[name] = f[_COLUMNS[name]]
    ch = out["channels"]
    ch["channel"] = ch["channel"].astype(str)
    bad = ~ch["channel"].isin(CONTACT_CHANNELS)
    if bad.any():
        raise ParameterError(
            f"policy.channels.channel: expected one of {CONTACT_CHANNELS}, found {ch['channel'][bad].iloc[0]!r} in row {int(np.flatnonzero(bad)[0])}."
        )
    if ch["channel"].duplicated().any():
        raise ParameterError(f"policy.channels: channel {ch['channel'][ch['channel'].duplicated()].iloc[0]!r} appears twice.")
    ch["cost_per_contact"] = _num(ch, "channels", "cost_per_contact", allow_nan=False)
    ch["capacity_per_day"] = np.floor(_num(ch, "channels", "capacity_per_day", allow_nan=True))
    caps = out["caps"]
    caps["scope"] = caps["scope"].astype(str)
    caps["kind"] = caps["kind"].astype(str).str.lower()
    caps["window"] = caps["window"].astype(str)
    caps["max_weight"] = _num(caps, "caps", "max_weight", allow_nan=False)
    for i, r in caps.iterrows():
        if r["scope"] != "all" and r["scope"] not in set(ch["channel"]):
            raise ParameterError(f"policy.caps.scope: expected 'all' or a channel of policy.channels, found {r['scope']!r} in row {i}.")
        if r["kind"] == "sliding":
            sliding_days(r["window"])
        elif r["kind"] == "calendar":
            if r["window"].lower() not in ("week", "month"):
                raise ParameterError(f"policy.caps.window: a calendar cap needs 'week' or 'month', found {r['window']!r} in row {i}.")
            caps.loc[i, "window"] = r["window"].lower()
        else:
            raise ParameterError(f"policy.caps.kind: expected 'sliding' or 'calendar', found {r['kind']!r} in row {i}.")
    q = out["quiet_periods"]
    q["event"] = q["event"].astype(str).str.lower()
    bad = ~q["event"].isin(_EVENTS)
    if bad.any():
        raise ParameterError(f"policy.quiet_periods.event: expected one of {_EVENTS}, found {q['event'][bad].iloc[0]!r}.")
    q["days"] = _num(q, "quiet_periods", "days", allow_nan=False).astype(int)
    of = out["offers"]
    of["offer"] = of["offer"].astype(str)
    if of["offer"].duplicated().any():
        raise ParameterError(f"policy.offers: offer {of['offer'][of['offer'].duplicated()].iloc[0]!r} appears twice.")
    if len(of) == 0:
        raise ParameterError("policy.offers: expected at least one offer, found none.")
    of["weight"] = _num(of, "offers", "weight", allow_nan=False)
    if (of["weight"] <= 0).any():
        raise ParameterError("policy.offers.weight: expected a message weight > 0 for every offer.")
    of["min_volume"] = _num(of, "offers", "min_volume", allow_nan=True)
    of["max_volume"] = _num(of, "offers", "max_volume", allow_nan=True)
    of["channels"] = of["channels"].fillna("*").astype(str)
    for i, r in of.iterrows():
        if r["channels"].strip() != "*":
            unknown = [c.strip() for c in r["channels"].split(",") if c.strip() not in set(ch["channel"])]
            if unknown:
                raise ParameterError(f"policy.offers.channels: offer {r['offer']!r} names unknown channel(s) {unknown}; channels are {list(ch['channel'])}.")
    return out


@dataclass(frozen=True, eq=False)
class ContactPolicy:
    """The contact rules (see the module docstring for every column's meaning).

    ``budget`` is the most the plan may spend on contacts (currency; ``None`` = no budget).
    """

    channels: pd.DataFrame
    caps: pd.DataFrame
    quiet_periods: pd.DataFrame
    offers: pd.DataFrame
    max_offers_per_customer: int = 1
    budget: float | None = None
    currency: str = "£"

    def __post_init__(self):
        frames = _validate({n: getattr(self, n) for n in _FRAMES})
        for n, f in frames.items():
            object.__setattr__(self, n, f)
        k = self.max_offers_per_customer
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"policy.max_offers_per_customer: expected a whole number ≥ 1, found {k!r}.")
        object.__setattr__(self, "max_offers_per_customer", int(k))
        if self.budget is not None:
            b = float(self.budget)
            if not np.isfinite(b) or b < 0:
                raise ParameterError(f"policy.budget: expected a number ≥ 0 or None, found {self.budget!r}.")
            object.__setattr__(self, "budget", b)

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls) -> ContactPolicy:
        """Demo rules: e-mail ≤ 3 in any 7 days, SMS ≤ 2 in any 7 days, push ≤ 4 in any 7 days,
        ≤ 8 contacts per calendar month across channels, ≤ 1 call-centre call in any 30 days,
        2,000 calls a day, quiet 14 days after a complaint ticket and 3 days after a purchase;
        the five demo offers (10% off, flash sale, £10 voucher, free delivery, double points).

        >>> p = ContactPolicy.default()
        >>> p.caps.loc[0, ["scope", "kind", "window"]].tolist()
        ['email', 'sliding', '7D']
        >>> float(p.with_changes(caps={"email": 2}).caps.loc[0, "max_weight"])
        2.0
        """
        channels = pd.DataFrame(
            {
                "channel": ["email", "sms", "push", "phone", "post"],
                "cost_per_contact": [0.02, 0.06, 0.005, 2.50, 0.85],
                "capacity_per_day": [np.nan, np.nan, np.nan, 2000.0, 5000.0],
            }
        )
        caps = pd.DataFrame(
            {
                "scope": ["email", "sms", "push", "phone", "all"],
                "kind": ["sliding", "sliding", "sliding", "sliding", "calendar"],
                "window": ["7D", "7D", "7D", "30D", "month"],
                "max_weight": [3.0, 2.0, 4.0, 1.0, 8.0],
            }
        )
        quiet = pd.DataFrame({"event": ["complaint", "purchase"], "days": [14, 3]})
        offers = pd.DataFrame(
            {
                "offer": ["10% off", "flash sale", "£10 voucher", "free delivery", "double points"],
                "weight": [1.0, 1.0, 1.0, 1.0, 1.0],
                "min_volume": [np.nan] * 5,
                "max_volume": [np.nan] * 5,
                "channels": ["*", "email,sms,push", "*", "*", "*"],
            }
        )
        return cls(channels, caps, quiet, offers, max_offers_per_customer=1)

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The rules as tables, plus ``settings`` (max_offers_per_customer, budget, currency)."""
        out = {n: getattr(self, n).copy() for n in _FRAMES}
        out["settings"] = pd.DataFrame(
            {
                "setting": ["max_offers_per_customer", "budget", "currency"],
                "value": [str(self.max_offers_per_customer), "" if self.budget is None else repr(self.budget), self.currency],
            }
        )
        return out

    @classmethod
    def from_frames(cls, frames: dict) -> ContactPolicy:
        """Build a policy from :meth:`to_frames`' dict (``settings`` optional)."""
        kw = {}
        settings = frames.get("settings")
        if settings is not None:
            s = dict(zip(settings["setting"].astype(str), settings["value"]))
            if str(s.get("max_offers_per_customer", "")).strip() not in ("", "nan"):
                kw["max_offers_per_customer"] = int(float(s["max_offers_per_customer"]))
            if str(s.get("budget", "")).strip() not in ("", "nan", "None"):
                kw["budget"] = float(s["budget"])
            if str(s.get("currency", "")).strip() not in ("", "nan"):
                kw["currency"] = str(s["currency"])
        return cls(**{n: frames.get(n) for n in _FRAMES}, **kw)

    def save(self, path) -> Path:
        """Write the policy to an ``.xlsx`` workbook (one sheet per table) or a folder of CSVs."""
        path = Path(path)
        frames = self.to_frames()
        if path.suffix.lower() == ".xlsx":
            with pd.ExcelWriter(path) as xw:
                for n, f in frames.items():
                    f.to_excel(xw, sheet_name=n, index=False)
        else:
            path.mkdir(parents=True, exist_ok=True)
            for n, f in frames.items():
                f.to_csv(path / f"{n}.csv", index=False)
        return path

    @classmethod
    def load(cls, path) -> ContactPolicy:
        """Read a policy written by :meth:`save` (``.xlsx`` or a folder of CSVs)."""
        path = Path(path)
        if path.suffix.lower() == ".xlsx":
            if not path.is_file():
                raise SourceError(f"{path}: no policy workbook there.")
            frames = pd.read_excel(path, sheet_name=None)
        else:
            if not path.is_dir():
                raise SourceError(f"{path}: no policy folder there.")
            frames = {p.stem: pd.read_csv(p, keep_default_na=True) for p in path.glob("*.csv")}
        missing = [n for n in _FRAMES if n not in frames]
        if missing:
            raise SourceError(f"{path}: the policy lacks table(s) {missing}.")
        return cls.from_frames(frames)

    def with_changes(self, *, budget=..., caps: dict | None = None, capacity: dict | None = None,
                     max_offers_per_customer: int | None = None) -> ContactPolicy:
        """A copy with a new budget, caps and capacities (for what-if sliders).

        ``caps``: ``{scope: max_weight}`` changes every cap of that scope (e.g. ``{"email": 2}``),
        ``{(scope, window): max_weight}`` one cap (e.g. ``{("all", "month"): 6}``).
        ``capacity``: ``{channel: contacts per day}`` (``None``/NaN = unlimited).
        ``budget=None`` removes the budget; leaving it out keeps the current one.
        """
        new_caps = self.caps.copy()
        for key, val in (caps or {}).items():
            if isinstance(key, tuple):
                mask = (new_caps["scope"] == key[0]) & (new_caps["window"].str.lower() == str(key[1]).lower())
            else:
                mask = new_caps["scope"] == key
            if not mask.any():
                raise ParameterError(f"with_changes(caps=...): no cap matches {key!r}; caps are {list(zip(new_caps['scope'], new_caps['window']))}.")
            v = float(val) if val is not None else np.nan
            if not np.isfinite(v) or v < 0:
                raise ParameterError(f"with_changes(caps=...): {key!r} needs a max_weight ≥ 0, found {val!r}.")
            new_caps.loc[mask, "max_weight"] = v
        ch = self.channels.copy()
        for key, val in (capacity or {}).items():
            mask = ch["channel"] == key
            if not mask.any():
                raise ParameterError(f"with_changes(capacity=...): unknown channel {key!r}; channels are {list(ch['channel'])}.")
            v = np.nan if val is None else float(val)
            if v < 0:
                raise ParameterError(f"with_changes(capacity=...): {key!r} needs contacts per day ≥ 0 (or None), found {val!r}.")
            ch.loc[mask, "capacity_per_day"] = np.floor(v)
        kw = {"caps": new_caps, "channels": ch}
        if budget is not ...:
            if budget is not None:
                b = float(budget)
                if not np.isfinite(b) or b < 0:
                    raise ParameterError(f"with_changes(budget=...): expected a number ≥ 0 or None, found {budget!r}.")
                budget = b
            kw["budget"] = budget
        if max_offers_per_customer is not None:
            kw["max_offers_per_customer"] = max_offers_per_customer
            return replace(self, **kw)  # validated in full
        # only numbers changed, each checked above: skip re-validating the frames (what-if speed)
        new = object.__new__(type(self))
        for f in fields(self):
            object.__setattr__(new, f.name, kw.get(f.name, getattr(self, f.name)))
        return new

    # ------------------------------------------------------------------ reading
    def offer_channels(self) -> dict[str, list[str]]:
        """Allowed channels of each offer."""
        allc = list(self.channels["channel"])
        out = {}
        for _, r in self.offers.iterrows():
            s = r["channels"].strip()
            out[r["offer"]] = allc if s == "*" else [c.strip() for c in s.split(",") if c.strip()]
        return out

    def cap_label(self, row) -> str:
        scope = "contacts" if row["scope"] == "all" else row["scope"]
        w = f"{row['max_weight']:g}"
        if row["kind"] == "sliding":
            return f"cap: {scope} {w} in {sliding_days(row['window'])} days"
        return f"cap: {scope} {w} per calendar {row['window']}"

    def describe(self) -> str:
        """The rules in words."""
        cur = self.currency
        lines = ["Channels:"]
        for _, r in self.channels.iterrows():
            cap = "no daily limit" if np.isnan(r["capacity_per_day"]) else f"at most {r['capacity_per_day']:,.0f} a day"
            lines.append(f"  - {CHANNEL_WORDS.get(r['channel'], r['channel'])}: {cur}{r['cost_per_contact']:.3g} per contact, {cap}")
        lines.append("Frequency caps (past contacts weigh 1; a planned contact weighs its offer's weight):")
        for _, r in self.caps.iterrows():
            what = "contacts across all channels" if r["scope"] == "all" else f"{CHANNEL_WORDS.get(r['scope'], r['scope'])}s"
            win = f"any {sliding_days(r['window'])} consecutive days" if r["kind"] == "sliding" else f"a calendar {r['window']}"
            lines.append(f"  - at most {r['max_weight']:g} weight of {what} in {win}")
        lines.append("Quiet periods:")
        for _, r in self.quiet_periods.iterrows():
            ev = "a complaint ticket" if r["event"] == "complaint" else "a purchase"
            lines.append(f"  - no marketing for {r['days']} days after {ev}")
        lines.append(f"Offers (at most {self.max_offers_per_customer} per customer per plan):")
        for _, r in self.offers.iterrows():
            vol = []
            if not np.isnan(r["min_volume"]):
                vol.append(f"at least {r['min_volume']:,.0f}")
            if not np.isnan(r["max_volume"]):
                vol.append(f"at most {r['max_volume']:,.0f}")
            lines.append(f"  - {r['offer']}: weight {r['weight']:g}, channels {r['channels']}" + (f", {' and '.join(vol)} contacts" if vol else ""))
        lines.append("Budget: " + ("none" if self.budget is None else f"{cur}{self.budget:,.2f}"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ContactPolicy({len(self.channels)} channels, {len(self.caps)} caps, {len(self.quiet_periods)} quiet periods, "
                f"{len(self.offers)} offers, max {self.max_offers_per_customer} per customer, budget={self.budget})")
