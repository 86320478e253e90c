"""The *contact plan what-if* dashboard: move the budget, the caps and the call-centre
capacity; the plan re-optimises and its profit, volumes and shadow prices follow.

:class:`PlanWhatIfApp` holds the state, the widgets and the rendering, and can be driven
without a browser::

    app = PlanWhatIfApp(data=data)
    app.set_inputs(budget=2_000, email_cap=2, monthly_cap=6, call_capacity=300)
    app.plan_                   # the crmkit.plan.ContactPlan behind the page
    app.tile_text["profit"]     # what the profit tile shows, e.g. '£7,811'
    app.last_solve_seconds_     # time of the last re-optimisation

The expensive steps — reading the data, eligibility (consent, quiet periods, contact
history against every cap) and the candidate rows — run once when the app starts
(:func:`crmkit.plan.prepare`); a slider move only re-solves the prepared programme with
the new budget, caps and capacity (``Optimizer.solve``). The same slider values always
show the same plan: the optimiser remembers its plans per input and warm-starts from the
first solve, not the previous one, so the numbers do not depend on the order of the moves.
A policy that cannot be met
(e.g. minimum volumes above what the caps allow) is shown as a message box naming the
conflicting constraints, never as a traceback. Only totals are shown: no customer's
personal data, no customer ids.
"""

from __future__ import annotations

import math
import time

import ipywidgets as widgets
import numpy as np
import pandas as pd

from crmkit.dashboards._widgets import (
    find_source,
    format_count,
    format_money,
    header_html,
    message_html,
    quietly,
    tile_html,
)
from crmkit.errors import CrmkitError, ParameterError

__all__ = ["TABLES_NEEDED", "PlanWhatIfApp"]

#: The CRM tables the plan reads.
TABLES_NEEDED = ["customers", "consents", "transactions", "interactions", "tickets"]

_TILES = {
    "profit": ("Expected profit", "Incremental profit of the contacted customers after contact costs (95% range)."),
    "contacts": ("Contacts planned", "Contacts in the plan's days, holdout not included."),
    "cost": ("Contact cost", "What the planned contacts cost, against the budget."),
    "gap": ("Gap to the best plan", "At most this far below the best possible plan (upper bound from HiGHS)."),
}
_OFFER_COLOURS = ["#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0ea5e9", "#84cc16"]
_CHANNEL_WORDS = {"email": "E-mail", "sms": "SMS", "push": "Push", "phone": "Call centre", "post": "Mail"}
_UNSET = object()


def _esc(text) -> str:
    import html

    return html.escape(str(text), quote=True)


def _signed_money(x: float, currency: str) -> str:
    """``−£39`` rather than ``£-39``."""
    text = format_money(abs(x), currency)
    return f"−{text}" if np.isfinite(x) and x < 0 else text


