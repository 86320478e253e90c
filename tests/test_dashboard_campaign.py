"""The campaign dashboard's state, without a browser (tests/test_browser_campaign.py shows
what a person sees). Expected numbers come from crmkit.campaign called directly."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import crmkit.campaign as cp
from crmkit.dashboards import CampaignApp
from crmkit.errors import ParameterError
from crmkit.privacy import scan_pii

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "dashboards" / "campaign.ipynb"
N_BOOT = 200


@pytest.fixture(scope="module")
def app(small_world):
    return CampaignApp(data=small_world.data, n_bootstrap=N_BOOT)


def expected_readout(data, campaign_id, segment=None):
    """The readout the page should show, from crmkit.campaign called here."""
    members = cp.campaign_members(data, campaign_id, segments="rfm")
    if segment is not None:
        members = members[members["segment"] == segment]
    cost = cp.list_campaigns(data).set_index("campaign_id").loc[campaign_id, "cost_per_contact"]
    return cp.readout(
        members, "group", "converted", control="control", revenue_col="revenue", cost_per_contact=float(cost),
        pre_period_cols=[c for c in cp.PRE_PERIOD_COLUMNS if c in members], n_bootstrap=N_BOOT, random_state=0,
    )


def test_opens_on_the_most_recent_campaign(app, small_world):
    campaigns = small_world.data.campaigns
    latest = campaigns.sort_values("start").iloc[-1]["campaign_id"]
    assert app.message is None, app.message
    assert app.campaign_id == latest
    assert [v for _, v in app.campaign_picker.options] == sorted(campaigns["campaign_id"])
    assert app.segment == "all"
    members = small_world.data.campaign_members.query("campaign_id == @latest")
    assert app.tile_text["members"] == f"{len(members):,}"
    expected = expected_readout(small_world.data, latest)
    assert app.sentence == expected.sentence
    pd.testing.assert_frame_equal(app.arm_frame, expected.to_frame())
    assert expected.sentence in app._sentence.value.replace("&#x27;", "'")


def test_the_arm_table_shows_the_readout_numbers(app, small_world):
    app.set_campaign("CMP05")
    frame = app.arm_frame
    assert set(frame["arm"]) == {"control", "treatment_a", "treatment_b"}
    raw = small_world.data.campaign_members.query("campaign_id == 'CMP05'")
    counts = raw.groupby("group").agg(n=("customer_id", "size"), conv=("converted", "sum"))
    table = app.arm_table.set_index("Group")
    for arm, row in counts.iterrows():
        label = {"control": "Control", "treatment_a": "Treatment A", "treatment_b": "Treatment B"}[arm]
        assert table.loc[label, "Customers"] == f"{row['n']:,}"
        assert table.loc[label, "Conversions"] == f"{row['conv']:,}"
        assert table.loc[label, "Conversion rate"] == f"{row['conv'] / row['n'] * 100:.2f} %"
        f = frame.set_index("arm").loc[arm]
        assert table.loc[label, "Rate interval"] == f"{f['rate_low'] * 100:.2f} % to {f['rate_high'] * 100:.2f} %"
        if arm != "control":
            assert table.loc[label, "Difference (points)"] == f"{f['diff'] * 100:+.2f}".replace("-", "−")
            assert f'data-arm="{arm}"' in app._arm_table.value
    assert table.loc["Control", "Difference (points)"] == "control"
    # two treatments: the lift tile is the better arm's difference
    best = frame[frame["arm"] != "control"].sort_values("diff").iloc[-1]
    assert app.tile_text["lift"] == f"{best['diff'] * 100:+.2f} pts".replace("-", "−")
    # the forest plot is drawn (a picture of the readout's own plot) and the checks are listed
    assert "application/vnd.plotly.v1+json" in app._forest_out.outputs[0]["data"]
    # the checks in words: group sizes (no planned shares in the demo data: skipped, and said) and the pre-period
    checks = app.check_text
    assert checks["sample ratio"][0] == "skipped" and "not recorded" in checks["sample ratio"][1]
    balance = app.readout_.balance
    expected_verdict = "ok" if balance["ok"].all() else ("warn" if (balance["p_value"] >= cp.BALANCE_ALPHA).all() else "fail")
    assert checks["balance"][0] == expected_verdict
    for key, (verdict, text) in checks.items():
        assert f'class="crmkit-{verdict}" data-check="{key}"' in app._checks.value
    for column in balance["column"].unique():
        assert f'data-measure="{column}"' in app._checks.value
    shown = re.sub(r"<[^>]+>", " ", app._checks.value)  # what a reader sees: measures in words, not column names
    assert "Orders in the year before" in shown and not re.search(r"\bpre_|tenure_days|treatment_a", shown)


def test_balance_wording_is_true_under_the_balance_rule(app):
    """Each verdict's sentence holds under cp.BALANCE_RULE: a small-group |SMD| > 0.1 inside chance is not flagged,
    a flagged gap with every p >= 0.01 is beyond chance at 95 % (not "within chance"), p < 0.01 fails."""
    import dataclasses

    app.set_campaign("CMP05")
    real = app.readout_
    base = real.balance.copy()
    row = {"column": "pre_orders", "arm": "treatment_a", "mean_arm": 1.3, "mean_control": 1.1}
    cases = {
        # |SMD| 0.15 but its interval includes 0 and p = 0.2: not flagged
        "ok": dict(row, smd=-0.15, smd_low=-0.40, smd_high=0.10, p_value=0.2, ok=True),
        # |SMD| 0.3, interval excludes 0, p = 0.03: flagged, but no p below 0.01
        "warn": dict(row, smd=-0.30, smd_low=-0.55, smd_high=-0.05, p_value=0.03, ok=False),
        "fail": dict(row, smd=-0.45, smd_low=-0.70, smd_high=-0.20, p_value=0.001, ok=False),
    }
    try:
        for verdict, case in cases.items():
            others = base[base["column"] != "pre_orders"].assign(ok=True, p_value=0.5, smd=0.01, smd_low=-0.2, smd_high=0.2)
            balance = pd.concat([pd.DataFrame([case]), others], ignore_index=True)
            app.readout_ = dataclasses.replace(real, balance=balance)
            got, text = app.check_text["balance"]
            assert got == verdict, (verdict, text)
            assert "within ±" not in text and "none beyond what chance" not in text
            if verdict == "ok":
                assert "chance" in text and f"{cp.BALANCE_ALPHA:g}" in text
            if verdict == "warn":
                assert "Orders in the year before" in text and "95 %" in text and "1 of" in text
            if verdict == "fail":
                assert "Orders in the year before" in text and f"below {cp.BALANCE_ALPHA:g}" in text
            shown = re.sub(r"<[^>]+>", " ", app._checks_html())
            assert "−0.15" in shown or "−0.30" in shown or "−0.45" in shown  # typographic minus on the SMD
            assert not re.search(r"(?<![\w−])-\d", shown), shown  # no hyphen-minus before a number
            assert "excludes 0" in shown and "within ±" not in shown
    finally:
        app.readout_ = real


def test_numbers_use_the_typographic_minus(app):
    app.set_campaign("CMP05")
    for html_text in (app._arm_table.value, app._checks.value, app._sentence.value,
                      "".join(w.value for w in app._tiles.values())):
        shown = re.sub(r"<[^>]+>", " ", html_text)
        assert not re.search(r"(?<![\w−])-\s?[£\d]", shown), shown


def test_a_segment_filter_reads_out_that_segment_only(app, small_world):
    app.set_campaign("CMP06")
    options = app.segment_options
    assert options[0] == "all" and len(options) > 2
    members = app.members_
    biggest = members["segment"].value_counts().index[0]
    app.set_segment(biggest)
    assert app.segment == biggest
    expected = expected_readout(small_world.data, "CMP06", biggest)
    assert app.sentence == expected.sentence
    pd.testing.assert_frame_equal(app.arm_frame, expected.to_frame())
    assert app.arm_frame["n"].sum() == (members["segment"] == biggest).sum()
    assert biggest in app._sentence.value
    app.set_segment("all")
    assert app.arm_frame["n"].sum() == len(members)
    with pytest.raises(ParameterError, match="segment: expected one of"):
        app.set_segment("no such segment")
    with pytest.raises(ParameterError, match="campaign_id: expected one of"):
        app.set_campaign("CMP99")
    # choosing another campaign resets the segment filter to everyone
    app.set_segment(biggest)
    app.set_campaign("CMP03")
    assert app.segment == "all" and app.campaign_id == "CMP03"


def test_every_campaign_reads_out_without_an_error(app, small_world):
    for cid in small_world.data.campaigns["campaign_id"]:
        app.set_campaign(cid)
        assert app.message is None, (cid, app.message)
        assert app.readout_ is not None and app.sentence
        assert app.arm_frame["n"].sum() == (small_world.data.campaign_members["campaign_id"] == cid).sum()


def test_the_planning_tab_follows_the_inputs(app):
    app.set_plan_inputs(baseline_rate=0.05, effect=0.01, power=0.8, arms=2)
    expected = cp.sample_size(0.05, 0.01, power=0.8, alpha=0.05, arms=2)
    assert app.plan_.total == expected.total and app.plan_.n_per_arm == expected.n_per_arm
    assert app.plan_inputs == {"baseline_rate": 0.05, "effect": 0.01, "power": 0.8, "arms": 2}
    assert expected.summary() in app._plan_answer.value.replace("&#x27;", "'")
    # more arms need more customers per arm (the level is split between comparisons); more power, more customers
    app.set_plan_inputs(arms=3)
    three = app.plan_
    assert three.n_per_arm > expected.n_per_arm and three.total > expected.total
    assert three.total == cp.sample_size(0.05, 0.01, power=0.8, alpha=0.05, arms=3).total
    app.set_plan_inputs(arms=2, power=0.9)
    assert app.plan_.n_per_arm > expected.n_per_arm
    # a smaller effect needs more customers: roughly 1 / effect²
    app.set_plan_inputs(power=0.8, effect=0.005)
    assert 3.5 < app.plan_.n_per_arm / expected.n_per_arm < 4.5
    # typing into the boxes (per cent) recomputes the same way
    app.effect_input.value = 1.0
    assert app.plan_.total == expected.total
    with pytest.raises(ParameterError, match="baseline_rate: expected a share"):
        app.set_plan_inputs(baseline_rate=5)
    with pytest.raises(ParameterError, match="power: expected one of"):
        app.set_plan_inputs(power=0.85)
    # an impossible combination is explained in the page, not raised
    app.baseline_input.value = 98.0
    app.effect_input.value = 5.0
    assert app.plan_ is None and "lower rate or a smaller lift" in app.plan_message
    assert "crmkit-error" in app._plan_answer.value
    app.set_plan_inputs(baseline_rate=0.05, effect=0.01)
    assert app.plan_ is not None and app.plan_message is None


def test_the_plan_can_start_from_the_chosen_campaign(app):
    app.set_campaign("CMP05")
    frame = app.arm_frame.set_index("arm")
    mde = cp.minimum_detectable_effect(int(frame.drop("control")["n"].min()), int(frame.loc["control", "n"]),
                                       float(frame.loc["control", "rate"]))
    assert app.mde_ == pytest.approx(mde)
    assert f"a lift of about {mde * 100:.1f} points" in app.plan_context
    assert app.plan_context in app._plan_answer.value.replace("&#x27;", "'")
    app.plan_from_campaign()
    control = app.arm_frame.set_index("arm").loc["control", "rate"]
    assert app.plan_inputs["baseline_rate"] == pytest.approx(control, abs=1e-6)
    assert app.plan_inputs["arms"] == 3


def test_nothing_personal_is_shown(app, small_world):
    app.set_campaign("CMP05")
    app.set_segment(app.segment_options[1])
    page = " ".join(
        w.value for w in (app._header, app._sentence, app._arm_table, app._arm_note, app._checks, app._message_box,
                          app._filter_note, app._plan_answer, app._plan_table)
    ) + " ".join(t.value for t in app._tiles.values()) + str(app._forest_out.outputs)
    customers = small_world.data.customers
    assert scan_pii(page, known=customers).empty
    # the scan can fail on this page: a planted address is found
    assert not scan_pii(page + str(customers["email"].dropna().iloc[0]), known=customers).empty
    ids = set(small_world.data.campaign_members["customer_id"])
    assert not [i for i in ids if i in page]
    app.set_segment("all")


def test_a_missing_store_is_explained_not_raised(tmp_path):
    app = CampaignApp(tmp_path / "absent.duckdb")
    assert app.message_kind == "error" and "No data store found" in app.message
    assert app.campaign_picker.disabled and app.readout_ is None
    assert app.tile_text["members"] == "–"
    assert "Traceback" not in app._message_box.value


def test_an_unknown_campaign_is_explained_and_the_latest_shown(small_world):
    app = CampaignApp(data=small_world.data, campaign_id="CMP99", n_bootstrap=N_BOOT)
    assert app.message_kind == "error" and "CMP99" in app.message and "CMP01" in app.message
    assert app.readout_ is not None and app.campaign_id == "CMP06"


def test_the_store_is_read_on_its_engine(demo_store):
    app = CampaignApp(demo_store, campaign_id="CMP02", segments="none", n_bootstrap=N_BOOT)
    assert app.message is None, app.message
    assert app.segment_options == ["all"] and app.segment_picker.disabled
    assert app.arm_frame["n"].sum() == cp.list_campaigns(demo_store).set_index("campaign_id").loc["CMP02", "n_members"]


def test_the_dashboard_notebook_is_small_and_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert 2 <= len(nb.cells) <= 4
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "CampaignApp" in code[1].source and code[-1].source.strip() == "app"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
