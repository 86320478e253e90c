"""Plotly figures of :class:`crmkit.propensity.PropensityEvaluation` (``result.plot(kind)``)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

__all__ = ["reliability", "gains", "lift", "drivers", "roc"]

_BLUE = "#1f77b4"
_GREY = "#7f7f7f"
_RED = "#d62728"
_GREEN = "#2ca02c"


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.3, "x": 0},
        margin={"t": 60},
    )
    return fig


def reliability(res, top: int = 15) -> go.Figure:
    """Observed rate (with Wilson intervals) against the mean predicted probability, per bin."""
    rel = res.reliability
    pred = rel["mean_predicted"] * 100
    obs = rel["observed"] * 100
    hi = max(float(pred.max()), float(rel["observed_high"].max() * 100), 1.0) * 1.05
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", name="perfect calibration",
                             line={"color": _GREY, "dash": "dash"}, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=pred,
            y=obs,
            mode="lines+markers",
            name=f"observed {res.label} rate ({1 - res.alpha:.0%} interval)",
            line={"color": _BLUE},
            error_y={"type": "data", "symmetric": False, "array": rel["observed_high"] * 100 - obs,
                     "arrayminus": obs - rel["observed_low"] * 100},
            customdata=np.column_stack([rel["customers"]]),
            hovertemplate="predicted %{x:.1f}%<br>observed %{y:.1f}%<br>%{customdata[0]:,} customers<extra></extra>",
        )
    )
    return _layout(
        fig,
        f"Reliability: predicted vs observed {res.label} rate (bins of {int(rel['customers'].median()):,} customers)",
        f"Predicted {res.label} probability (%)",
        f"Observed {res.label} rate (%)",
    )


def gains(res, top: int = 15) -> go.Figure:
    """Cumulative share of responders captured against the share of customers targeted."""
    lt = res.lift
    x = np.r_[0.0, lt["cumulative_share"].to_numpy() * 100]
    y = np.r_[0.0, lt["cumulative_gain"].to_numpy() * 100]
    lo = np.r_[0.0, lt["cumulative_gain_low"].to_numpy() * 100]
    up = np.r_[0.0, lt["cumulative_gain_high"].to_numpy() * 100]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.r_[x, x[::-1]], y=np.r_[up, lo[::-1]], fill="toself", mode="lines",
                             line={"width": 0}, fillcolor="rgba(31,119,180,0.2)",
                             name=f"{1 - res.alpha:.0%} interval (bootstrap)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name="model", line={"color": _BLUE},
                             hovertemplate="top %{x:.0f}% of customers<br>%{y:.1f}% of responders<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="random targeting",
                             line={"color": _GREY, "dash": "dash"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[0, res.base_rate * 100, 100], y=[0, 100, 100], mode="lines", name="perfect model",
                             line={"color": _GREEN, "dash": "dot"}, hoverinfo="skip"))
    return _layout(
        fig,
        f"Cumulative gains: {res.label} cases found by targeting the highest scores",
        "Customers targeted, highest scores first (% of all)",
        f"{res.label.capitalize()} cases found (% of all)",
    )


def lift(res, top: int = 15) -> go.Figure:
    """Lift per decile (rate / base rate) with bootstrap intervals."""
    lt = res.lift
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=lt.index.astype(str),
            y=lt["lift"],
            marker_color=_BLUE,
            name=f"lift ({1 - res.alpha:.0%} interval)",
            error_y={"type": "data", "symmetric": False, "array": lt["lift_high"] - lt["lift"],
                     "arrayminus": lt["lift"] - lt["lift_low"]},
            customdata=np.column_stack([lt["customers"], lt["rate"] * 100]),
            hovertemplate="decile %{x}<br>lift %{y:.2f}<br>%{customdata[0]:,} customers, "
            "rate %{customdata[1]:.1f}%<extra></extra>",
        )
    )
    fig.add_hline(y=1.0, line={"color": _GREY, "dash": "dash"}, annotation_text="base rate (lift 1)")
    return _layout(
        fig,
        f"Lift by decile: {res.label} rate relative to the base rate of {res.base_rate:.1%}",
        f"{'Decile' if len(lt) == 10 else 'Group'} of customers by predicted probability (1 = highest)",
        "Lift (× base rate)",
    )


def drivers(res, top: int = 15) -> go.Figure:
    """Permutation importance (drop in ROC AUC) of the top features, coloured by direction."""
    d = res.drivers.head(top).iloc[::-1]
    colours = {"+": _RED, "-": _BLUE, "by category": _GREY, "0": "#c7c7c7"}
    words = {"+": "higher → more likely", "-": "higher → less likely", "by category": "differs by category",
             "0": "no effect"}
    fig = go.Figure()
    for direction, part in d.groupby("direction", sort=False):
        fig.add_trace(
            go.Bar(
                x=part["importance"],
                y=part.index,
                orientation="h",
                marker_color=colours.get(direction, _GREY),
                name=words.get(direction, direction),
                error_x={"type": "data", "array": part["importance_std"]},
                customdata=np.column_stack([part["effect"] * 100]),
                hovertemplate="%{y}<br>AUC drop %{x:.4f}<br>effect %{customdata[0]:+.1f} points<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=list(d.index))
    return _layout(
        fig,
        f"Drivers of the predicted {res.label} probability (permutation importance ± spread)",
        "Drop in ROC AUC when the feature is shuffled",
        "Feature",
    )


def roc(res, top: int = 15) -> go.Figure:
    """ROC curve with the AUC and its interval."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(res.outcome.to_numpy(), res.scores.to_numpy())
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=fpr * 100, y=tpr * 100, mode="lines", line={"color": _BLUE},
                             name=f"model: AUC {res.auc:.3f} [{res.auc_low:.3f}, {res.auc_high:.3f}]"))
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="random (AUC 0.5)",
                             line={"color": _GREY, "dash": "dash"}, hoverinfo="skip"))
    return _layout(
        fig,
        f"ROC curve: {res.label} cases found vs others flagged",
        f"Customers without {res.label} flagged (% of them)",
        f"{res.label.capitalize()} cases found (% of them)",
    )
