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


# =========================================================================== the KPI table, cohorts, forecasts

from crmkit.errors import DataValidationError, ParameterError  # noqa: E402
from crmkit.schema import CRMData  # noqa: E402


def _buyers(tx, start, end):
    inside = tx[(tx["ordered_at"] >= start) & (tx["ordered_at"] < pd.Timestamp(end) + pd.Timedelta(days=1))]
    return inside, set(inside["customer_id"])


def test_kpi_table_matches_an_independent_count(small_world):
    data = small_world.data
    tx = data.transactions
    table = kpis.kpi_table(data, ("2025-07-01", "2025-09-30"), ("2024-07-01", "2024-09-30"))
    first = tx.groupby("customer_id")["ordered_at"].min()
    for which, (s, e, ps, pe) in {
        "period": ("2025-07-01", "2025-09-30", "2025-04-01", "2025-06-30"),
        "comparison": ("2024-07-01", "2024-09-30", "2024-04-01", "2024-06-30"),
    }.items():
        inside, active = _buyers(tx, s, e)
        _, prior = _buyers(tx, ps, pe)
        new = {c for c in active if pd.Timestamp(s) <= first[c] < pd.Timestamp(e) + pd.Timedelta(days=1)}
        expected = {
            "customers": int((data.customers["created_at"] < pd.Timestamp(e) + pd.Timedelta(days=1)).sum()),
            "active_customers": len(active),
            "new_customers": len(new),
            "returning_customers": len(active) - len(new),
            "churned_customers": len(prior - active),
            "retention_rate": len(prior & active) / len(prior),
            "revenue": inside["amount"].sum(),
            "orders": inside["order_id"].nunique(),
            "avg_order_value": inside["amount"].sum() / inside["order_id"].nunique(),
            "purchase_frequency": inside["order_id"].nunique() / len(active),
            "revenue_per_customer": inside["amount"].sum() / len(active),
        }
        for kpi, value in expected.items():
            assert table.value(kpi, which) == pytest.approx(value), (which, kpi)
    t = table.to_frame()
    assert t.loc["revenue", "change"] == pytest.approx(t.loc["revenue", "period"] - t.loc["revenue", "comparison"])
    assert t.loc["churned_customers", "higher_is_better"] == False  # noqa: E712
    # intervals only where the KPI is an average or a rate
    with_ci = set(t.index[t["change_ci_low"].notna()])
    assert with_ci == {"retention_rate", "avg_order_value", "purchase_frequency", "revenue_per_customer"}
    for kpi in with_ci:
        assert t.loc[kpi, "change_ci_low"] <= t.loc[kpi, "change"] <= t.loc[kpi, "change_ci_high"]
    shown = table.formatted()
    assert list(shown.columns[:3]) == ["KPI", "Jul – Sep 2025", "Jul – Sep 2024"]
    assert shown["change"].str[0].isin(["▲", "▼", "■"]).all()


def test_kpi_table_with_clv_and_regions(small_world):
    data = small_world.data
    clv = pd.Series(1.0, index=data.customers["customer_id"]).astype("float64")
    clv.iloc[:100] = 11.0
    t = kpis.kpi_table(data, ("2025-10-01", "2025-12-31"), "previous", clv=clv, regions="North")
    assert t.comparison.label == "Jul – Sep 2025"
    inside, active = _buyers(
        data.transactions[data.transactions["customer_id"].isin(data.customers.loc[data.customers["region"] == "North", "customer_id"])],
        "2025-10-01", "2025-12-31")
    assert t.value("active_customers") == len(active)
    assert t.value("avg_clv") == pytest.approx(clv.reindex(list(active)).mean())
    with pytest.raises(ParameterError, match="comparison"):
        kpis.kpi_table(data, ("2025-10-01", "2025-12-31"), "last week")


