"""The campaign_evaluation report renders for every campaign of the small demo world.

Each campaign's report is run with :func:`crmkit.report.run_report` on the small demo store
(``demo_store``), once per module. The page must open with the readout's sentence (as
:func:`crmkit.campaign.readout` gives it here, on the same members), show every arm's
numbers with their intervals, the checks, the segment breakdown and the uplift section,
and no personal data (:func:`crmkit.privacy.scan_pii`) nor any customer id.
"""

from __future__ import annotations

import html
import re

import nbformat
import pytest

import crmkit.campaign as cp
from crmkit import config, report
from crmkit.privacy import scan_pii

CAMPAIGNS = ["CMP01", "CMP02", "CMP03", "CMP04", "CMP05", "CMP06"]  # the demo world's campaigns (checked below)
N_BOOTSTRAP = 500  # fewer than the report's default keeps the test quick; the test's readout uses the same


def _text(page: str) -> str:
    """The page as a reader sees it: no scripts or styles, tags stripped, entities decoded."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _first_paragraph(page: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    first = re.search(r"<p\b[^>]*>(.*?)</p>", body, flags=re.S)
    assert first, "the page has no paragraph"
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", first.group(1)))).strip()


_runs: dict[str, report.ReportRun] = {}


@pytest.fixture(scope="module")
def render(demo_store, tmp_path_factory):
    reports_dir = tmp_path_factory.mktemp("reports")

    def _render(campaign_id: str) -> report.ReportRun:
        if campaign_id not in _runs:
            _runs[campaign_id] = report.run_report(
                "campaign_evaluation",
                {"source": str(demo_store), "campaign_id": campaign_id, "n_bootstrap": N_BOOTSTRAP},
                reports_dir=reports_dir, progress=False,
            )
        return _runs[campaign_id]

    yield _render
    _runs.clear()


@pytest.fixture(scope="module")
def campaigns(demo_store):
    return cp.list_campaigns(demo_store).set_index("campaign_id")


def expected_readout(store, campaign_id, cost):
    """The readout the report should show, called here with the report's default parameters (its segment
    breakdown aside: it does not change the arm table or the sentence)."""
    members = cp.campaign_members(store, campaign_id, segments="rfm")
    return cp.readout(
        members, "group", "converted", control="control", revenue_col="revenue", cost_per_contact=cost,
        alpha=0.05, pre_period_cols=[c for c in cp.PRE_PERIOD_COLUMNS if c in members],
        n_bootstrap=N_BOOTSTRAP, random_state=0, currency="£",
    )


def test_the_demo_world_has_these_campaigns(campaigns):
    assert sorted(campaigns.index) == CAMPAIGNS


def test_the_report_renders_one_page_per_campaign():
    nb = nbformat.read(config.notebooks_dir() / "campaign_evaluation.ipynb", as_version=4)
    assert nb.metadata["crmkit"] == {"per": "campaign_id"}
    params = report.notebook_parameters("campaign_evaluation")
    for name in ("source", "campaign_id", "outcome", "revenue_col", "cost_per_contact", "segment_col", "alpha"):
        assert name in params, name
    assert params["campaign_id"].default == "" and params["segment_col"].default == "rfm"


@pytest.mark.parametrize("campaign_id", CAMPAIGNS)
def test_campaign_report(campaign_id, render, demo_store, campaigns, small_world):
    run = render(campaign_id)
    assert run.ok, run.error
    assert run.html_path.name == f"campaign_evaluation-{campaign_id}.html"
    nb = nbformat.read(run.notebook_path, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    page = run.html_path.read_text(encoding="utf-8")
    text = _text(page)

    # the answer first: the readout's own sentence, computed here on the same members
    expected = expected_readout(demo_store, campaign_id, float(campaigns.loc[campaign_id, "cost_per_contact"]))
    assert _first_paragraph(page) == expected.sentence
    assert f"{campaign_id} · {campaigns.loc[campaign_id, 'name']}" in text

    # the arm table: every group's size, conversions, rate and interval, difference and interval
    frame = expected.to_frame()
    for r in frame.itertuples():
        label = " ".join(w.upper() if len(w) == 1 else w.capitalize() for w in r.arm.split("_"))
        row = re.search(rf"{label} {r.n:,} {r.conversions:,} (\S+ %) (\S+ %) to (\S+ %)", text)
        assert row, f"no arm-table row for {label}"
        assert row.groups() == (f"{r.rate * 100:.2f} %", f"{r.rate_low * 100:.2f} %", f"{r.rate_high * 100:.2f} %")
        if r.arm != "control":
            diff = " ".join(f"{v * 100:+.2f}".replace("-", "−") for v in (r.diff, r.diff_low))
            assert re.search(rf"{label} {r.n:,} .*?{re.escape(diff.split()[0])} {re.escape(diff.split()[1])} to ", text)
            # the revenue section: net return with its bootstrap interval, in pounds
            amount = f"{abs(r.net_revenue):,.2f}" if abs(r.net_revenue) < 100 else f"{abs(r.net_revenue):,.0f}"
            net = f"{'−' if r.net_revenue < 0 else '+'}£{amount}"
            assert f"the net return was {net}" in text

    # the sections a director reads, with their words
    for heading in ("Each group against the control", "Revenue and return on the contact cost",
                    "Can we trust the comparison?", "For whom did it work?", "Whom to target next time", "Method"):
        assert heading in text, heading
    assert "heavy-tailed" in text and "bootstrap" in text
    assert "Holm" in text and "comparisons were made" in text
    assert "Group sizes." in text and "Before the campaign." in text
    # the balance wording of the current rule (cp.BALANCE_RULE), not the old "within ±0.1"
    assert "within ±" not in text and "None of these is beyond what chance gives" not in text
    assert ("looked alike before the campaign: no gap larger than" in text) == bool(expected.balance["ok"].all())
    # one sign style: the typographic minus, never a hyphen before a number or an amount ("-27 %", "£-39")
    assert not re.search(r"(?<![\w−])-\s?[£\d]|£-", text), re.search(r".{40}(?<![\w−])-\s?[£\d].{20}|.{40}£-.{20}", text)
    assert "Whom to target next time." in text
    assert page.count('class="plotly-graph-div"') >= 2  # forest plots (arms, segments), and the Qini curve when it ranks
    if "Qini coefficient" in text:
        assert page.count('class="plotly-graph-div"') >= 3

    # nothing personal, no customer id
    customers = small_world.data.customers
    found = scan_pii(page, known=customers)
    assert found.empty, found
    ids = set(small_world.data.campaign_members["customer_id"])
    assert not [i for i in ids if i in page]


def test_the_pii_scan_can_fail_on_this_report(render, small_world):
    run = render("CMP05")
    page = run.html_path.read_text(encoding="utf-8")
    email = str(small_world.data.customers["email"].dropna().iloc[0])
    planted = page.replace("Whom to target next time", f"Whom to target next time {email}", 1)
    assert not scan_pii(planted, known=small_world.data.customers).empty
