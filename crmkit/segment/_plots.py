"""Plotly figures of the segmentation results, written for a business reader.

Every figure has a title, axis titles with units, and hover text in plain words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "sizes_figure",
    "profile_heatmap",
    "segment_bars",
    "k_selection_figure",
    "stability_figure",
    "migration_heatmap",
    "migration_sankey",
    "rfm_grid_figure",
]

_BLUE = "#2563eb"
_ORANGE = "#f59e0b"
_GREY = "#9ca3af"
_LAYOUT = {"template": "plotly_white", "margin": {"l": 90, "r": 30, "t": 70, "b": 60}, "font": {"size": 13}}


def _go():
    import plotly.graph_objects as go

    return go


def _wrap(text: str, width: int = 24) -> str:
    """Break a long label into lines of about ``width`` characters (plotly ``<br>``)."""
    words, lines, line = str(text).split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines)


def _title(text: str) -> dict:
    return {"text": text, "x": 0.01, "xanchor": "left", "font": {"size": 17}}


def sizes_figure(summary: pd.DataFrame, *, title: str = "Segment sizes and value shares"):
    """Share of customers and share of revenue per segment (horizontal bars)."""
    go = _go()
    s = summary.iloc[::-1]
    fig = go.Figure()
    s = s.assign(segment=[_wrap(n, 32) for n in s["segment"]])
    fig.add_bar(
        y=s["segment"], x=s["share"], orientation="h", name="Share of customers", marker_color=_GREY,
        text=[f"{v:.0%}" for v in s["share"]], textposition="outside", customdata=s["customers"],
        hovertemplate="%{y}<br>%{customdata:,} customers (%{x:.1%})<extra></extra>",
    )
    fig.add_bar(
        y=s["segment"], x=s["value_share"], orientation="h", name="Share of revenue", marker_color=_BLUE,
        text=[f"{v:.0%}" if np.isfinite(v) else "" for v in s["value_share"]], textposition="outside",
        hovertemplate="%{y}<br>%{x:.1%} of revenue<extra></extra>",
    )
    top = float(np.nanmax([s["share"].max(), s["value_share"].max()])) if len(s) else 1.0
    fig.update_layout(
        **_LAYOUT, title=_title(title), barmode="group", height=max(320, 70 + 52 * len(s)),
        xaxis={"title": {"text": "Share of all customers / of all revenue (%)"}, "tickformat": ".0%",
               "range": [0, min(1.0, top * 1.18 + 0.02)]},
        yaxis={"title": {"text": "Segment"}, "automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return fig


def profile_heatmap(profile, *, title: str | None = None):
    """Features (rows) × segments (columns): standardised effect (colour), segment mean (text)."""
    go = _go()
    eff = profile.effects()
    means = profile.means().drop(index="All customers")
    from crmkit.segment._profile import _fmt

    feats = [f for f in profile.features if f in set(profile.table["feature"])]
    pop = profile.table.drop_duplicates("feature").set_index("feature")["population_mean"]
    z = eff.to_numpy(dtype="float64").T
    text = [[_fmt(f, means.iloc[i, j], profile.currency) for i in range(len(means))] for j, f in enumerate(feats)]
    ylabels = [f"{lab} (all: {_fmt(f, pop[f], profile.currency)})" for lab, f in zip(eff.columns, feats)]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    lim = max(1.0, min(lim, 3.0))
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[_wrap(n, 22) for n in eff.index], y=ylabels, text=text, texttemplate="%{text}", textfont={"size": 12},
            colorscale="RdBu", reversescale=True, zmid=0, zmin=-lim, zmax=lim, xgap=2, ygap=2,
            colorbar={"title": {"text": "Difference<br>from average<br>(std. dev.)"}, "len": 0.6},
            hovertemplate="%{x}<br>%{y}<br>segment: %{text}<br>%{z:+.2f} standard deviations from the average<extra></extra>",
        )
    )
    fig.update_layout(
        **{**_LAYOUT, "margin": {"l": 40, "r": 30, "t": 110, "b": 30}},
        title=_title(title or "Segment profiles: how each segment differs from the average customer"),
        height=max(380, 170 + 30 * len(feats)),
        xaxis={"title": {"text": "Segment (cell: the segment's average)"}, "side": "top", "automargin": True},
        yaxis={"title": {"text": "Feature (all customers' average)"}, "autorange": "reversed", "automargin": True},
    )
    return fig


def segment_bars(profile, segment):
    """One segment's standardised effects, largest first, as horizontal bars."""
    go = _go()
    rows = profile.segment(segment).iloc[::-1]
    name = profile.segments.loc[
        (profile.segments["segment_id"] == segment) | (profile.segments["segment"] == segment), "segment"
    ].iloc[0]
    from crmkit.segment._profile import _fmt

    colors = [_BLUE if e >= 0 else _ORANGE for e in rows["effect"]]
    hover = [
        f"{lab}: {_fmt(f, m, profile.currency)} in the segment vs {_fmt(f, p, profile.currency)} overall"
        for lab, f, m, p in zip(rows["label"], rows["feature"], rows["mean"], rows["population_mean"])
    ]
    fig = go.Figure(
        go.Bar(
            x=rows["effect"], y=rows["label"], orientation="h", marker_color=colors,
            error_x={"type": "data", "array": 1.96 * rows["effect_se"].fillna(0.0), "color": "#6b7280"},
            customdata=hover, hovertemplate="%{customdata}<br>%{x:+.2f} standard deviations<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_color="#374151", line_width=1)
    fig.update_layout(
        **_LAYOUT, title=_title(f"{name} against the average customer"), height=max(340, 90 + 26 * len(rows)),
        xaxis={"title": {"text": "Difference from the average customer (standard deviations, 95% interval)"}},
        yaxis={"title": {"text": ""}, "automargin": True}, showlegend=False,
    )
    return fig


def k_selection_figure(selection):
    """The k-selection criterion against the number of segments."""
    go = _go()
    t = selection.table
    crit = selection.criterion
    label = "Mean silhouette width" if crit == "silhouette" else "BIC"
    legend = ("higher = segments better separated; 95% interval; the fewest segments within one standard error "
              "of the best are chosen") if crit == "silhouette" else "lower = better fit for its size"
    error = {"type": "data", "array": 1.96 * t["silhouette_se"], "color": "#93c5fd"} if crit == "silhouette" else None
    fig = go.Figure(
        go.Scatter(x=t["k"], y=t[crit], mode="lines+markers", line={"color": _BLUE}, name=f"{label} ({legend})",
                   error_y=error, hovertemplate="k = %{x}<br>%{y:.3f}<extra></extra>")
    )
    chosen = t[t["chosen"]]
    fig.add_scatter(x=chosen["k"], y=chosen[crit], mode="markers", marker={"size": 14, "color": _ORANGE, "symbol": "star"},
                    name=f"chosen: k = {selection.k}", hovertemplate="chosen k = %{x}<extra></extra>")
    fig.update_layout(
        **_LAYOUT, title=_title("Choosing the number of segments"), height=380,
        xaxis={"title": {"text": "Number of segments (k)"}, "dtick": 1},
        yaxis={"title": {"text": label}},
        legend={"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0, "xanchor": "left"},
    )
    return fig


def stability_figure(stability, names: dict | None = None):
    """Per-segment stability (mean best Jaccard overlap over bootstrap refits)."""
    go = _go()
    j = stability.jaccard["jaccard"]
    labels = [_wrap(names.get(i, f"Segment {i}") if names else f"Segment {i}", 30) for i in j.index]
    fig = go.Figure(go.Bar(x=j.to_numpy(), y=labels, orientation="h", marker_color=_BLUE,
                           hovertemplate="%{y}<br>mean Jaccard overlap %{x:.2f}<extra></extra>"))
    fig.add_vline(x=0.75, line_dash="dash", line_color="#374151")
    fig.add_annotation(x=0.75, y=1.0, yref="paper", yanchor="bottom", text="stable above 0.75", showarrow=False,
                       font={"size": 12, "color": "#374151"})
    lo, hi = stability.ari_interval
    fig.update_layout(
        **{**_LAYOUT, "margin": {"l": 90, "r": 30, "t": 90, "b": 60}}, height=max(320, 130 + 50 * len(j)),
        title=_title(f"How stable each segment is (refits agree at ARI {stability.ari_mean:.2f}, 95%: {lo:.2f}–{hi:.2f})"),
        xaxis={"title": {"text": "Mean overlap with the best-matching segment of a refit (Jaccard, 0–1)"}, "range": [0, 1]},
        yaxis={"title": {"text": ""}, "autorange": "reversed", "automargin": True},
    )
    return fig


def migration_heatmap(migration):
    """Row shares of the migration matrix: where each earlier segment went."""
    go = _go()
    shares = migration.shares
    counts = migration.counts.loc[shares.index, shares.columns]
    text = [[f"{s:.0%}<br>({c:,})" for s, c in zip(srow, crow)] for srow, crow in zip(shares.to_numpy(), counts.to_numpy())]
    fig = go.Figure(
        go.Heatmap(
            z=shares.to_numpy(dtype="float64"), x=[_wrap(c, 20) for c in shares.columns], y=[_wrap(r, 30) for r in shares.index],
            text=text, texttemplate="%{text}", textfont={"size": 12}, colorscale="Blues", zmin=0, zmax=1, xgap=2, ygap=2,
            colorbar={"title": {"text": "Share of<br>the row"}, "tickformat": ".0%"},
            hovertemplate="%{y} → %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        **{**_LAYOUT, "margin": {"l": 40, "r": 30, "t": 70, "b": 40}},
        title=_title(f"Where customers moved: {migration.from_date:%d %b %Y} → {migration.to_date:%d %b %Y}"),
        height=max(420, 200 + 62 * len(shares)),
        xaxis={"title": {"text": f"Segment on {migration.to_date:%d %b %Y}"}, "tickangle": 0, "automargin": True},
        yaxis={"title": {"text": f"Segment on {migration.from_date:%d %b %Y}"}, "autorange": "reversed", "automargin": True},
    )
    return fig


def migration_sankey(migration, *, min_share: float = 0.0):
    """The flows between the two dates as a Sankey diagram (left: earlier date, right: later)."""
    go = _go()
    counts = migration.counts
    left = list(counts.index)
    right = list(counts.columns)
    labels = [f"{n} ({counts.loc[n].sum():,})" for n in left] + [f"{n} ({counts[n].sum():,})" for n in right]
    src, dst, val = [], [], []
    total = counts.to_numpy().sum()
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            v = int(counts.loc[a, b])
            if v > 0 and v >= min_share * total:
                src.append(i)
                dst.append(len(left) + j)
                val.append(v)
    palette = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c",
               "#4f46e5", "#0d9488", "#9ca3af", "#6b7280"]
    names = list(dict.fromkeys(left + right))
    color_of = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    node_colors = [color_of[n] for n in left] + [color_of[n] for n in right]
    link_colors = [_rgba(color_of[left[s]], 0.35) for s in src]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "color": node_colors, "pad": 14, "thickness": 16,
                  "hovertemplate": "%{label}<extra></extra>"},
            link={"source": src, "target": dst, "value": val, "color": link_colors,
                  "hovertemplate": "%{source.label} → %{target.label}<br>%{value:,} customers<extra></extra>"},
        )
    )
    fig.update_layout(
        **_LAYOUT, height=max(420, 40 * max(len(left), len(right)) + 120),
        title=_title(f"Customer flows between segments: {migration.from_date:%d %b %Y} (left) → {migration.to_date:%d %b %Y} (right)"),
    )
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def rfm_grid_figure(scores: pd.DataFrame, grid: pd.DataFrame):
    """The R × FM grid: each cell's segment name and share of scored customers."""
    go = _go()
    scored = scores.dropna(subset=["R", "FM"])
    n = max(len(scored), 1)
    counts = scored.groupby(["FM", "R"]).size()
    z, text = [], []
    for fm in grid.index:
        zr, tr = [], []
        for r in grid.columns:
            c = int(counts.get((fm, r), 0))
            zr.append(c / n)
            tr.append(f"{grid.loc[fm, r]}<br>{c / n:.1%}")
        z.append(zr)
        text.append(tr)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[str(r) for r in grid.columns], y=[str(f) for f in grid.index], text=text, texttemplate="%{text}",
            textfont={"size": 11}, colorscale="Blues", colorbar={"title": {"text": "Share of<br>customers"}, "tickformat": ".0%"},
            hovertemplate="R %{x}, FM %{y}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        **_LAYOUT, title=_title("RFM grid: segment and share of customers in each score cell"), height=520,
        xaxis={"title": {"text": "Recency score R (5 = ordered most recently)"}},
        yaxis={"title": {"text": "Frequency & monetary score FM (5 = most orders and spend)"}},
    )
    return fig