def test_reporting_periods(small_world):
    data = small_world.data  # orders run to 31 Dec 2025
    p, c = kpis.reporting_periods(data)
    assert (p.label, c.label, p.days) == ("Oct – Dec 2025", "Oct – Dec 2024", 92)
    p, c = kpis.reporting_periods(data, months=12, comparison="previous")
    assert (p.label, c.label) == ("Jan – Dec 2025", "Jan – Dec 2024")
    p, c = kpis.reporting_periods(data, "2025-03-10", "2025-03-16", compare_start="2025-03-03")
    assert (c.start, c.end) == (pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-09"))
    with pytest.raises(ParameterError, match="after the end"):
        kpis.reporting_periods(data, "2025-03-10", "2025-03-01")
    mid = CRMData(transactions=pd.DataFrame({"customer_id": ["a"], "order_id": ["1"], "amount": [1.0],
                                             "ordered_at": pd.to_datetime(["2025-05-20 10:00"])}))
    assert kpis.reporting_periods(mid, months=1)[0].label == "Apr 2025"  # May is not over yet


def test_cohort_retention_by_hand():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c", "d", "d"],
            "order_id": list("12345678"),
            "amount": 1.0,
            "ordered_at": pd.to_datetime(
                ["2024-01-03", "2024-01-20", "2024-03-05", "2024-01-31", "2024-02-01", "2024-02-14", "2024-02-28", "2024-03-31"]
            ),
        }
    )
    customers = pd.DataFrame({"customer_id": list("abcde"),
                              "created_at": pd.to_datetime(["2023-12-30", "2024-01-30", "2024-02-10", "2024-02-01", "2024-03-02"])})
    r = kpis.cohort_retention(CRMData(customers=customers, transactions=tx))
    # cohorts by first order: Jan {a, b}, Feb {c, d}; a orders in Jan and Mar, b in Jan and Feb, d in Feb and Mar
    expected = pd.DataFrame(
        [[2.0, 1.0, 1.0], [2.0, 1.0, np.nan]],
        index=pd.DatetimeIndex(["2024-01-01", "2024-02-01"], name="cohort"),
        columns=pd.Index([0, 1, 2], name="months_since"),
    )
    pd.testing.assert_frame_equal(r.counts, expected)
    assert r.sizes.tolist() == [2, 2] and r.rates.loc["2024-01-01", 2] == 0.5
    s = r.summary()
    assert s.loc["all cohorts", "customers"] == 4 and s.loc["all cohorts", "month_1"] == pytest.approx(2 / 4)
    long = r.to_frame()
    assert len(long) == 5 and long["active"].sum() == 7
    # by sign-up month: a in Dec, b in Jan, c and d in Feb, e (no order) in Mar
    r = kpis.cohort_retention(CRMData(customers=customers, transactions=tx), cohort_by="created_at")
    assert r.sizes.tolist() == [1, 1, 2, 1] and r.sizes.sum() == len(customers)
    assert r.counts.loc["2023-12-01", 0] == 0 and r.counts.loc["2023-12-01", 1] == 1  # a first bought in January
    assert r.counts.loc["2024-03-01", 0] == 0
    with pytest.raises(ParameterError, match="cohort_by"):
        kpis.cohort_retention(CRMData(transactions=tx), cohort_by="week")


def test_cohort_retention_conserves_customers(small_world):
    data = small_world.data
    r = kpis.cohort_retention(data)
    buyers = data.transactions["customer_id"].nunique()
    assert r.sizes.sum() == buyers == len(r.customers)
    assert (r.counts[0] == r.sizes).all()  # everyone buys in their first month
    observed = r.counts.notna()
    assert (r.counts.where(observed, 0).le(r.sizes, axis=0)).all().all()
    # each row is observed up to the last month and no further
    last = r.last_month
    for cohort, row in r.counts.iterrows():
        age = (last.year - cohort.year) * 12 + last.month - cohort.month
        assert row.notna().sum() == age + 1
    # every active customer-month is counted once: the matrix adds up to the distinct (customer, month) pairs
    tx = data.transactions
    pairs = tx.assign(m=tx["ordered_at"].dt.to_period("M"))[["customer_id", "m"]].drop_duplicates()
    assert r.counts.sum().sum() == len(pairs)
    r2 = kpis.cohort_retention(data, cohort_by="created_at")
    assert r2.sizes.sum() == len(data.customers)
    fig = r.plot()
    assert fig.layout.title.text and fig.layout.xaxis.title.text


def _series(values, start="2021-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"), dtype="float64")


def test_seasonality_is_detected_when_planted_and_not_otherwise():
    from crmkit._forecast import seasonality_test

    rng = np.random.default_rng(5)
    n = 48
    trend = 1000 + 8 * np.arange(n)
    plain = _series(trend + rng.normal(0, 25, n))
    seasonal = _series(trend + 80 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 25, n))
    assert seasonality_test(plain) > 0.01
    assert seasonality_test(seasonal) < 1e-4
    assert np.isnan(seasonality_test(plain.iloc[:25]))  # under two years and two months: not tested
    fs = kpis.MonthlyForecaster(horizon=6).fit(seasonal)
    assert fs.seasonal_ and fs.seasonality_p_ == pytest.approx(seasonality_test(seasonal))
    assert "additive seasonality" in fs.model_
    # the seasonal model forecasts the planted pattern: the held-out months are within a few per cent
    assert fs.backtest_mape_ < 0.05 and fs.backtest_mape_ < fs.naive_mape_


