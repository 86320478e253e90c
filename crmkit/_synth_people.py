"""Private helpers of :mod:`crmkit.synth`: fake personal data and duplicate typos.

Faker is slow per call, so it is asked once for small pools (names, streets,
postcodes, cities) and customers are then drawn from the pools with numpy. Every
draw goes through a ``numpy.random.Generator`` handed in by the caller, and Faker is
seeded from it, so a seed gives the same people every time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from faker import Faker

__all__: list[str] = []  # private module

EMAIL_DOMAINS = np.array(
    ["gmail.com", "yahoo.co.uk", "hotmail.co.uk", "outlook.com", "btinternet.com", "icloud.com", "sky.com"]
)
EMAIL_DOMAIN_SHARES = np.array([0.34, 0.14, 0.16, 0.14, 0.08, 0.09, 0.05])
# Domains people used to have ("old" addresses in a duplicate record).
OLD_DOMAINS = np.array(["aol.co.uk", "tiscali.co.uk", "virginmedia.com", "ntlworld.com", "talktalk.net"])

_ABBREVIATIONS = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Lane": "Ln",
    "Drive": "Dr",
    "Court": "Ct",
    "Place": "Pl",
    "Square": "Sq",
    "Crescent": "Cres",
    "Gardens": "Gdns",
}


def faker_pools(seed: int, regions: tuple[str, ...], cities_per_region: int = 40, size: int = 2000) -> dict:
    """Draw the pools once from a seeded en_GB Faker."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    first = sorted({fake.first_name() for _ in range(size)})
    last = sorted({fake.last_name() for _ in range(size)})
    streets = sorted({fake.street_name() for _ in range(size)})
    postcodes = [fake.postcode() for _ in range(size)]
    cities: list[str] = []
    seen: set[str] = set()
    while len(cities) < cities_per_region * len(regions):
        c = fake.city()
        if c not in seen:
            seen.add(c)
            cities.append(c)
    reps = []
    while len(reps) < 8:
        name = f"{fake.first_name()} {fake.last_name()}"
        if name not in reps:
            reps.append(name)
    return {
        "first": np.array(first, dtype=object),
        "last": np.array(last, dtype=object),
        "street": np.array(streets, dtype=object),
        "postcode": np.array(postcodes, dtype=object),
        "city_by_region": np.array(cities, dtype=object).reshape(len(regions), cities_per_region),
        "reps": reps,
    }


def _ascii_lower(values: np.ndarray) -> np.ndarray:
    return pd.Series(values, dtype=object).str.lower().str.replace(r"[^a-z]", "", regex=True).to_numpy(dtype=object)


def _format_mobile(digits: np.ndarray) -> np.ndarray:
    """``07xxx xxxxxx`` from the nine digits after ``07``."""
    return np.array([f"07{d // 1_000_000:03d} {d % 1_000_000:06d}" for d in digits.tolist()], dtype=object)


def people(rng: np.random.Generator, pools: dict, region_idx: np.ndarray) -> pd.DataFrame:
    """Personal fields for ``len(region_idx)`` distinct people (one row each).

    E-mail addresses and phone numbers are unique across the rows returned, so that two
    rows share them only where a duplicate is planted on purpose.
    """
    n = len(region_idx)
    fi = rng.integers(0, len(pools["first"]), n)
    li = rng.integers(0, len(pools["last"]), n)
    first, last = pools["first"][fi], pools["last"][li]
    f_pool = _ascii_lower(pools["first"])
    f, l_ = f_pool[fi], _ascii_lower(pools["last"])[li]
    initial = np.array([s[:1] for s in f_pool.tolist()], dtype=object)[fi]
    style = rng.choice(5, size=n, p=[0.35, 0.2, 0.15, 0.1, 0.2])
    local = np.select(
        [style == 0, style == 1, style == 2, style == 3],
        [f + "." + l_, f + l_, initial + "." + l_, f + "_" + l_],
        default=f + "." + l_ + rng.integers(1, 100, n).astype(str).astype(object),
    )
    domain = rng.choice(EMAIL_DOMAINS, size=n, p=EMAIL_DOMAIN_SHARES).astype(object)
    email = pd.Series(local + "@" + domain)
    clash = email.duplicated(keep="first").to_numpy()
    if clash.any():
        # Make every address unique: append the row number to the local part.
        rows = np.flatnonzero(clash)
        email.iloc[rows] = [
            f"{loc}{r + 1}@{dom}" for loc, r, dom in zip(local[rows].tolist(), rows.tolist(), domain[rows].tolist())
        ]

    digits = rng.integers(0, 10**9, n)
    while True:
        again = pd.Series(digits).duplicated().to_numpy()
        if not again.any():
            break
        digits[again] = rng.integers(0, 10**9, int(again.sum()))
    phone = _format_mobile(digits)

    house = rng.integers(1, 200, n).astype(str).astype(object)
    street = house + " " + pools["street"][rng.integers(0, len(pools["street"]), n)]
    postcode = pools["postcode"][rng.integers(0, len(pools["postcode"]), n)]
    cpr = pools["city_by_region"].shape[1]
    city = pools["city_by_region"][region_idx, rng.integers(0, cpr, n)]
    return pd.DataFrame(
        {
            "first_name": first,
            "last_name": last,
            "email": email.to_numpy(dtype=object),
            "phone": phone,
            "street": street,
            "postcode": postcode,
            "city": city,
        }
    )