def _nice_ceiling(x: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``x`` (slider ends people can read)."""
    if not np.isfinite(x) or x <= 0:
        return 100.0
    p = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * p >= x:
            return float(m * p)
    return float(10 * p)


class PlanWhatIfApp:
    """What-if on the contact plan: budget, caps and call-centre capacity.

    Parameters
    ----------
    source : str or Path, optional
        A DuckDB store, a database URL, a folder of CSV/Parquet files or an Excel workbook;
        ``None`` or ``""`` means the default source (``$CRMKIT_SOURCE`` or the embedded store).
    data : CRMData, optional
        Data already in memory (customers, consents, interactions at least); ``source`` is
        then not read.
    policy : crmkit.plan.ContactPolicy, optional
        The contact rules; default :meth:`ContactPolicy.default`. It needs an e-mail cap
        over a sliding window, a cross-channel calendar-month cap and a ``phone`` channel
        for the three cap sliders (a slider whose rule is missing is disabled).
    as_of : date-like, optional
        First day of the plan; default the day after the last recorded interaction.
    horizon_days : int, default 7
    budget : float, optional
        The budget the page opens with; default 60 % of what the unconstrained plan would spend.
    holdout_share : float, default 0.1
    currency : str, default "£"
    tol : float, default 1e-3
        Relative gap at which the large-instance solver stops (the page shows the gap).
    random_state : int, default 0

    Attributes
    ----------
    plan_ : crmkit.plan.ContactPlan or None
        The plan for the current inputs (``None`` after an error).
    baseline_ : crmkit.plan.ContactPlan or None
        The plan for the inputs the page opened with (the deltas compare with it).
    optimizer_ : crmkit.plan.Optimizer or None
        The prepared programme.
    message : str or None
        The message shown above the results, as plain text.
    last_solve_seconds_ : float
        Seconds the last change took (solve and redraw).
    """

    title = "Contact plan: what if?"
    subtitle = (
        "Move the budget, the contact caps and the call-centre capacity: the plan is re-optimised and the expected "
        "profit, the contacts per channel and offer, and what each limit is worth follow."
    )

    def __init__(
        self,
        source=None,
        *,
        data=None,
        policy=None,
        as_of=None,
        horizon_days: int = 7,
        budget: float | None = None,
        holdout_share: float = 0.1,
        currency: str = "£",
        tol: float = 1e-3,
        random_state: int = 0,
    ):
        self.source = source
        self.currency = currency
        self.as_of = as_of
        self.horizon_days = horizon_days
        self.holdout_share = holdout_share
        self.tol = tol
        self.random_state = random_state
        self.policy = policy
        self.data_ = None
        self.as_of_ = None
        self.optimizer_ = None
        self.plan_ = None
        self.baseline_ = None
        self.unconstrained_cost_ = np.nan
        self.message: str | None = None
        self.message_kind: str | None = None
        self.last_solve_seconds_ = 0.0
        self.prepare_seconds_ = 0.0
        self._suspend = False
        self._build_widgets()
        self._prepare(data, budget)
        if self.optimizer_ is not None:
            self.refresh()
            self.baseline_ = self.plan_
            if self.plan_ is not None:
                self.refresh()  # draw the deltas against the baseline (all zero)

    # ------------------------------------------------------------------ data and preparation
    def _load_data(self, data):
        from crmkit import io as crm_io
        from crmkit.io import mask_url

        if data is not None:
            self._source_text = "the data given"
            return data
        source, problem = find_source(self.source)
        self._source_text = mask_url(source)
        if problem:
            self._set_message(problem, kind="error", code="crmkit demo")
            return None
        return crm_io.load(source, tables=TABLES_NEEDED).data

    def _prepare(self, data, budget) -> None:
        import crmkit.plan as pl

        t0 = time.perf_counter()
        try:
            data = self._load_data(data)
            if data is None:
                self._disable()
                return
            self.data_ = data
            policy = self.policy if self.policy is not None else pl.ContactPolicy.default()
            if self.as_of not in (None, ""):
                self.as_of_ = pd.Timestamp(self.as_of).normalize()
            else:
                inter = getattr(data, "interactions", None)
                if inter is None or inter.empty:
                    raise ParameterError("as_of: give the plan's first day; there are no interactions to start after.")
                self.as_of_ = pd.Timestamp(inter["at"].max()).normalize() + pd.Timedelta(days=1)
            el = pl.eligibility(data, policy, self.as_of_, horizon_days=self.horizon_days)
            cand = pl.candidates(data, policy, self.as_of_, horizon_days=self.horizon_days, eligibility=el,
                                 include_capped=True)
            self.optimizer_ = pl.prepare(cand, policy, eligibility=el, horizon_days=self.horizon_days)
            self.policy_ = policy
            self.unconstrained_cost_ = self._unconstrained_cost()
        except Exception as exc:  # noqa: BLE001 - the page must show an error, never a traceback
            where = getattr(self, "_source_text", "the data")
            detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
            self._set_message(f"Could not prepare the contact plan from {where}: {detail}", kind="error")
            self.optimizer_ = None
            self._disable()
            return
        finally:
            self.prepare_seconds_ = time.perf_counter() - t0
        self._configure_sliders(budget)
        self._header.value = header_html(
            self.title,
            self.subtitle,
            f"Plan for {self.as_of_:%d %b %Y} + {self.horizon_days} days · {format_count(self.optimizer_.n_customers)} "
            f"customers with at least one allowed contact · amounts in {self.currency or 'the data currency'}",
        )

    def _unconstrained_cost(self) -> float:
        """What the plan spends with no budget (the budget slider's scale).

        When the policy cannot be met even without a budget, the cost of every customer's
        most profitable candidate stands in, so the page still opens and shows the problem.
        """
        from crmkit.plan import InfeasiblePolicyError

        opt = self.optimizer_
        try:
            free = opt.solve(budget=None, holdout_share=0.0, greedy=False, tol=self.tol, random_state=self.random_state)
            return float(free.rows["cost"].sum())
        except InfeasiblePolicyError:
            rows = pd.DataFrame({"c": opt.cust, "p": opt.profit, "cost": opt.cost_row})
            best = rows[rows["p"] > 0].sort_values("p").drop_duplicates("c", keep="last")
            return float(best["cost"].sum())

    def _cap_value(self, scope: str, kind: str, window=None) -> float | None:
        caps = self.policy_.caps
        m = (caps["scope"] == scope) & (caps["kind"] == kind)
        if window is not None:
            m &= caps["window"].astype(str).str.lower() == window
        return float(caps.loc[m, "max_weight"].iloc[0]) if m.any() else None

    def _email_key(self):
        caps = self.policy_.caps
        m = (caps["scope"] == "email") & (caps["kind"] == "sliding")
        return ("email", str(caps.loc[m, "window"].iloc[0])) if m.any() else None

    def _configure_sliders(self, budget) -> None:
        with quietly(self):
            top = _nice_ceiling(max(self.unconstrained_cost_ * 1.2, 1.0))
            step = top / 200
            self.budget_slider.max = top
            self.budget_slider.step = step
            start = budget if budget is not None else (
                self.policy_.budget if self.policy_.budget is not None else 0.6 * self.unconstrained_cost_)
            self.budget_slider.value = float(min(max(round(start / step) * step, 0.0), top))
            email = self._cap_value("email", "sliding")
            self.email_slider.disabled = email is None
            if email is not None:
                self.email_slider.max = max(7, int(email) * 2)
                self.email_slider.value = int(email)
            month = self._cap_value("all", "calendar", "month")
            self.month_slider.disabled = month is None
            if month is not None:
                self.month_slider.max = max(20, int(month) * 2)
                self.month_slider.value = int(month)
            ch = self.policy_.channels.set_index("channel")["capacity_per_day"]
            has_phone = "phone" in ch.index
            self.call_slider.disabled = not has_phone
            if has_phone:
                cap = ch["phone"]
                cap = 1000.0 if not np.isfinite(cap) else float(cap)
                self.call_slider.max = int(_nice_ceiling(max(cap * 2, 10)))
                self.call_slider.step = max(1, self.call_slider.max // 100)
                self.call_slider.value = int(cap)

    def _disable(self) -> None:
        for w in self._sliders:
            w.disabled = True
        for box in (self._tiles_box, self._results):
            box.layout.display = "none"

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        style = {"description_width": "150px"}  # one label width: the four tracks line up
        self._header = widgets.HTML(header_html(self.title, self.subtitle))
        self.budget_slider = widgets.FloatSlider(
            value=0, min=0, max=100, step=1, description=f"Budget ({self.currency or 'money'})", style=style,
            continuous_update=False, readout_format=",.0f", 
        )
        self.email_slider = widgets.IntSlider(
            value=3, min=0, max=7, description="E-mails per 7 days", style=style, continuous_update=False,
            
        )
        self.month_slider = widgets.IntSlider(
            value=8, min=0, max=20, description="Contacts per month", style=style, continuous_update=False,
            
        )
        self.call_slider = widgets.IntSlider(
            value=2000, min=0, max=5000, step=50, description="Calls per day", style=style, continuous_update=False,
            
        )
        self._sliders = [self.budget_slider, self.email_slider, self.month_slider, self.call_slider]
        for slider in self._sliders:
            slider.layout.width = "96%"
        # Two columns of long sliders: fine steps are easy to hit with a mouse on a projector.
        controls = widgets.GridBox(
            self._sliders, layout=widgets.Layout(grid_template_columns="1fr 1fr", grid_gap="6px 24px")
        )
        controls.add_class("crmkit-filters")
        controls.add_class("crmkit-plan-controls")
        self._message_box = widgets.HTML("")
        self._tiles = {key: widgets.HTML(layout=widgets.Layout(flex="1 1 230px")) for key in _TILES}
        self._tiles_box = widgets.HBox(list(self._tiles.values()), layout=widgets.Layout(width="100%"))
        self._tiles_box.add_class("crmkit-tiles")
        self._volumes_out = widgets.Output(layout=widgets.Layout(width="100%", min_height="360px"))
        vol_box = widgets.Box([self._volumes_out], layout=widgets.Layout(width="100%", margin="0 0 12px 0"))
        vol_box.add_class("crmkit-chart")
        vol_box.add_class("crmkit-chart-volumes")
        self._limits = widgets.HTML("")
        self._change = widgets.HTML("")

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(f'<h3 class="crmkit-h3" style="margin:14px 0 6px 0;font-size:18px;">{text}</h3>')

        self._results = widgets.VBox(
            [
                self._change,
                vol_box,
                heading("What each limit is worth"),
                self._limits,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self._footer = widgets.HTML(
            '<div class="crmkit-footer">Consent, quiet periods and the caps are hard rules: no customer is planned on a '
            "channel without consent or beyond a cap. A share of the selected customers is held out so the plan can be "
            "measured. Only totals are shown; no personal data.</div>"
        )
        self.widget = widgets.VBox(
            [self._header, controls, self._message_box, self._tiles_box, self._results, self._footer],
            layout=widgets.Layout(width="100%"),
        )
        self.widget.add_class("crmkit-dash")
        self.widget.add_class("crmkit-plan-whatif")
        for s in self._sliders:
            s.observe(self._on_change, names="value")

    def _set_message(self, text: str | None, *, kind: str = "info", code: str | None = None) -> None:
        self.message = None if text is None else text.replace("{code}", f"`{code}`" if code else "")
        self.message_kind = None if text is None else kind
        self._message_box.value = "" if text is None else message_html(text, kind=kind, code=code)

    # ------------------------------------------------------------------ inputs
    @property
    def inputs(self) -> dict:
        """The current inputs: budget, email_cap, monthly_cap, call_capacity."""
        return {
            "budget": float(self.budget_slider.value),
            "email_cap": int(self.email_slider.value),
            "monthly_cap": int(self.month_slider.value),
            "call_capacity": int(self.call_slider.value),
        }

    def set_inputs(self, *, budget=_UNSET, email_cap=_UNSET, monthly_cap=_UNSET, call_capacity=_UNSET) -> PlanWhatIfApp:
        """Change any input as a person would with the sliders, then re-optimise once.

        Values outside a slider's range raise :class:`~crmkit.errors.ParameterError`.
        """
        new = {}
        for slider, value, name in (
            (self.budget_slider, budget, "budget"),
            (self.email_slider, email_cap, "email_cap"),
            (self.month_slider, monthly_cap, "monthly_cap"),
            (self.call_slider, call_capacity, "call_capacity"),
        ):
            if value is _UNSET:
                continue
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = float("nan")
            if not (slider.min <= v <= slider.max):
                raise ParameterError(f"{name}: expected a number from {slider.min:,} to {slider.max:,}, found {value!r}.")
            if slider.disabled:
                raise ParameterError(f"{name}: the contact policy has no rule this slider changes.")
            new[slider] = v if isinstance(slider, widgets.FloatSlider) else int(round(v))
        with quietly(self):
            for slider, v in new.items():
                slider.value = v
        self.refresh()
        return self

    def _on_change(self, change) -> None:
        if not self._suspend:
            self.refresh()

    # ------------------------------------------------------------------ state
    def _solve_kwargs(self) -> dict:
        i = self.inputs
        caps = {}
        key = self._email_key()
        if key is not None:
            caps[key] = i["email_cap"]
        if self._cap_value("all", "calendar", "month") is not None:
            caps[("all", "month")] = i["monthly_cap"]
        capacity = {"phone": i["call_capacity"]} if not self.call_slider.disabled else None
        return {"budget": i["budget"], "caps": caps or None, "capacity": capacity}

    def refresh(self) -> None:
        """Re-optimise for the current inputs and redraw the page."""
        t0 = time.perf_counter()
        if self.optimizer_ is None:
            self.plan_ = None
            return
        try:
            self.plan_ = self.optimizer_.solve(
                **self._solve_kwargs(), holdout_share=self.holdout_share, greedy=False, tol=self.tol,
                random_state=self.random_state,
            )
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            self.plan_ = None
            detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
            detail = detail.replace("\n  - ", " • ").replace("\n", " ")
            self._set_message(f"No plan meets these settings. {detail}", kind="error")
            self._results.layout.display = "none"
            self._draw_tiles()
            self.last_solve_seconds_ = time.perf_counter() - t0
            return
        self._set_message(None)
        self._results.layout.display = None
        self._draw_tiles()
        self._draw_change()
        self._volumes_out.outputs = self._chart_output()
        self._limits.value = self._limits_html()
        self.last_solve_seconds_ = time.perf_counter() - t0

    @property
    def kpis(self) -> dict:
        """The numbers behind the tiles (NaN after an error)."""
        p = self.plan_
        if p is None:
            return {k: np.nan for k in ("profit", "profit_low", "profit_high", "contacts", "cost", "budget", "gap")}
        t = p.rows[p.rows["group"] == "target"]
        return {
            "profit": float(p.expected_profit),
            "profit_low": float(p.profit_low),
            "profit_high": float(p.profit_high),
            "contacts": len(t),
            "cost": float(t["cost"].sum()),
            "budget": float(self.inputs["budget"]),
            "gap": float(p.gap),
        }

    @property
    def tile_text(self) -> dict:
        k = self.kpis
        c = self.currency
        if self.plan_ is None:
            return {key: "–" for key in _TILES}
        return {
            "profit": format_money(k["profit"], c),
            "contacts": format_count(k["contacts"]),
            "cost": format_money(k["cost"], c),
            "gap": f"{k['gap']:.2%}",
        }

    def _tile_help(self) -> dict:
        k = self.kpis
        c = self.currency
        help_text = {key: h for key, (_, h) in _TILES.items()}
        if self.plan_ is None:
            return help_text
        if np.isfinite(k["profit_low"]):
            help_text["profit"] = (f"After contact costs; 95% range {_signed_money(k['profit_low'], c)} to "
                                   f"{_signed_money(k['profit_high'], c)}.")
        held = int((self.plan_.rows["group"] == "holdout").sum())
        help_text["contacts"] = f"To {format_count(k['contacts'])} customers; {format_count(held)} more held out to measure the plan."
        help_text["cost"] = (f"{k['cost'] / k['budget']:.0%} of the {format_money(k['budget'], c)} budget."
                             if k["budget"] > 0 else "No budget set.")
        help_text["gap"] = (f"Within {k['gap']:.2%} of the best possible plan "
                            f"(bound {format_money(self.plan_.lp_bound, c)}, before the holdout).")
        return help_text

    def _draw_tiles(self) -> None:
        text = self.tile_text
        helps = self._tile_help()
        for key, (label, _) in _TILES.items():
            self._tiles[key].value = tile_html(key, label, text[key], helps[key])

    def _draw_change(self) -> None:
        b, p = self.baseline_, self.plan_
        if b is None or p is None or b is p:
            self._change.value = ""
            return
        c = self.currency
        d_profit = p.expected_profit - b.expected_profit
        nb = int((b.rows["group"] == "target").sum())
        n = int((p.rows["group"] == "target").sum())
        word = "more" if d_profit >= 0 else "less"
        dn = n - nb
        contacts = "the same number of contacts" if dn == 0 else f"{abs(dn):,} {'more' if dn > 0 else 'fewer'} contacts"
        self._change.value = (
            f'<p class="crmkit-plan-change" style="margin:0 0 10px 0;font-size:14px;">Against the settings the page opened '
            f"with: <b>{format_money(abs(d_profit), c)} {word}</b> expected profit, {contacts}.</p>"
        )

    def _limits_html(self) -> str:
        sp = self.plan_.shadow_prices
        rows = []
        if sp is not None and len(sp):
            for r in sp.sort_values("binding", ascending=False).itertuples():
                mark = "binding" if r.binding else "slack"
                colour = "#b45309" if r.binding else "#6b7280"
                rows.append(
                    f'<li class="crmkit-limit crmkit-limit-{mark}" style="margin:2px 0;">'
                    f'<span style="display:inline-block;min-width:64px;font-weight:600;color:{colour};">{mark}</span>'
                    f"{_esc(r.sentence)}</li>"
                )
        caps_note = (
            "Caps per customer (e-mails per 7 days, contacts per month) decide who can be reached at all; "
            "their effect shows in the volumes and profit above."
        )
        body = "".join(rows) or "<li>No global limit applies to this plan.</li>"
        return (f'<ul class="crmkit-limits" style="list-style:none;padding-left:0;margin:0 0 6px 0;font-size:14px;">{body}</ul>'
                f'<p style="font-size:12.5px;color:#6b7280;margin:0;">{_esc(caps_note)}</p>')

    # ------------------------------------------------------------------ display
    @property
    def volumes(self) -> pd.DataFrame | None:
        """Planned contacts (targets) per offer × channel, with cost and expected profit."""
        return None if self.plan_ is None else self.plan_.volumes.copy()

    def figure_dict(self) -> dict:
        """Planned contacts per channel, stacked by offer, as a plain plotly figure dict.

        Built without plotly's validation (about 0.2 s per redraw saved); the look of the
        ``plotly_white`` template is set directly.
        """
        vol = self.plan_.volumes
        channels = list(self.optimizer_.channels)
        grid = "#ebf0f8"
        data = []
        for i, offer in enumerate(self.optimizer_.offers):
            v = vol[vol["offer"] == offer].set_index("channel").reindex(channels)
            contacts = v["contacts"].fillna(0).astype(int).tolist()
            data.append({
                "type": "bar", "name": str(offer),
                "x": [_CHANNEL_WORDS.get(ch, ch) for ch in channels], "y": contacts,
                "marker": {"color": _OFFER_COLOURS[i % len(_OFFER_COLOURS)]},
                "showlegend": sum(contacts) > 0,  # offers the plan does not use stay out of the legend
                "customdata": [[float(x)] for x in v["profit"].fillna(0)],
                "hovertemplate": f"{_esc(offer)}<br>%{{x}}: %{{y:,}} contacts<br>expected profit "
                                 f"{_esc(self.currency)}%{{customdata[0]:,.0f}}<extra></extra>",
            })
        layout = {
            "barmode": "stack", "height": 360, "paper_bgcolor": "white", "plot_bgcolor": "white",
            "font": {"color": "#2a3f5f"},
            "title": {"text": "Planned contacts by channel and offer", "font": {"size": 16}, "x": 0.05},
            "xaxis": {"showgrid": False, "linecolor": grid, "ticks": ""},
            "yaxis": {"title": {"text": "Contacts (holdout not included)"}, "gridcolor": grid, "zerolinecolor": grid,
                      "separatethousands": True},
            "legend": {"title": {"text": "Offer"}}, "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        }
        return {"data": data, "layout": layout}

    def figure(self):
        """Planned contacts per channel, stacked by offer (a plotly Figure)."""
        import plotly.graph_objects as go

        return go.Figure(self.figure_dict())

    def _chart_output(self) -> tuple[dict, ...]:
        fig = dict(self.figure_dict(), config={"responsive": True, "displaylogo": False, "displayModeBar": False})
        return ({"output_type": "display_data", "data": {"application/vnd.plotly.v1+json": fig}, "metadata": {}},)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        state = "error" if self.plan_ is None else f"{self.kpis['contacts']:,} contacts"
        return f"PlanWhatIfApp(inputs={self.inputs}, state={state!r})"
