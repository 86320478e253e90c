"""Privacy helpers: mask personal data for display, and scan outputs for personal data.

Reports and dashboards show ids, never a person's name, e-mail, phone, street or birth
date (the columns :func:`crmkit.schema.pii_columns` marks). Where an example value must
be shown — a badly formatted e-mail in the data quality report — it is masked first so
that its *shape* is visible and the person is not:

>>> mask_email("john.smith@example.com")
'j***@e***.com'
>>> mask_phone("+44 7700 900123")
'+** **** ****23'
>>> mask_name("Mary-Ann O'Neil")
'M*** O***'
>>> scan_pii("Contact: jane.doe@example.org or 07700 900123")["kind"].tolist()
['email', 'phone']

:func:`mask_frame` masks every personal-data column of a frame (and derived columns
such as ``email_std``); :func:`scan_pii` finds unmasked e-mail addresses, phone numbers
and — given the customers table — known names, streets, phone numbers and birth dates
in a text, an HTML page or a frame.
"""

from __future__ import annotations

import html as _html
import re

import pandas as pd

from crmkit.errors import ParameterError
from crmkit.schema import TABLES, pii_columns

__all__ = [
    "mask_email",
    "mask_phone",
    "mask_name",
    "mask_street",
    "mask_postcode",
    "mask_date",
    "mask_value",
    "mask_frame",
    "scan_pii",
    "PII_KINDS",
]

PII_KINDS = ("email", "phone", "name", "street", "birth_date")

_EMAIL_RE = re.compile(r"(?<![\w.*+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w*])")
# a phone-like run: optional +CC, then 9-13 digits with blanks, dashes, dots or brackets between
_PHONE_RE = re.compile(r"(?<![\w*.,/])(?:\+\d{1,3}[\s.-]?)?(?:\(0\)\s?)?\(?\d[\d\s().-]{7,16}\d(?![\w*/]|[.,]\d)")


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _stars(word: str) -> str:
    return word[:1] + "***" if word else ""


def mask_email(value):
    """``john@example.com`` -> ``j***@e***.com``: first letters and the top-level domain only.

    A value without ``@`` is masked like a name. Missing values are returned as they are.
    """
    if _missing(value):
        return value
    text = str(value).strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return mask_name(text)
    parts = domain.split(".")
    tld = "." + parts[-1] if len(parts) > 1 else ""
    return f"{_stars(local)}@{_stars(parts[0])}{tld}"


def mask_phone(value):
    """Every digit but the last two replaced by ``*``; the layout (``+``, blanks) is kept.

    >>> mask_phone("07700 900123")
    '***** ****23'
    """
    if _missing(value):
        return value
    text = str(value)
    n_digits = sum(ch.isdigit() for ch in text)
    out, seen = [], 0
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > n_digits - 2 else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_name(value):
    """The first letter of every word and ``***`` (``John Smith`` -> ``J*** S***``); hyphenated parts count as one word."""
    if _missing(value):
        return value
    words = re.split(r"\s+", str(value).strip())
    return " ".join(_stars(w) for w in words if w)


def mask_street(value):
    """House numbers replaced by ``#`` and words masked like names (``12 High St`` -> ``# H*** S***``)."""
    if _missing(value):
        return value
    words = re.split(r"\s+", str(value).strip())
    return " ".join("#" if re.fullmatch(r"[\d/,-]+[A-Za-z]?,?", w) else _stars(w) for w in words if w)


def mask_postcode(value):
    """A postcode shown by its outward part only (``SW1A 1AA`` -> ``SW1A ***``): an area, not an address.

    Postcodes are not personal data in the data model, but beside a masked name they
    narrow a person down; reports that show example records mask them too.
    """
    if _missing(value):
        return value
    text = re.sub(r"\s+", " ", str(value).strip())
    if " " in text:
        return text.split(" ")[0] + " ***"
    return (text[:-3] + " ***") if len(text) >= 5 else "***"


def mask_date(value):
    """A date shown by its decade only (``1984-03-24`` -> ``198*-**-**``)."""
    if _missing(value):
        return value
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return mask_name(value)
    return f"{ts.year // 10}*-**-**"