def test_short_months_are_not_a_season_per_day():
    from crmkit._forecast import seasonality_test

    rng = np.random.default_rng(7)
    idx = pd.date_range("2021-01-01", periods=48, freq="MS")
    per_day = 1000 + 3 * np.arange(48) + rng.normal(0, 5, 48)
    monthly = _series(per_day * idx.days_in_month)  # revenue: a flow over the days of the month
    assert seasonality_test(monthly) < 0.01  # February's fewer days look like a season …
    f = kpis.MonthlyForecaster(horizon=3, per_day=True).fit(monthly)
    assert not f.seasonal_ and f.seasonality_p_ > 0.01  # … per day they are not
    out = f.forecast().forecast
    np.testing.assert_allclose(out["forecast"] / pd.DatetimeIndex(out["month"]).days_in_month, 1000 + 3 * np.arange(48, 51), rtol=0.02)
    assert (out["lower"] < out["forecast"]).all() and (out["forecast"] < out["upper"]).all()


def test_the_backtest_never_sees_the_months_it_is_scored_on():
    rng = np.random.default_rng(6)
    y = _series(500 + 5 * np.arange(36) + rng.normal(0, 10, 36))
    a = kpis.MonthlyForecaster(horizon=6).fit(y)
    shocked = y.copy()
    shocked.iloc[-6:] *= 3  # change only the held-out months
    b = kpis.MonthlyForecaster(horizon=6).fit(shocked)
    np.testing.assert_allclose(a.backtest_["forecast"], b.backtest_["forecast"])
    np.testing.assert_allclose(a.backtest_["upper"], b.backtest_["upper"])
    assert (b.backtest_["actual"] == shocked.iloc[-6:].to_numpy()).all()
    # the MAPE is the mean absolute percentage error of that table
    bt = b.backtest_
    assert b.backtest_mape_ == pytest.approx((abs(bt["forecast"] - bt["actual"]) / bt["actual"]).mean())
    assert b.backtest_mape_ > 0.5 > a.backtest_mape_
    # and the forecast itself, fitted on everything, does change
    assert not np.allclose(a.forecast().forecast["forecast"], b.forecast().forecast["forecast"])
    with pytest.raises(DataValidationError, match="one value per calendar month"):
        kpis.MonthlyForecaster().fit(y.drop(y.index[5]))
    with pytest.raises(DataValidationError, match="at least 12 months"):
        kpis.MonthlyForecaster().fit(y.iloc[:8])
    with pytest.raises(ParameterError, match="horizon"):
        kpis.MonthlyForecaster(horizon=0).fit(y)


def test_forecast_kpi_on_the_demo_world(small_world):
    f = kpis.forecast_kpi(small_world.data, "active_customers", horizon=4)
    assert len(f.forecast) == 4 and f.forecast["month"].iloc[0] == pd.Timestamp("2026-01-01")
    assert (f.forecast["lower"] < f.forecast["forecast"]).all() and (f.forecast["forecast"] < f.forecast["upper"]).all()
    assert len(f.backtest) == 4 and np.isfinite(f.backtest_mape) and 0 <= f.backtest_coverage <= 1
    # the demo world's first month is only partly covered (orders start on 1 Jan after midnight? see dropped_months)
    months = kpis.monthly_kpis(small_world.data)
    assert len(f.history) == len(months) - len(f.dropped_months)
    np.testing.assert_allclose(f.history.set_index("month")["actual"], months["active_customers"].drop(
        index=pd.to_datetime([m + "-01" for m in f.dropped_months])).astype(float))
    # cut at an earlier date: the last month used is the one before it when the cut falls mid-month
    g = kpis.forecast_kpi(small_world.data, "revenue", horizon=2, end="2025-06-15")
    assert g.history["month"].iloc[-1] == pd.Timestamp("2025-05-01") and "2025-06" in g.dropped_months
    # the demo world plants no season, and none is found in revenue per day
    assert not g.seasonal and g.seasonality_p > 0.01 and "per day" in g.model
    fig = f.plot()
    assert fig.layout.title.text.startswith("Active customers") and fig.layout.yaxis.title.text
    with pytest.raises(ParameterError, match="kpi"):
        kpis.forecast_kpi(small_world.data, "profit")