# --- duplicate records -------------------------------------------------------------


def _typo(word: str, kind: int, pos: float) -> str:
    """Swap two neighbouring letters (0), drop one (1), double one (2) or lower-case (3)."""
    if len(word) < 3 or kind == 3:
        return word.lower() if word.lower() != word else word.upper()
    i = 1 + int(pos * (len(word) - 2))  # keep the first letter, as people do
    if kind == 0:
        i = min(i, len(word) - 2)
        if word[i] == word[i + 1]:
            return word[:i] + word[i + 1 :]
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _email_variant(email: str, kind: int, rng: np.random.Generator) -> str:
    local, _, domain = email.partition("@")
    if kind == 0:  # different case
        return local.capitalize() + "@" + domain.capitalize()
    if kind == 1:  # gmail ignores dots (or a +tag elsewhere)
        if domain == "gmail.com":
            if "." in local:
                return local.replace(".", "") + "@" + domain
            return local[:1] + "." + local[1:] + "@" + domain
        return local + "+shop@" + domain
    # an old address at another provider
    return local + "@" + str(OLD_DOMAINS[rng.integers(0, len(OLD_DOMAINS))])


def _phone_variant(phone: str, kind: int) -> str:
    d = phone.replace(" ", "")  # 07xxxxxxxxx
    if kind == 0:
        return "+44 " + d[1:5] + " " + d[5:]
    if kind == 1:
        return d[:5] + "-" + d[5:8] + "-" + d[8:]
    if kind == 2:
        return d
    return "+44" + d[1:]


def _street_variant(street: str, kind: int) -> str:
    if kind == 0:
        for long, short in _ABBREVIATIONS.items():
            if street.endswith(" " + long):
                return street[: -len(long)] + short
        return street.lower()
    if kind == 1:
        return street.upper()
    # another house number on the same street (a typo or a move next door)
    num, _, rest = street.partition(" ")
    return f"{int(num) + 2 if num.isdigit() else 1} {rest}"


VARIATIONS = ("name", "email", "phone", "address", "email_missing")


def duplicate_records(rng: np.random.Generator, originals: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Second records of the same people, with realistic typos.

    Each record gets at least one of: a typo in first or last name; an e-mail variant
    (case, gmail dots or ``+tag``, an old provider); the phone in another format; a slightly
    different address (abbreviation, case, house number, postcode without a space); or no
    e-mail at all. Returns the varied fields and, per record, the comma-joined variations.
    """
    n = len(originals)
    out = originals.reset_index(drop=True).copy()
    pick = rng.random((n, 5)) < np.array([0.55, 0.45, 0.45, 0.3, 0.08])
    none = ~pick.any(axis=1)
    pick[none, rng.integers(0, 3, int(none.sum()))] = True
    pick[pick[:, 4], 1] = False  # a missing e-mail is not also a varied one
    kinds = rng.integers(0, 4, (n, 5))
    which = rng.random(n) < 0.5
    pos = rng.random(n)

    first = out["first_name"].tolist()
    last = out["last_name"].tolist()
    email = out["email"].tolist()
    phone = out["phone"].tolist()
    street = out["street"].tolist()
    postcode = out["postcode"].tolist()
    for i in range(n):  # a few thousand rows at most: plain Python reads best here
        if pick[i, 0]:
            if which[i]:
                first[i] = _typo(first[i], int(kinds[i, 0]), float(pos[i]))
            else:
                last[i] = _typo(last[i], int(kinds[i, 0]), float(pos[i]))
        if pick[i, 1]:
            email[i] = _email_variant(email[i], int(kinds[i, 1]) % 3, rng)
        if pick[i, 4]:
            email[i] = None
        if pick[i, 2]:
            phone[i] = _phone_variant(phone[i], int(kinds[i, 2]))
        if pick[i, 3]:
            k = int(kinds[i, 3])
            if k == 3:
                postcode[i] = postcode[i].replace(" ", "").lower()
            else:
                street[i] = _street_variant(street[i], k)
    out["first_name"] = first
    out["last_name"] = last
    out["email"] = email
    out["phone"] = phone
    out["street"] = street
    out["postcode"] = postcode
    labels = np.array(
        [",".join(v for v, on in zip(VARIATIONS, row) if on) for row in pick.tolist()], dtype=object
    )
    return out, labels