_MASKERS = {
    "email": mask_email,
    "phone": mask_phone,
    "first_name": mask_name,
    "last_name": mask_name,
    "street": mask_street,
    "birth_date": mask_date,
}
_ALL_PII = sorted({c for t in TABLES for c in pii_columns(t)}, key=len, reverse=True)


def _pii_base(column: str) -> str | None:
    """The personal-data column a column name stands for (``email_std`` -> ``email``), or None."""
    name = str(column)
    for base in _ALL_PII:
        if name == base or name.startswith(base + "_") or name.endswith("_" + base):
            return base
    return None


def mask_value(value, column: str):
    """``value`` masked the way its column calls for; values of other columns are returned unchanged.

    >>> mask_value("ann@x.org", "email_std"), mask_value("North", "region")
    ('a***@x***.org', 'North')
    """
    base = _pii_base(column)
    if base is None:
        return value
    return _MASKERS.get(base, mask_name)(value)


def mask_frame(frame: pd.DataFrame, columns=None) -> pd.DataFrame:
    """A copy of ``frame`` with its personal-data columns masked (as text).

    Parameters
    ----------
    frame : DataFrame
    columns : list of str, optional
        Columns to mask. Default: every column that is a personal-data column of the
        data model (:func:`crmkit.schema.pii_columns`) or derived from one by name
        (``email_std``, ``first_name_l`` …).

    Examples
    --------
    >>> import pandas as pd
    >>> mask_frame(pd.DataFrame({"customer_id": ["c1"], "email": ["ann@x.org"]})).iloc[0].tolist()
    ['c1', 'a***@x***.org']
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame: expected a pandas DataFrame, found {type(frame).__name__}.")
    out = frame.copy()
    targets = list(columns) if columns is not None else [c for c in frame.columns if _pii_base(c)]
    for col in targets:
        if col not in out.columns:
            raise ParameterError(f"columns: {col!r} is not a column of the frame; columns are {', '.join(map(str, out.columns))}.")
        base = _pii_base(col)
        masker = _MASKERS.get(base, mask_name) if base else mask_name
        out[col] = pd.array([masker(v) for v in out[col].tolist()], dtype="string")
    return out


# ------------------------------------------------------------------ scanning


def _html_text(page: str) -> str:
    """Text and figure data of an HTML page: the embedded plotly.js library and CSS dropped, entities decoded."""
    kept, pos = [], 0
    for m in re.finditer(r"<(script|style)\b[^>]*>", page, flags=re.I):
        if m.start() < pos:
            continue
        end = page.find(f"</{m.group(1)}>", m.end())
        end = len(page) if end < 0 else end
        body = page[m.end() : end]
        kept.append(page[pos : m.start()])
        if m.group(1).lower() == "script" and "window.Plotly = Plotly" not in body:
            kept.append(" " + body + " ")
        pos = end
    kept.append(page[pos:])
    return _html.unescape(re.sub(r"<[^>]+>", " ", "".join(kept)))


def _possible_phone(candidate: str, region: str) -> bool:
    """A dialable-looking number: starts with ``+`` or a trunk ``0`` and has a possible length."""
    import phonenumbers

    if not re.match(r"^\(?[+0]", candidate):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(candidate, region))
    except phonenumbers.NumberParseException:
        return False


def _known_values(customers: pd.DataFrame) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}

    def col(name):
        return customers[name].dropna().astype(str).str.strip() if name in customers.columns else pd.Series([], dtype=str)

    known["email"] = set(col("email").str.casefold()) - {""}
    known["phone"] = {d[-9:] for d in col("phone").str.replace(r"\D", "", regex=True) if len(d) >= 9}
    if {"first_name", "last_name"} <= set(customers.columns):
        full = (customers["first_name"].astype("string") + " " + customers["last_name"].astype("string")).dropna()
        known["name"] = {re.sub(r"\s+", " ", v).strip().casefold() for v in full.astype(str)}
    known["street"] = {re.sub(r"\s+", " ", v).casefold() for v in col("street") if len(v) >= 6}
    if "birth_date" in customers.columns:
        known["birth_date"] = {f"{d:%Y-%m-%d}" for d in pd.to_datetime(customers["birth_date"], errors="coerce").dropna()}
    return known


def scan_pii(obj, *, known: pd.DataFrame | None = None, default_region: str = "GB") -> pd.DataFrame:
    """Find personal data in a text, an HTML page or a DataFrame.

    Looks for unmasked e-mail addresses and phone numbers (a run of digits that starts
    with ``+`` or ``0`` and has a possible length for its region, checked with the
    ``phonenumbers`` library, so order ids and amounts do not count; numbers from
    ranges reserved for fiction count too). Given ``known``,
    a customers table, it also finds that table's e-mail addresses, phone numbers (by
    their last nine digits), full names (first and last name together), streets and
    birth dates (as ``YYYY-MM-DD``) wherever they appear, case-insensitively. Masked
    values (``j***@e***.com``) are not findings.

    Parameters
    ----------
    obj : str or DataFrame
        Text or an HTML page (the embedded plotly.js library and styles are skipped;
        figure data is scanned), or a frame (every cell and column name is scanned).
    known : DataFrame, optional
        A customers table whose personal data to look for.
    default_region : str, default "GB"
        Region phone numbers without a country code belong to.

    Returns
    -------
    pandas.DataFrame
        One row per distinct finding: ``kind`` (email, phone, name, street, birth_date),
        ``value`` (masked, so the scan's output is itself safe to show) and ``count``.
        Empty when nothing was found.
    """
    if isinstance(obj, pd.DataFrame):
        parts = [" | ".join(map(str, obj.columns))]
        parts += [" | ".join(map(str, row)) for row in obj.astype(str).itertuples(index=False)]
        text = "\n".join(parts)
    elif isinstance(obj, str):
        text = _html_text(obj) if re.search(r"<(html|div|body|script|table)\b", obj[:100_000], flags=re.I) else obj
    else:
        raise ParameterError(f"obj: expected text, an HTML page or a DataFrame, found {type(obj).__name__}.")

    found: dict[tuple[str, str], int] = {}

    def add(kind: str, value: str) -> None:
        masked = {"email": mask_email, "phone": mask_phone, "street": mask_street, "birth_date": mask_date}.get(kind, mask_name)(value)
        found[(kind, masked)] = found.get((kind, masked), 0) + 1

    for m in _EMAIL_RE.finditer(text):
        add("email", m.group(0))
    for m in _PHONE_RE.finditer(text):
        cand = m.group(0).strip()
        if 9 <= sum(ch.isdigit() for ch in cand) <= 15 and _possible_phone(cand, default_region):
            add("phone", cand)

    if known is not None:
        if not isinstance(known, pd.DataFrame):
            raise ParameterError(f"known: expected the customers table as a DataFrame, found {type(known).__name__}.")
        values = _known_values(known)
        folded = text.casefold()
        emails_seen = {m.group(0).casefold() for m in _EMAIL_RE.finditer(text)}
        # known e-mails that the pattern did not already report (odd shapes)
        for e in values["email"]:
            if e not in emails_seen and len(e) >= 6 and e in folded:
                add("email", e)
        reported_phones = {k for k in found if k[0] == "phone"}
        for run in re.findall(r"\d[\d\s().-]{7,24}\d", text):
            digits = re.sub(r"\D", "", run)
            # a known number's last nine digits anywhere in the run (a run may join a date and a number)
            if any(digits[i : i + 9] in values["phone"] for i in range(len(digits) - 8)) and (
                "phone", mask_phone(run.strip())
            ) not in reported_phones:
                add("phone", run.strip())
        words = re.findall(r"[^\W\d_][\w'’-]*|\d+[A-Za-z]?", folded)
        for n in (2, 3, 4, 5, 6):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i : i + n])
                if n <= 4 and gram in values.get("name", ()):
                    add("name", gram)
                if gram in values["street"]:
                    add("street", gram)
        for d in set(re.findall(r"\b\d{4}-\d{2}-\d{2}\b", text)) & values.get("birth_date", set()):
            add("birth_date", d)

    rows = [{"kind": k, "value": v, "count": c} for (k, v), c in found.items()]
    return pd.DataFrame(rows, columns=["kind", "value", "count"]).sort_values(["kind", "value"], ignore_index=True)
