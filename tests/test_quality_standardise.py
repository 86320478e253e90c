"""crmkit.quality.standardise: new columns, raw ones untouched; E.164 as phonenumbers gives it."""

from __future__ import annotations

import pandas as pd
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.errors import DataValidationError, ParameterError
from crmkit.quality import standardise as std


def _library_e164(text: str, region: str = "GB"):
    try:
        n = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(n):
        return None
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


_FORMATS = [
    lambda d: d,
    lambda d: f"{d[:5]} {d[5:]}",
    lambda d: f"+44 {d[1:5]} {d[5:]}",
    lambda d: f"+44 (0){d[1:5]} {d[5:8]} {d[8:]}",
    lambda d: f"0044{d[1:]}",
    lambda d: f"({d[:5]}) {d[5:8]}-{d[8:]}",
    lambda d: f"+44{d[1:]}",
    lambda d: f"{d[:3]}.{d[3:7]}.{d[7:]}",
]


@settings(max_examples=150, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=9, max_size=11),
    fmt=st.integers(0, len(_FORMATS) - 1),
)
def test_phone_fast_path_agrees_with_phonenumbers(digits, fmt):
    """The vectorised UK path must give exactly what the library gives (property test)."""
    national = "0" + digits.lstrip("0") if not digits.startswith("0") else digits
    text = _FORMATS[fmt](national)
    got = std.standardise_phone(pd.Series([text])).iloc[0]
    expected = _library_e164(text)
    assert (pd.isna(got) and expected is None) or got == expected, (text, got, expected)


def test_phone_formats_to_e164_and_keeps_index():
    s = pd.Series(["07911 123456", "+44 (0)20 7946 0018", "0044 7911 123456", "not a phone", None, ""], index=list("abcdef"))
    out = std.standardise_phone(s)
    assert list(out.index) == list("abcdef")
    assert out.tolist()[:3] == ["+447911123456", "+442079460018", "+447911123456"]
    assert out.iloc[3:].isna().all()
    assert str(out.dtype) == "string"
    us = std.standardise_phone(pd.Series(["(202) 555-0143", "+44 7911 123456"]), default_region="US")
    assert us.tolist() == ["+12025550143", "+447911123456"]


def test_phone_rejects_numbers_and_bad_regions():
    with pytest.raises(DataValidationError, match="expected text"):
        std.standardise_phone(pd.Series([7911123456]))
    with pytest.raises(ParameterError, match="two-letter"):
        std.standardise_phone(pd.Series(["1"]), default_region="GBR")


def test_email_lowercases_and_canonicalises_for_matching():
    s = pd.Series([" John.Smith@GMAIL.com ", "j.o.h.n+news@googlemail.com", "ann+shop@Example.org", "broken@", None])
    assert std.standardise_email(s).tolist()[:4] == ["john.smith@gmail.com", "j.o.h.n+news@googlemail.com", "ann+shop@example.org", "broken@"]
    canon = std.standardise_email(s, canonical=True).tolist()
    assert canon[:4] == ["johnsmith@gmail.com", "john@gmail.com", "ann@example.org", "broken@"]
    assert pd.isna(canon[4])


def test_names_streets_postcodes():
    assert std.standardise_name(pd.Series(["  Dr. Siân O'Brien-Smith ", "MR JONES", "x9"])).tolist() == ["sian obriensmith", "jones", "x"]
    assert std.first_name_root(pd.Series(["Bob", "ROBERT", "Liz", "Steven", "Zelda", None])).tolist()[:5] == [
        "robert", "robert", "elizabeth", "stephen", "zelda"
    ]
    assert std.standardise_street(pd.Series(["12 St John's Rd", "4 Park Ave.", "Flat 2, 9 High St"])).tolist() == [
        "12 st johns road", "4 park avenue", "flat 2 9 high street"
    ]
    assert std.standardise_postcode(pd.Series(["sw1a1aa", " EC1A 1BB", "12345"])).tolist() == ["SW1A 1AA", "EC1A 1BB", "12345"]
    assert std.standardise_postcode(pd.Series(["75 001"]), country="FR").tolist() == ["75001"]


def test_standardise_customers_adds_columns_and_never_overwrites(small_world):
    raw = small_world.data.customers
    before = raw.copy()
    out = std.standardise_customers(raw)
    pd.testing.assert_frame_equal(raw, before)  # the caller's frame is untouched
    pd.testing.assert_frame_equal(out[raw.columns], raw)  # raw columns kept as they were
    added = set(out.columns) - set(raw.columns)
    assert added == {"first_name_std", "last_name_std", "first_name_root", "email_std", "email_key", "phone_std",
                     "street_std", "postcode_std"}
    # the demo world's phone numbers come in one national format: all of them standardise
    assert out["phone_std"].notna().all() and out["phone_std"].str.match(r"^\+447\d{9}$").all()
    # the planted duplicates' phone variants ("+44 ...", "07xxx-xxx-xxx") land on the original's number
    pairs = small_world.truth.duplicate_pairs
    phone = out.set_index("customer_id")["phone_std"]
    assert (phone.loc[pairs["customer_id"]].to_numpy() == phone.loc[pairs["duplicate_of"]].to_numpy()).all()


def test_standardise_customers_needs_a_frame():
    with pytest.raises(ParameterError):
        std.standardise_customers([1, 2])
