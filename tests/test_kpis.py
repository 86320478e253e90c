"""crmkit.kpis against an independent computation on the small demo world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmkit import kpis


def _independent(data, start, end, region):
    tx = data.transactions.merge(data.customers[["customer_id", "region"]], on="customer_id")
    if region:
        tx = tx[tx["region"] == region]
    tx = tx[(tx["ordered_at"] >= start) & (tx["ordered_at"] < pd.Timestamp(end) + pd.Timedelta(days=1))]
    return tx


@pytest.mark.parametrize("region", [None, "North"])
def test_kpi_summary_matches_pandas(small_world, region):
    data = small_world.data
    if region and region not in set(data.customers["region"]):
        region = data.customers["region"].iloc[0]
    tx = _independent(data, "2024-03-01", "2024-08-31", region)
    got = kpis.kpi_summary(data, start="2024-03-01", end="2024-08-31", regions=region)
    assert got["revenue"] == pytest.approx(tx["amount"].sum())
    assert got["orders"] == tx["order_id"].nunique()
    assert got["active_customers"] == tx["customer_id"].nunique()
    assert got["avg_order_value"] == pytest.approx(tx["amount"].sum() / tx["order_id"].nunique())


def test_monthly_kpis_add_up_and_new_is_first_ever(small_world):
    data = small_world.data
    monthly = kpis.monthly_kpis(data)
    assert monthly["revenue"].sum() == pytest.approx(data.transactions["amount"].sum())
    assert (monthly["new_customers"] + monthly["returning_customers"] == monthly["active_customers"]).all()
    # every buyer is new exactly once over the whole history
    assert monthly["new_customers"].sum() == data.transactions["customer_id"].nunique()
    # a later window still counts as new only first-ever buyers
    late = kpis.monthly_kpis(data, start="2025-01-01")
    assert late["new_customers"].sum() < data.transactions.loc[data.transactions["ordered_at"] >= "2025-01-01", "customer_id"].nunique()
    assert monthly["customers_total"].is_monotonic_increasing
    assert monthly["customers_total"].iloc[-1] <= len(data.customers)


def test_empty_selection_gives_zeros_not_errors(small_world):
    got = kpis.kpi_summary(small_world.data, regions=["Atlantis"])
    assert got["revenue"] == 0 and got["orders"] == 0 and np.isnan(got["avg_order_value"])
    assert kpis.monthly_kpis(small_world.data, regions=["Atlantis"]).empty
