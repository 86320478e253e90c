"""crmkit.sales: the pipeline and service levels, by hand, against the planted truth, and for leaks.

Truth checks compare a planted rate with the interval crmkit reports for it (95% unless
said). One seeded world either covers or misses; so besides "the small world's intervals
hold the truth", a coverage check over several seeds asserts that 95% intervals miss no
more often than a binomial count allows (at most ``_max_misses(n)`` misses out of ``n``,
a false alarm under 1 in 1,000 when the intervals are right).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crmkit import sales
from crmkit._pipeline import KaplanMeier
from crmkit.errors import DataValidationError, ParameterError
from crmkit.schema import CRMData
from crmkit.synth import demo_world

T0 = pd.Timestamp("2024-01-01")


def _max_misses(n: int, level: float = 0.95) -> int:
    return int(stats.binom.ppf(0.999, n, 1 - level))


def _opps(rows) -> pd.DataFrame:
    """Opportunities from (id, stage, created day, closed day, lost_at_stage, qualified, proposal, negotiation, amount)."""
    cols = ["opportunity_id", "stage", "c", "x", "lost_at_stage", "q", "p", "n", "amount"]
    df = pd.DataFrame(rows, columns=cols)
    day = lambda s: T0 + pd.to_timedelta(s.astype(float), unit="D")  # noqa: E731
    return pd.DataFrame(
        {
            "opportunity_id": df["opportunity_id"],
            "customer_id": "c" + df["opportunity_id"],
            "stage": df["stage"],
            "created_at": day(df["c"]),
            "closed_at": day(df["x"]),
            "amount": df["amount"].astype(float),
            "won": df["stage"].map({"closed_won": True, "closed_lost": False}).astype("boolean"),
            "qualified_at": day(df["q"]),
            "proposal_at": day(df["p"]),
            "negotiation_at": day(df["n"]),
            "lost_at_stage": df["lost_at_stage"],
        }
    )


@pytest.fixture
def hand():
    """Eight opportunities whose path is written out; the table ends on day 100."""
    n = np.nan
    return _opps(
        [
            ("1", "closed_won", 0, 40, None, 5, 15, 30, 1000),
            ("2", "closed_won", 10, 60, None, 20, 30, 45, 2000),
            ("3", "closed_lost", 0, 8, "lead", n, n, n, 500),
            ("4", "closed_lost", 5, 35, "proposal", 10, 20, n, 700),
            ("5", "negotiation", 50, n, None, 55, 70, 90, 3000),
            ("6", "qualified", 80, n, None, 95, n, n, 400),
            ("7", "lead", 98, n, None, n, n, n, n),
            ("8", "closed_lost", 20, 100, "negotiation", 25, 40, 60, 900),
        ]
    )


# --------------------------------------------------------------------------- funnel by hand


def test_funnel_by_hand(hand):
    f = sales.funnel(hand)
    t = f.summary().set_index("stage")
    # reached: lead 8; qualified 1,2,4,5,6,8; proposal 1,2,4,5,8; negotiation 1,2,5,8
    assert t["entered"].tolist() == [8, 6, 5, 4]
    assert t["lost"].tolist() == [1, 0, 1, 1]
    assert t["open"].tolist() == [1, 1, 0, 1]
    assert t["advanced"].tolist() == [6, 5, 4, 2]  # from negotiation: won
    np.testing.assert_allclose(t["conversion"], [6 / 7, 5 / 5, 4 / 5, 2 / 3])
    assert t.loc["lead", "value_entered"] == 1000 + 2000 + 500 + 700 + 3000 + 400 + 900
    assert t.loc["lead", "amount_missing"] == 1
    # Wilson interval, by its formula
    lo, hi = t.loc["lead", ["ci_low", "ci_high"]]
    z, p, nn = 1.959964, 6 / 7, 7
    centre = (p + z**2 / (2 * nn)) / (1 + z**2 / nn)
    half = z / (1 + z**2 / nn) * np.sqrt(p * (1 - p) / nn + z**2 / (4 * nn**2))
    assert (lo, hi) == pytest.approx((centre - half, centre + half), abs=1e-6)
    assert f.win_rate == pytest.approx(2 / 5)
    assert t["reached_share"].tolist() == pytest.approx([1, 6 / 7, 6 / 7, 6 / 7 * 0.8])
    assert f.rows_in == f.rows_used == 8 and f.set_aside.empty


def test_funnel_as_of_sees_only_the_past(hand):
    f = sales.funnel(hand, as_of=T0 + pd.Timedelta(days=36))  # a date: the whole of day 36 counts
    frame = f.to_frame().set_index("opportunity_id")
    # 5–7 did not exist yet; 1 (won on day 40) was negotiating, 2 in proposal, 8 qualified (proposal on day 40)
    assert f.rows_in == 8 and f.rows_used == 5
    assert f.set_aside.set_index("reason")["rows"].to_dict() == {"created after as_of (not yet in the pipeline)": 3}
    assert frame["stage_at"].to_dict() == {
        "1": "negotiation", "2": "proposal", "3": "closed_lost", "4": "closed_lost", "8": "qualified"
    }
    assert frame.loc["1", "days_in_stage"] == pytest.approx(7.0)  # entered on day 30, as of the end of day 36
    t = f.summary().set_index("stage")
    assert t["entered"].tolist() == [5, 4, 3, 1]
    assert t["lost"].tolist() == [1, 0, 1, 0] and t["open"].tolist() == [0, 1, 1, 1]


def test_a_past_pipeline_needs_the_stage_history(hand):
    bare = hand.drop(columns=["qualified_at", "proposal_at", "negotiation_at"])
    # now is fine: the current stage and lost_at_stage say where each deal is
    t = sales.funnel(bare).summary()
    assert t["entered"].tolist() == [8, 6, 5, 4]
    with pytest.raises(DataValidationError, match="qualified_at, proposal_at, negotiation_at"):
        sales.funnel(bare, as_of="2024-02-15")
    # a lost deal without lost_at_stage and without history is set aside, with its reason
    no_lost = bare.assign(lost_at_stage=None)
    f = sales.funnel(no_lost)
    assert f.rows_used + int(f.set_aside["rows"].sum()) == f.rows_in == 8
    assert "not recorded (lost_at_stage)" in f.set_aside["reason"].iloc[0] and f.set_aside["rows"].iloc[0] == 3


def test_rows_are_accounted_for_and_bad_input_is_named(hand):
    odd = pd.concat([hand, hand.iloc[[0]].assign(opportunity_id="9", stage="discovery")], ignore_index=True)
    f = sales.funnel(odd)
    assert f.rows_in == 9 and f.rows_used == 8
    assert f.set_aside["reason"].tolist() == ["stage not one of lead, qualified, proposal, negotiation, closed_won, closed_lost"]
    with pytest.raises(DataValidationError, match="opportunities: expected column stage"):
        sales.funnel(hand.drop(columns="stage"))
    with pytest.raises(DataValidationError, match="opportunities: the table is required"):
        sales.funnel(CRMData())
    with pytest.raises(DataValidationError, match=r"opportunities.created_at: expected dates"):
        sales.funnel(hand.assign(created_at=hand["created_at"].astype(str)))
    with pytest.raises(ParameterError, match="confidence"):
        sales.funnel(hand, confidence=95)
    with pytest.raises(ParameterError, match="stages"):
        sales.funnel(hand, stages=["lead", "closed_won"])


def test_configurable_stages(hand):
    # a client with three open stages: negotiation is not one of them
    three = hand[hand["stage"] != "negotiation"].drop(columns="negotiation_at")
    three = three.assign(lost_at_stage=three["lost_at_stage"].replace("negotiation", "proposal"))
    t = sales.funnel(three, stages=("lead", "qualified", "proposal")).summary()
    assert t["stage"].tolist() == ["lead", "qualified", "proposal"]
    assert t["entered"].tolist() == [7, 5, 4]
    assert t.loc[2, "advanced"] == 2 and t.loc[2, "lost"] == 2  # won 1, 2; lost 4 and 8


# --------------------------------------------------------------------------- cycle times, velocity, win rates


def test_cycle_times_censor_open_deals(hand):
    c = sales.cycle_times(hand)
    t = c.summary().set_index("stage")
    # lead: 1 → 5 d, 2 → 10, 3 → 8 (lost), 4 → 5, 5 → 5, 6 → 15, 7 still open 2 d (censored), 8 → 5
    assert t.loc["lead", ["deals", "left", "still_open"]].tolist() == [8, 7, 1]
    assert t.loc["lead", "median_days"] == pytest.approx(5.0)
    assert t.loc["lead", "mean_days"] == pytest.approx((5 + 10 + 8 + 5 + 5 + 15 + 2 + 5) / 7)
    spells = c.to_frame()
    open_lead = spells[(spells["stage"] == "lead") & (spells["opportunity_id"] == "7")]
    assert open_lead["left"].tolist() == [0] and open_lead["days"].iloc[0] == pytest.approx(2.0)
    assert t.loc["lead to close", "left"] == 5


def test_kaplan_meier_and_its_residual_sampler():
    rng = np.random.default_rng(0)
    days = rng.exponential(10.0, 4000)
    cens = rng.exponential(30.0, 4000)
    km = KaplanMeier.fit(np.minimum(days, cens), (days <= cens).astype(int))
    t = np.array([5.0, 10.0, 20.0])
    np.testing.assert_allclose(km.survival(t), np.exp(-t / 10.0), atol=0.02)
    # memoryless: deals 15 days in a stage have 10 days left on average
    res = km.sample_residual(np.full(20_000, 15.0), rng)
    assert res.mean() == pytest.approx(10.0, rel=0.05) and (res >= 0).all()
    # by hand: 3 events and a censored time
    km = KaplanMeier.fit(np.array([1.0, 2.0, 2.0, 4.0]), np.array([1, 1, 0, 1]))
    np.testing.assert_allclose(km.surv, [0.75, 0.5, 0.0])


def test_velocity_by_hand(hand):
    v = sales.pipeline_velocity(hand, random_state=0, n_boot=200)
    # open: 5, 6, 7; closed in the last 365 days: all five; won 1 (40 d, 1000), 2 (50 d, 2000)
    assert v.open_deals == 3 and v.win_rate == pytest.approx(2 / 5)
    assert v.avg_won_value == pytest.approx(1500) and v.cycle_days == pytest.approx(45)
    assert v.velocity_per_day == pytest.approx(3 * 0.4 * 1500 / 45)
    assert v.ci_low <= v.velocity_per_day <= v.ci_high
    assert v.summary()["measure"].tolist()[-1] == "velocity per month"


def test_win_rates_groups_flags_and_test(small_world):
    data = small_world.data
    wr = sales.win_rates(data, "lead_source", min_closed=20)
    t = wr.summary()
    closed = data.opportunities["stage"].isin(["closed_won", "closed_lost"])
    assert t["closed"].sum() == int(closed.sum())
    assert t["won"].sum() == int((data.opportunities["stage"] == "closed_won").sum())
    assert (t["small_group"] == (t["closed"] < 20)).all()
    big = t[~t["small_group"]]
    expected_p = stats.chi2_contingency(np.c_[big["won"], big["closed"] - big["won"]], correction=False)[1]
    assert wr.p_value == pytest.approx(expected_p)
    # owners are employees: numbered, not named
    owners = sales.win_rates(data, "owner").summary()
    assert owners["group"].str.fullmatch(r"Owner \d+").all()
    assert not set(owners["group"]) & set(data.opportunities["owner"])
    named = sales.win_rates(data, "owner", hide_owner_names=False).summary()
    assert set(named["group"]) <= set(data.opportunities["owner"])
    # a customers column and a segment Series work too
    assert set(sales.win_rates(data, "region").summary()["group"]) <= set(data.customers["region"])
    seg = small_world.truth.segment_of.rename("segment")
    by_seg = sales.win_rates(data, seg).summary()
    assert by_seg["closed"].sum() == int(closed.sum()) and wr.by == "lead_source"
    with pytest.raises(DataValidationError, match="no column 'colour'"):
        sales.win_rates(data, "colour")


# --------------------------------------------------------------------------- the pipeline forecast


def _exp_pipeline(n_hist: int, mean_days: float, p: float, seed: int) -> pd.DataFrame:
    """One open stage (negotiation only): deals leave after Exp(mean) days, won with probability p."""
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, 3000, n_hist)
    leave = created + rng.exponential(mean_days, n_hist)
    end = 3000.0
    done = leave <= end
    won = done & (rng.random(n_hist) < p)
    stage = np.where(done, np.where(won, "closed_won", "closed_lost"), "negotiation")
    return pd.DataFrame(
        {
            "opportunity_id": [f"o{i}" for i in range(n_hist)],
            "stage": stage,
            "created_at": T0 + pd.to_timedelta(created, unit="D"),
            "closed_at": (T0 + pd.to_timedelta(np.where(done, leave, np.nan), unit="D")),
            "amount": 100.0,
            "lost_at_stage": np.where(done & ~won, "negotiation", None),
        }
    )


def test_pipeline_forecast_matches_the_analytic_answer():
    opps = _exp_pipeline(6000, mean_days=20.0, p=0.4, seed=1)
    as_of = T0 + pd.Timedelta(days=3000)
    fc = sales.PipelineForecaster(stages=["negotiation"], horizon_days=30, n_sims=4000, include_new=False, random_state=2)
    res = fc.fit(opps, as_of=as_of).predict()
    n_open = int((opps["stage"] == "negotiation").sum())
    assert len(fc.open_deals_) == n_open
    # P(won within 30 days | open now) = p (1 - exp(-30/20)), whatever the age (memoryless)
    p_win = 0.4 * (1 - np.exp(-30 / 20))
    assert res.deals["p_won_in_horizon"].mean() == pytest.approx(p_win, abs=0.03)
    total = res.table.set_index("source").loc["total"]
    assert total["expected_wins"] == pytest.approx(n_open * p_win, rel=0.1)
    assert total["ci_low"] <= total["expected_won_value"] <= total["ci_high"]
    assert res.expected == pytest.approx(100 * total["expected_wins"])


def test_new_leads_arrive_at_their_rate():
    opps = _exp_pipeline(3650, mean_days=5.0, p=0.5, seed=3)  # about 1.2 leads a day, constant
    as_of = T0 + pd.Timedelta(days=3000)
    fc = sales.PipelineForecaster(stages=["negotiation"], horizon_days=60, n_sims=3000, random_state=4).fit(opps, as_of=as_of)
    assert fc.arrival_growth_ == pytest.approx(1.0, abs=0.1)  # no trend planted
    new = fc.predict().table.set_index("source").loc["new deals"]
    rate = 3650 / 3000
    # leads arriving at time s win within the horizon with p (1 - exp(-(60 - s)/5))
    expected = rate * 0.5 * (60 - 5 * (1 - np.exp(-60 / 5)))
    assert new["expected_wins"] == pytest.approx(expected, rel=0.1)


def test_the_forecast_does_not_see_after_its_cutoff(small_world):
    data = small_world.data
    cutoff = pd.Timestamp("2025-03-31")
    opps = data.opportunities.copy()
    late = opps["closed_at"] > cutoff + pd.Timedelta(days=1)
    # rewrite the future: every deal closing after the cut-off is won, with a huge amount … and new deals appear
    changed = opps.copy()
    changed.loc[late, ["stage", "won", "lost_at_stage"]] = ["closed_won", True, None]
    changed.loc[changed["created_at"] > cutoff + pd.Timedelta(days=1), "amount"] = 1e9
    assert late.sum() > 5

    def fit(o):
        return sales.PipelineForecaster(n_sims=300, random_state=0).fit(CRMData(opportunities=o), as_of=cutoff)

    a, b = fit(opps), fit(changed)
    pd.testing.assert_frame_equal(a.conversion_, b.conversion_)
    pd.testing.assert_frame_equal(a.open_deals_.drop(columns="amount"), b.open_deals_.drop(columns="amount"))
    pd.testing.assert_frame_equal(a.predict().table, b.predict().table)
    # … while the back-test's actuals do see it
    bt_a = sales.backtest_pipeline_forecast(CRMData(opportunities=opps), [cutoff], forecaster=sales.PipelineForecaster(n_sims=300, random_state=0))
    bt_b = sales.backtest_pipeline_forecast(CRMData(opportunities=changed), [cutoff], forecaster=sales.PipelineForecaster(n_sims=300, random_state=0))
    assert bt_a.table["expected"].iloc[0] == pytest.approx(bt_b.table["expected"].iloc[0])
    assert bt_b.table["actual"].iloc[0] > bt_a.table["actual"].iloc[0]


def test_backtest_actuals_by_hand(small_world):
    data = small_world.data
    bt = sales.backtest_pipeline_forecast(data, 2, forecaster=sales.PipelineForecaster(n_sims=200, random_state=0))
    assert len(bt.table) == 2
    op = data.opportunities
    for row in bt.table.itertuples():
        start = row.cutoff + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")  # cut-offs are ends of days
        end = start + pd.Timedelta(days=90)
        won = op[(op["stage"] == "closed_won") & (op["closed_at"] > start) & (op["closed_at"] <= end)]
        assert row.actual == pytest.approx(won["amount"].sum())
        assert row.inside == (row.ci_low <= row.actual <= row.ci_high)
    assert bt.table["cutoff"].iloc[-1] + pd.Timedelta(days=91) <= op["closed_at"].max().normalize() + pd.Timedelta(days=1)


# --------------------------------------------------------------------------- service levels by hand


def test_service_levels_by_hand():
    at = lambda h: T0 + pd.Timedelta(hours=h)  # noqa: E731
    tk = pd.DataFrame(
        {
            "ticket_id": list("abcdefg"),
            "customer_id": list("xxyyzzz"),
            "priority": ["high", "high", "high", "low", "low", None, "urgent"],
            "opened_at": [at(0), at(0), at(95), at(0), at(0), at(0), at(150)],
            "first_response_at": [at(1), at(10), pd.NaT, at(47), pd.NaT, at(5), at(149)],
            "resolved_at": [at(5), pd.NaT, pd.NaT, at(60), pd.NaT, at(8), pd.NaT],
            "csat": pd.array([5, pd.NA, pd.NA, 2, pd.NA, 4, pd.NA], dtype="Int64"),
        }
    )
    r = sales.service_levels(tk, as_of=at(100))
    t = r.summary().set_index("priority")
    # high: a within, b late, c waiting 5 h of 8: pending; low: d within, e unanswered for 100 h > 48: breached
    assert t.loc["high", ["within_sla", "breached", "pending"]].tolist() == [1, 1, 1]
    assert t.loc["low", ["within_sla", "breached", "pending"]].tolist() == [1, 1, 0]
    assert t.loc["high", "share_within_sla"] == pytest.approx(0.5)
    assert t.loc["(none)", "tickets"] == 1 and np.isnan(t.loc["(none)", "share_within_sla"])
    assert t.loc["all", ["within_sla", "breached"]].tolist() == [2, 2]
    # g opened after as_of, and its first response before it was opened: set aside once, with the first reason
    assert r.rows_in == 7 and r.rows_used == 6
    assert r.set_aside.set_index("reason")["rows"].to_dict() == {"opened after as_of": 1}
    # backlog at hour 100: b, c, e open; ages 100 h, 5 h, 100 h
    b = r.backlog.groupby("age")["tickets"].sum()
    assert b["under 1 day"] == 1 and b["3–7 days"] == 2 and b.sum() == 3
    assert r.csat.set_index("score")["tickets"].to_dict() == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    cs = r.csat_summary.set_index("group")
    assert cs.loc["SLA met", "rated"] == 2 and cs.loc["SLA met", "mean_csat"] == pytest.approx(3.5)
    with pytest.raises(ParameterError, match="targets"):
        sales.service_levels(tk, targets={"high": 0})
    with pytest.raises(DataValidationError, match="tickets: expected column opened_at"):
        sales.service_levels(tk.drop(columns="opened_at"))


# --------------------------------------------------------------------------- the planted truth


def test_small_world_intervals_hold_the_planted_rates(small_world):
    data, truth = small_world.data, small_world.truth
    f = sales.funnel(data).summary().set_index("stage")
    for stage, planted in truth.stage_conversion.items():
        lo, hi = f.loc[stage, ["ci_low", "ci_high"]]
        assert lo <= planted <= hi, (stage, planted, lo, hi)
        assert hi - lo < 0.35  # informative, not the whole unit interval
    s = sales.service_levels(data, targets=truth.sla_target_hours.to_dict()).summary().set_index("priority")
    for prio, planted in truth.sla_met_share.items():
        lo, hi = s.loc[prio, ["ci_low", "ci_high"]]
        assert lo <= planted <= hi, (prio, planted, lo, hi)
        assert s.loc[prio, "pending"] == 0
    # CSAT given the SLA outcome: the planted means lie in the reported intervals
    cs = sales.service_levels(data).csat_summary.set_index("group")
    for group, col in (("SLA met", "met"), ("SLA breached", "breached")):
        planted = float((truth.csat_shares.index.to_numpy() * truth.csat_shares[col]).sum())
        assert cs.loc[group, "mean_ci_low"] <= planted <= cs.loc[group, "mean_ci_high"], (group, planted)


def test_intervals_cover_the_truth_across_worlds():
    """95% intervals of stage conversion, SLA share and median time in stage, over several seeds."""
    misses = {"conversion": 0, "sla": 0, "median days": 0}
    n = 0
    for seed in range(1, 6):
        w = demo_world(2_000, seed=seed)
        f = sales.funnel(w.data).summary().set_index("stage")
        c = sales.cycle_times(w.data).summary().set_index("stage")
        s = sales.service_levels(w.data).summary().set_index("priority")
        for stage, planted in w.truth.stage_conversion.items():
            misses["conversion"] += not f.loc[stage, "ci_low"] <= planted <= f.loc[stage, "ci_high"]
            median = w.truth.stage_days[stage] * np.log(2)  # exponential durations
            misses["median days"] += not c.loc[stage, "ci_low"] <= median <= c.loc[stage, "ci_high"]
            n += 1
        for prio, planted in w.truth.sla_met_share.items():
            misses["sla"] += not s.loc[prio, "ci_low"] <= planted <= s.loc[prio, "ci_high"]
    for what, k in misses.items():
        assert k <= _max_misses(n), f"{what}: {k} of {n} intervals missed the truth"


@pytest.fixture(scope="module")
def medium_world():
    return demo_world(10_000, seed=0)


def test_sla_breach_goes_with_churn_as_planted(medium_world):
    link = sales.service_churn_link(medium_world.data)
    t = link.summary().set_index("group")
    assert link.difference == pytest.approx(t.loc["SLA breach", "churn_rate"] - t.loc["no SLA breach", "churn_rate"])
    lo, hi = link.difference_ci
    # the world raises dropout after a breach (and after the low ratings that come with it)
    assert lo > 0, (link.difference, link.difference_ci)
    assert "not a cause" in link.caution
    cust = link.to_frame()
    assert len(cust) == t["customers"].sum() and cust["customer_id"].is_unique
    assert set(cust.columns) == {"customer_id", "breached", "churned"}


def test_lead_source_has_no_planted_effect(medium_world):
    wr = sales.win_rates(medium_world.data, "lead_source")
    assert (~wr.summary()["small_group"]).all()
    assert wr.p_value > 0.01  # sources were drawn independently of the outcome
    shares = medium_world.data.opportunities["lead_source"].value_counts(normalize=True)
    for source, planted in medium_world.truth.lead_source_shares.items():
        n = len(medium_world.data.opportunities)
        assert abs(shares[source] - planted) <= 4 * np.sqrt(planted * (1 - planted) / n)


def test_plots_are_titled_plotly_figures(small_world):
    data = small_world.data
    service = sales.service_levels(data)
    figs = [
        sales.funnel(data).plot(),
        sales.win_rates(data, "lead_source").plot(),
        sales.cycle_times(data).plot(),
        sales.pipeline_velocity(data, random_state=0, n_boot=100).plot(),
        sales.PipelineForecaster(n_sims=200, random_state=0).fit(data).predict().plot(),
        service.plot(),
        service.plot_backlog(),
        service.plot_csat(),
        sales.service_churn_link(data).plot(),
    ]
    for fig in figs:
        assert fig.layout.title.text
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    text = "".join(f.to_json() for f in figs)
    for name in data.opportunities["owner"].dropna().unique():
        assert name not in text
