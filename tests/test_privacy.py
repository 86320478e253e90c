"""crmkit.privacy: masks keep the shape and hide the person; the scan finds what it should."""

from __future__ import annotations

import pandas as pd
import pytest

from crmkit import privacy
from crmkit.errors import ParameterError


@pytest.mark.parametrize(
    "value, expected",
    [
        ("john@example.com", "j***@e***.com"),
        ("Jane.Doe+shop@mail.example.co.uk", "J***@m***.uk"),
        ("no-at-sign", "n***"),
        ("@nobody.org", "@n***.org"),
    ],
)
def test_mask_email(value, expected):
    assert privacy.mask_email(value) == expected


def test_masks_keep_missing_values_missing():
    for mask in (privacy.mask_email, privacy.mask_phone, privacy.mask_name, privacy.mask_street, privacy.mask_date):
        assert mask(None) is None
        assert pd.isna(mask(pd.NA))


def test_mask_phone_keeps_layout_and_last_two_digits():
    assert privacy.mask_phone("+44 7700 900123") == "+** **** ****23"
    assert privacy.mask_phone("07700-900-123") == "*****-***-*23"
    masked = privacy.mask_phone("020 7946 0018")
    assert masked.endswith("18") and sum(ch.isdigit() for ch in masked) == 2


def test_mask_name_street_and_date():
    assert privacy.mask_name("Mary Ann Smith") == "M*** A*** S***"
    assert privacy.mask_street("12 High Street") == "# H*** S***"
    assert privacy.mask_street("12a, Mill Lane") == "# M*** L***"
    assert privacy.mask_date(pd.Timestamp("1984-03-24")) == "198*-**-**"
    assert privacy.mask_date("2001-12-31") == "200*-**-**"


def test_mask_value_follows_the_column_and_leaves_others_alone():
    assert privacy.mask_value("ann@x.org", "email") == "a***@x***.org"
    assert privacy.mask_value("ann@x.org", "email_std") == "a***@x***.org"
    assert privacy.mask_value("Ann", "first_name_root") == "A***"
    assert privacy.mask_value("North", "region") == "North"
    assert privacy.mask_value(12.5, "amount") == 12.5


def test_mask_frame_masks_personal_columns_only_and_copies():
    df = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "first_name": ["Ann", None],
            "email": ["ann@x.org", "bob@y.com"],
            "phone_std": ["+447911123456", None],
            "birth_date": pd.to_datetime(["1980-01-02", "1991-05-06"]),
            "region": ["North", "South"],
        }
    )
    out = privacy.mask_frame(df)
    assert out["customer_id"].tolist() == ["c1", "c2"] and out["region"].tolist() == ["North", "South"]
    assert out["first_name"].tolist()[0] == "A***" and pd.isna(out["first_name"].tolist()[1])
    assert out["email"].tolist() == ["a***@x***.org", "b***@y***.com"]
    assert out["phone_std"].iloc[0] == "+**********56"
    assert out["birth_date"].tolist() == ["198*-**-**", "199*-**-**"]
    assert df["email"].iloc[0] == "ann@x.org"  # the caller's frame is untouched
    with pytest.raises(ParameterError, match="not a column"):
        privacy.mask_frame(df, columns=["nope"])


def test_scan_finds_raw_email_and_phone_but_not_masked_ones_or_ids():
    text = "Write to jane.doe@example.org or call +44 7911 123456. Order O00012345, C000123, amount 1234567.89"
    found = privacy.scan_pii(text)
    assert sorted(found["kind"]) == ["email", "phone"]
    assert set(found["value"]) == {"j***@e***.org", "+** **** ****56"}  # the scan's output is masked
    masked = privacy.mask_email("jane.doe@example.org") + " " + privacy.mask_phone("+44 7911 123456")
    assert privacy.scan_pii(masked).empty
    assert privacy.scan_pii("revenue 2,345,678.00 on 2024-05-01, 12345678901 orders").empty


def test_scan_with_known_customers_finds_names_streets_and_birth_dates():
    customers = pd.DataFrame(
        {
            "first_name": ["Ann", "Bob"],
            "last_name": ["Smith", "Jones"],
            "email": ["ann.smith@x.org", "bob@y.com"],
            "phone": ["07911 123456", "07922 654321"],
            "street": ["12 High Street", "3 Mill Lane"],
            "birth_date": pd.to_datetime(["1980-01-02", "1991-05-06"]),
        }
    )
    page = "<html><body><table><tr><td>ann SMITH</td><td>3 Mill Lane</td><td>1991-05-06</td><td>079 22654321</td></tr></table></body></html>"
    found = privacy.scan_pii(page, known=customers)
    assert set(found["kind"]) == {"name", "street", "birth_date", "phone"}
    # a frame is scanned cell by cell; a clean one has no finding
    assert privacy.scan_pii(pd.DataFrame({"customer_id": ["C1"], "orders": [3]}), known=customers).empty
    assert set(privacy.scan_pii(customers[["email"]])["kind"]) == {"email"}


def test_scan_skips_the_plotly_library_but_reads_figure_data():
    page = (
        "<html><script>window.Plotly = Plotly; var x='lib@plotly.com';</script>"
        '<script>Plotly.newPlot("d", [{"text": ["leak@example.com"]}])</script></html>'
    )
    assert privacy.scan_pii(page)["value"].tolist() == ["l***@e***.com"]


def test_scan_rejects_other_input():
    with pytest.raises(ParameterError):
        privacy.scan_pii(42)


def test_mask_postcode_keeps_the_area_only():
    assert privacy.mask_postcode("SW1A 1AA") == "SW1A ***"
    assert privacy.mask_postcode("sw1a1aa") == "sw1a ***"
    assert privacy.mask_postcode("123") == "***"
    assert privacy.mask_postcode(None) is None
