"""Standardisation helpers: phone numbers to E.164, e-mail, names, streets and postcodes.

Every helper takes a column and returns a *new* Series (index kept, pandas ``string``
dtype, missing where the value is blank or cannot be standardised); the raw column is
never modified. :func:`standardise_customers` adds all of them to a copy of the
customers table as ``<column>_std`` columns.

>>> import pandas as pd
>>> standardise_phone(pd.Series(["07700 900123", "+44 (0)20 7946 0018", "n/a"])).tolist()
['+447700900123', '+442079460018', <NA>]
>>> standardise_email(pd.Series([" J.Smith+shop@GoogleMail.com "]), canonical=True).tolist()
['jsmith@gmail.com']
>>> standardise_postcode(pd.Series(["sw1a1aa", "EC1A 1BB "])).tolist()
['SW1A 1AA', 'EC1A 1BB']
>>> first_name_root(pd.Series(["Bob", "Robert", "Dr. Liz"])).tolist()
['robert', 'robert', 'elizabeth']
"""

from __future__ import annotations

import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.quality._nicknames import NICKNAME_TO_FORMAL

__all__ = [
    "standardise_phone",
    "standardise_email",
    "standardise_name",
    "first_name_root",
    "standardise_street",
    "standardise_postcode",
    "standardise_customers",
    "STANDARDISED_COLUMNS",
]

# raw column -> standardised column added by standardise_customers
STANDARDISED_COLUMNS = {
    "first_name": "first_name_std",
    "last_name": "last_name_std",
    "email": "email_std",
    "phone": "phone_std",
    "street": "street_std",
    "postcode": "postcode_std",
}

_TITLES = r"(?:mr|mrs|ms|miss|mx|dr|prof|sir|rev)"
# Blanks, spelled out: pandas runs a pattern with \s, \d or \w through Python's re, one
# value at a time, and through pyarrow's vectorised RE2 otherwise (ten times faster).
_BLANKS = "[ \t\n\r\f\v\u00a0]+"
_STREET_WORDS = {
    "rd": "road",
    "st": "street",
    "str": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "cres": "crescent",
    "gdns": "gardens",
    "cl": "close",
    "tce": "terrace",
    "ter": "terrace",
    "pk": "park",
    "hwy": "highway",
    "blvd": "boulevard",
    "grn": "green",
    "gr": "grove",
    "mt": "mount",
    "wy": "way",
}


def _text(values, name: str) -> pd.Series:
    """``values`` as a pandas string Series (blank -> missing), index kept."""
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        raise DataValidationError(
            f"{name}: expected text, found numbers of dtype {values.dtype}; read the column as text "
            "(crmkit.io.load does) so that leading zeros and '+' signs survive."
        )
    s = values.astype("string").str.strip()
    return s.mask(s == "", pd.NA)


def _ascii_lower(s: pd.Series) -> pd.Series:
    """Lower case without accents (é -> e)."""
    # the combining marks as literal characters (an escaped range would send pandas to Python's re)
    return s.str.normalize("NFKD").str.replace("[\u0300-\u036f]", "", regex=True).str.lower()


# ------------------------------------------------------------------ phone


def _phone_slow(text: str, region: str) -> str | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def standardise_phone(values, default_region: str = "GB") -> pd.Series:
    """Phone numbers in E.164 (``+447700900123``), with the ``phonenumbers`` library.

    A number without a country code is read as a number of ``default_region`` (ISO
    3166 alpha-2). Separators, brackets and a ``(0)`` after the country code are
    ignored. A value that is not a possible phone number (wrong length, letters) gives
    a missing value; whether a possible number is also *assigned* (``is_valid_number``)
    is a quality rule, see :func:`crmkit.quality.profile`.

    Parameters
    ----------
    values : Series or sequence of str
    default_region : str, default "GB"

    Returns
    -------
    pandas.Series
        ``string`` dtype, index of ``values``.

    Examples
    --------
    >>> import pandas as pd
    >>> standardise_phone(pd.Series(["+44 7700-900-123", "(202) 555-0143"]), default_region="US").tolist()
    ['+447700900123', '+12025550143']
    """
    if not isinstance(default_region, str) or len(default_region) != 2:
        raise ParameterError(f"default_region: expected a two-letter ISO country code such as 'GB', found {default_region!r}.")
    region = default_region.upper()
    s = _text(values, "phone")
    # "+44 (0)20 ..." -> "+4420 ...", then keep digits and a leading plus.
    cleaned = s.str.replace(r"\(0\)", "", regex=True).str.replace(r"[^0-9+]", "", regex=True)
    cleaned = cleaned.str.replace(r"^00", "+", regex=True)
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    done = pd.Series(False, index=s.index)
    if region == "GB":
        # Fast path, the same answer phonenumbers gives (tests check it): a 10-digit UK
        # national significant number after 0 or +44.
        # (pandas' arrow-backed match/replace, not extract: several times faster at a million rows)
        done = cleaned.str.match(r"^(?:\+44|0)[1-9][0-9]{9}$").fillna(False).astype(bool)
        out = cleaned.str.replace(r"^(?:\+44|0)", "+44", regex=True).where(done, out).astype("string")
    rest = cleaned[~done & cleaned.notna()]
    if len(rest):
        # phonenumbers is ~0.1 ms a number: ask it once per distinct value, with the raw text
        raw = s[rest.index]
        lookup = {v: _phone_slow(v, region) for v in pd.unique(raw.to_numpy(dtype=object))}
        out[rest.index] = pd.array([lookup[v] for v in raw.to_numpy(dtype=object)], dtype="string")
    return out


# ------------------------------------------------------------------ e-mail


def standardise_email(values, *, canonical: bool = False) -> pd.Series:
    """E-mail addresses trimmed and lower-cased.

    With ``canonical=True`` also the parts a mailbox ignores are dropped, for matching:
    a ``+tag`` in the local part, and the dots of a Gmail address (``googlemail.com``
    becomes ``gmail.com``). A value without exactly one ``@`` is returned lower-cased
    as it is (it is an invalid address, which is a quality rule, not a repair).

    Examples
    --------
    >>> import pandas as pd
    >>> standardise_email(pd.Series(["Jane.Doe@Example.COM", None, "  "])).tolist()
    ['jane.doe@example.com', <NA>, <NA>]
    """
    s = _text(values, "email").str.lower().str.replace(_BLANKS, "", regex=True)
    if not canonical:
        return s
    return _canonical_email(s)


def _canonical_email(s: pd.Series) -> pd.Series:
    """Lower-cased addresses -> the mailbox they reach (no +tag, Gmail without dots)."""
    ok = s.str.match(r"^[^@]+@[^@]+$").fillna(False).astype(bool)
    local = s.str.replace(r"@[^@]*$", "", regex=True)
    domain = s.str.replace(r"^[^@]*@", "", regex=True).str.replace(r"^googlemail\.com$", "gmail.com", regex=True)
    local = local.str.replace(r"\+.*$", "", regex=True)
    gmail = (domain == "gmail.com").fillna(False).astype(bool)
    local = local.mask(gmail, local.str.replace(".", "", regex=False))
    ok &= (local != "").fillna(False).astype(bool)
    return s.mask(ok, local + "@" + domain)


# ------------------------------------------------------------------ names


def standardise_name(values) -> pd.Series:
    """Names in lower-case ASCII letters: accents, titles (Mr, Dr …), digits and punctuation removed.

    Hyphens and apostrophes are dropped (``O'Neil-Smith`` -> ``oneilsmith``), inner spaces kept.

    Examples
    --------
    >>> import pandas as pd
    >>> standardise_name(pd.Series(["  Mrs. ZOË  O'Neil ", "Jean-Luc"])).tolist()
    ['zoe oneil', 'jeanluc']
    """
    s = _ascii_lower(_text(values, "name"))
    s = s.str.replace(rf"^{_TITLES}\.?{_BLANKS}([^ ])", r"\1", regex=True)
    s = s.str.replace(r"['\-’`.]", "", regex=True).str.replace(r"[^a-z ]+", " ", regex=True)
    s = s.str.replace(_BLANKS, " ", regex=True).str.strip()
    return s.mask(s == "", pd.NA)


def first_name_root(values) -> pd.Series:
    """Standardised first names with common nicknames mapped to their formal name (Bob -> robert).

    Only the first word counts (``Mary Ann`` -> ``mary``). Names not in the nickname
    list are returned standardised.
    """
    return _root_of_standardised(standardise_name(values))


def _root_of_standardised(names: pd.Series) -> pd.Series:
    first = names.str.replace(r" .*$", "", regex=True)
    nick = first.isin(list(NICKNAME_TO_FORMAL)).fillna(False).astype(bool)
    if not nick.any():
        return first
    return first.mask(nick, first[nick].map(NICKNAME_TO_FORMAL).astype("string"))


# ------------------------------------------------------------------ address


def standardise_street(values) -> pd.Series:
    """Street lines in lower case, punctuation dropped and street-type abbreviations spelled out.

    Only the words after the house number are expanded (``12 St John's Rd`` keeps the
    saint and reads ``12 st johns road``).

    Examples
    --------
    >>> import pandas as pd
    >>> standardise_street(pd.Series(["14 HIGH ST.", "3, Mill Lane", "7 Park Gdns"])).tolist()
    ['14 high street', '3 mill lane', '7 park gardens']
    """
    s = _ascii_lower(_text(values, "street"))
    s = s.str.replace(r"['’`]", "", regex=True).str.replace(r"[^a-z0-9 ]+", " ", regex=True)
    s = s.str.replace(_BLANKS, " ", regex=True).str.strip()
    # expand the last word only: that is where the street type stands
    for short, full in _STREET_WORDS.items():
        s = s.str.replace(f" {short}$", f" {full}", regex=True)
    return s.mask(s == "", pd.NA)


def standardise_postcode(values, country: str = "GB") -> pd.Series:
    """Postcodes upper-cased without inner blanks; UK postcodes with one space before the last three characters.

    For ``country`` other than "GB" the value is only upper-cased and stripped of spaces.
    """
    s = _text(values, "postcode").str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    s = s.mask(s == "", pd.NA)
    if str(country).upper() == "GB":
        uk = s.str.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}").fillna(False).astype(bool)
        s = s.mask(uk, s.str[:-3] + " " + s.str[-3:])
    return s


# ------------------------------------------------------------------ the customers table


def standardise_customers(customers: pd.DataFrame, *, default_region: str = "GB") -> pd.DataFrame:
    """A copy of ``customers`` with ``<column>_std`` columns added beside the raw ones.

    Adds ``first_name_std``, ``last_name_std``, ``first_name_root`` (nicknames mapped),
    ``email_std`` (trimmed, lower case), ``email_key`` (canonical, for matching),
    ``phone_std`` (E.164), ``street_std`` and ``postcode_std`` for each of the raw
    columns that is present. The raw columns are not changed.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"customer_id": ["c1"], "email": [" Ann@X.com"], "phone": ["07700 900123"]})
    >>> standardise_customers(raw)[["email", "email_std", "phone_std"]].iloc[0].tolist()
    [' Ann@X.com', 'ann@x.com', '+447700900123']
    """
    if not isinstance(customers, pd.DataFrame):
        raise ParameterError(f"customers: expected a pandas DataFrame, found {type(customers).__name__}.")
    out = customers.copy()
    cols = customers.columns
    if "first_name" in cols:
        out["first_name_std"] = standardise_name(customers["first_name"])
        out["first_name_root"] = _root_of_standardised(out["first_name_std"])
    if "last_name" in cols:
        out["last_name_std"] = standardise_name(customers["last_name"])
    if "email" in cols:
        out["email_std"] = standardise_email(customers["email"])
        out["email_key"] = _canonical_email(out["email_std"])
    if "phone" in cols:
        out["phone_std"] = standardise_phone(customers["phone"], default_region=default_region)
    if "street" in cols:
        out["street_std"] = standardise_street(customers["street"])
    if "postcode" in cols:
        out["postcode_std"] = standardise_postcode(customers["postcode"], country=default_region)
    return out
