"""The single customer view: golden records by survivorship rules, with lineage, and a merge map.

Each cluster of duplicate records (:func:`crmkit.quality.find_duplicates`) becomes one
golden customer. Its id is the id of the cluster's oldest record (so existing
references to the first relationship stay valid); each field is taken from one of the
cluster's records by a survivorship rule, and the lineage says which:

- ``most_recent`` — the newest record that has a value (newest by ``created_at``, or by
  ``recency_col``);
- ``earliest`` — the oldest record that has a value (a customer is a customer since
  their first record);
- ``most_complete`` — the record with the most personal and contact fields filled in;
- ``most_frequent`` — the value most records agree on (ties: the value of the most
  complete record, then of the oldest — with two records, a name typed again with a typo
  or as a nickname does not replace the one in use longest);
- ``source_priority`` — the record from the most trusted source system (``source_col``,
  ranked by ``source_priority``; ties: the newest).

Every table that refers to customers is re-keyed with the merge map (transactions,
interactions, campaign members, opportunities, tickets keep all their rows). Consents
merge per customer and channel, conservatively: an opt-out on any record of the cluster
wins. Rows are conserved: for every table, rows in = rows out + rows merged.

>>> import pandas as pd
>>> from crmkit.schema import CRMData
>>> customers = pd.DataFrame({
...     "customer_id": ["a", "b", "c"],
...     "email": ["old@x.org", "new@x.org", "c@y.org"],
...     "created_at": pd.to_datetime(["2023-01-01", "2024-06-01", "2024-01-01"])})
>>> consents = pd.DataFrame({"customer_id": ["a", "b"], "channel": ["email", "email"], "granted": [True, False]})
>>> tx = pd.DataFrame({"order_id": ["1", "2"], "customer_id": ["a", "b"],
...                    "ordered_at": pd.to_datetime(["2024-07-01", "2024-08-01"]), "amount": [10.0, 5.0]})
>>> clusters = pd.DataFrame({"customer_id": ["a", "b", "c"], "cluster_id": ["a", "a", "c"]})
>>> scv = single_customer_view(CRMData(customers=customers, consents=consents, transactions=tx), clusters)
>>> scv.data.customers[["customer_id", "email"]].values.tolist()
[['a', 'new@x.org'], ['c', 'c@y.org']]
>>> scv.data.consents["granted"].tolist(), scv.data.transactions["customer_id"].tolist()
([False], ['a', 'a'])
>>> scv.n_merged
1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.schema import TABLES, CRMData

__all__ = ["SingleCustomerView", "single_customer_view", "SURVIVORSHIP", "SURVIVORSHIP_RULES"]

SURVIVORSHIP_RULES = ("most_recent", "earliest", "most_complete", "most_frequent", "source_priority")

# Default rule per customers column; columns not named here use "most_recent".
SURVIVORSHIP = {
    "first_name": "most_frequent",
    "last_name": "most_frequent",
    "email": "most_recent",
    "phone": "most_recent",
    "street": "most_recent",
    "postcode": "most_recent",
    "city": "most_recent",
    "country": "most_recent",
    "birth_date": "most_frequent",
    "created_at": "earliest",
    "region": "most_recent",
    "acquisition_channel": "earliest",
}

_COMPLETENESS_COLUMNS = ("first_name", "last_name", "email", "phone", "street", "postcode", "city", "birth_date")


def _clusters_of(duplicates) -> pd.DataFrame:
    clusters = getattr(duplicates, "clusters", duplicates)
    if not isinstance(clusters, pd.DataFrame):
        raise ParameterError(
            "duplicates: expected the result of crmkit.quality.find_duplicates or a frame with customer_id and "
            f"cluster_id, found {type(duplicates).__name__}."
        )
    missing = [c for c in ("customer_id", "cluster_id") if c not in clusters.columns]
    if missing:
        raise DataValidationError(
            f"duplicates: expected columns customer_id and cluster_id, found {', '.join(map(str, clusters.columns))}."
        )
    out = pd.DataFrame({"customer_id": clusters["customer_id"].astype("string"), "cluster_id": clusters["cluster_id"].astype("string")})
    if out["customer_id"].duplicated().any():
        first = out.loc[out["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise DataValidationError(f"duplicates.customer_id: expected each customer once, found {first!r} more than once.")
    return out


@dataclass(frozen=True, eq=False)
class SingleCustomerView:
    """The golden records and the re-keyed tables, from :func:`single_customer_view`.

    Attributes
    ----------
    data : CRMData
        All tables of the input, customers as golden records and every reference re-keyed.
    merge_map : DataFrame
        One row per input customer record: ``customer_id``, ``golden_id`` and
        ``cluster_size``.
    lineage : DataFrame
        For every golden record merged from two or more records, one row per field:
        ``golden_id``, ``field``, ``rule`` and ``source_customer_id`` (the record the
        value came from; missing when no record had a value).
    row_counts : DataFrame
        Per table: ``rows_in``, ``rows_out``, ``rows_merged`` (rows_in = rows_out + rows_merged).
    rules : dict
        The survivorship rule used for each customers column.
    """

    data: CRMData
    merge_map: pd.DataFrame
    lineage: pd.DataFrame
    row_counts: pd.DataFrame
    rules: dict = field(default_factory=dict)
    before: CRMData | None = field(default=None, repr=False)
    currency: str = "£"

    @property
    def n_merged(self) -> int:
        """Customer records merged away (records in − golden customers out)."""
        rc = self.row_counts.set_index("table")
        return int(rc.at["customers", "rows_merged"])

    def _revenue_figures(self, data: CRMData) -> dict[str, float]:
        tx = data.transactions
        n_customers = len(data.customers)
        if tx is None or "amount" not in tx.columns:
            return {"customers": n_customers}
        buyers = int(tx["customer_id"].nunique())
        revenue = float(tx["amount"].sum())
        return {
            "customers": n_customers,
            "customers who bought": buyers,
            "transactions": int(len(tx)),
            "revenue": revenue,
            "revenue per customer who bought": revenue / buyers if buyers else np.nan,
            "orders per customer who bought": tx["order_id"].nunique() / buyers if buyers else np.nan,
        }

    def summary(self) -> pd.DataFrame:
        """Customers, transactions and revenue per customer before and after the merge."""
        after = self._revenue_figures(self.data)
        before = self._revenue_figures(self.before) if self.before is not None else {k: np.nan for k in after}
        out = pd.DataFrame({"before": pd.Series(before), "after": pd.Series(after)})
        out["change"] = out["after"] - out["before"]
        out["change_share"] = out["change"] / out["before"]
        out.index.name = "figure"
        return out

    def consent_summary(self) -> pd.DataFrame:
        """Per contact channel: consents granted before (records) and after (customers), and opt-outs that won.

        ``opt_outs_won`` counts golden customers whose records disagreed on the channel
        (one granted, one did not): the merge kept the opt-out.
        """
        if self.before is None or self.before.consents is None or self.data.consents is None:
            return pd.DataFrame(columns=["granted_before", "granted_after", "opt_outs_won"])
        before = self.before.consents.copy()
        before["customer_id"] = before["customer_id"].astype("string")
        before["_g"] = before["granted"].astype("boolean").fillna(False).astype(bool)
        golden = before["customer_id"].map(pd.Series(self.merge_map["golden_id"].to_numpy(), index=self.merge_map["customer_id"].to_numpy()))
        before["_golden"] = golden.fillna(before["customer_id"]).to_numpy()
        per = before.groupby(["_golden", "channel"], observed=True)["_g"].agg(["min", "max"])
        won = per[(per["max"]) & (~per["min"])].groupby(level="channel", observed=True).size()
        after = self.data.consents
        out = pd.DataFrame(
            {
                "granted_before": before.groupby("channel", observed=True)["_g"].sum(),
                "granted_after": after.assign(_g=after["granted"].astype("boolean").fillna(False).astype(bool))
                .groupby("channel", observed=True)["_g"].sum(),
            }
        ).fillna(0).astype("int64")
        out["opt_outs_won"] = won.reindex(out.index).fillna(0).astype("int64")
        out.index.name = "channel"
        return out

    def to_frame(self) -> pd.DataFrame:
        """The merge map, indexed by ``customer_id``."""
        return self.merge_map.set_index("customer_id")

    def plot(self):
        """Customers and revenue per buying customer, before and after the merge (plotly figure)."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        s = self.summary()
        fig = make_subplots(
            rows=1, cols=2,
            subplot_titles=("Customers (count)", f"Revenue per customer who bought ({self.currency})"),
        )
        for col, color in (("before", "#9aa5b1"), ("after", "#1f77b4")):
            fig.add_trace(go.Bar(name=col, x=["customers"], y=[s.at["customers", col]], marker_color=color,
                                 legendgroup=col, text=[f"{s.at['customers', col]:,.0f}"], textposition="auto"), row=1, col=1)
            if "revenue per customer who bought" in s.index:
                v = s.at["revenue per customer who bought", col]
                fig.add_trace(go.Bar(name=col, x=["revenue per customer"], y=[v], marker_color=color, legendgroup=col,
                                     showlegend=False, text=[f"{self.currency}{v:,.2f}"], textposition="auto"), row=1, col=2)
        fig.update_layout(title="Effect of the single customer view: before and after merging duplicates", barmode="group")
        fig.update_yaxes(title_text="Customers (count)", row=1, col=1)
        fig.update_yaxes(title_text=f"Revenue per customer ({self.currency})", row=1, col=2)
        return fig


def _pick(members: pd.DataFrame, column: str, rule: str, source_col: str | None, priority: list[str]) -> pd.DataFrame:
    """For each cluster, (value, source record) of ``column`` by ``rule``; members has
    ``cluster_id``, ``customer_id``, ``_recency``, ``_complete`` (and ``source_col``)."""
    keep = ["cluster_id", "customer_id", "_recency", "_complete", column] + ([source_col] if rule == "source_priority" else [])
    have = members.loc[members[column].notna(), list(dict.fromkeys(keep))]
    if rule == "most_frequent":
        counts = have.groupby(["cluster_id", column], observed=True, dropna=False).agg(
            _n=("customer_id", "size"), _best_complete=("_complete", "max"), _first=("_recency", "min")
        ).reset_index()
        counts = counts.sort_values(
            ["cluster_id", "_n", "_best_complete", "_first"], ascending=[True, False, False, True], kind="stable"
        )
        best = counts.drop_duplicates("cluster_id")
        # the source: the most complete, then oldest, record holding the winning value
        src = have.merge(best[["cluster_id", column]], on=["cluster_id", column])
        src = src.sort_values(
            ["cluster_id", "_complete", "_recency", "customer_id"], ascending=[True, False, True, True], kind="stable"
        )
        src = src.drop_duplicates("cluster_id")
        return src[["cluster_id", column, "customer_id"]]
    if rule in ("most_recent", "earliest"):
        asc = rule == "earliest"
        order = have.sort_values(["cluster_id", "_recency", "customer_id"], ascending=[True, asc, asc], kind="stable")
    elif rule == "most_complete":
        order = have.sort_values(["cluster_id", "_complete", "_recency"], ascending=[True, False, False], kind="stable")
    elif rule == "source_priority":
        rank = have[source_col].astype("string").map({s: i for i, s in enumerate(priority)}).astype("float64").fillna(len(priority))
        order = have.assign(_rank=rank.to_numpy()).sort_values(
            ["cluster_id", "_rank", "_recency"], ascending=[True, True, False], kind="stable"
        )
    else:  # pragma: no cover - checked before
        raise AssertionError(rule)
    return order.drop_duplicates("cluster_id")[["cluster_id", column, "customer_id"]]


def single_customer_view(
    data: CRMData,
    duplicates,
    rules: dict | None = None,
    *,
    recency_col: str = "created_at",
    source_col: str | None = None,
    source_priority=None,
    currency: str = "£",
) -> SingleCustomerView:
    """Merge duplicate customer records into golden records and re-key every table.

    Parameters
    ----------
    data : CRMData
        Needs a customers table with ``customer_id``; other tables are re-keyed when present.
    duplicates : DuplicateResult or DataFrame
        The clusters: ``customer_id`` → ``cluster_id``, one row per customer record.
    rules : dict, optional
        Survivorship rule per customers column, overriding :data:`SURVIVORSHIP`
        (one of :data:`SURVIVORSHIP_RULES`).
    recency_col : str, default "created_at"
        The customers column that says which record is newest.
    source_col, source_priority : str and list of str, optional
        For ``source_priority``: the customers column naming each record's source
        system, and the sources from most to least trusted.
    currency : str, default "£"
        Currency of the amounts, for the summary and plot.

    Returns
    -------
    SingleCustomerView
    """
    if not isinstance(data, CRMData) or data.customers is None:
        raise ParameterError("data: expected CRMData with a customers table.")
    customers = data.customers
    if "customer_id" not in customers.columns:
        raise DataValidationError(f"customers: expected a column 'customer_id', found {', '.join(map(str, customers.columns))}.")
    ids = customers["customer_id"].astype("string")
    if ids.isna().any() or ids.duplicated().any():
        raise DataValidationError("customers.customer_id: expected every id present and once; load the data with crmkit.io.load first.")
    if recency_col not in customers.columns:
        raise DataValidationError(f"customers: expected the recency column {recency_col!r}, found {', '.join(map(str, customers.columns))}.")
    chosen = {**SURVIVORSHIP, **(rules or {})}
    for col, rule in chosen.items():
        if rule not in SURVIVORSHIP_RULES:
            raise ParameterError(f"rules[{col!r}]: expected one of {', '.join(SURVIVORSHIP_RULES)}, found {rule!r}.")
    priority = [str(s) for s in (source_priority or [])]
    if "source_priority" in chosen.values():
        if not source_col or source_col not in customers.columns:
            raise ParameterError(
                f"rules: 'source_priority' needs source_col naming a customers column with each record's source system, found {source_col!r}."
            )
        if not priority:
            raise ParameterError("source_priority: give the source systems from most to least trusted, e.g. ['shop', 'crm'].")

    clusters = _clusters_of(duplicates)
    known = set(ids)
    in_clusters = set(clusters["customer_id"])
    if known != in_clusters:
        missing = sorted(known - in_clusters)[:3]
        extra = sorted(in_clusters - known)[:3]
        raise DataValidationError(
            "duplicates: expected one cluster row for every customer record; "
            + (f"{len(known - in_clusters):,} customers have none (first: {', '.join(missing)}) " if missing else "")
            + (f"{len(in_clusters - known):,} clustered ids are not customers (first: {', '.join(extra)})" if extra else "")
            + ". Find duplicates on the same customers table."
        )

    cust = customers.copy()
    cust["customer_id"] = ids.to_numpy()
    cust = cust.merge(clusters, on="customer_id", how="left", validate="one_to_one")
    cust["_recency"] = pd.to_datetime(cust[recency_col], errors="coerce")
    size = cust.groupby("cluster_id")["customer_id"].transform("size")
    cust["cluster_size"] = size.astype("int64")
    # golden id: the cluster's oldest record (ties: the smallest id)
    oldest = cust.sort_values(["cluster_id", "_recency", "customer_id"], kind="stable").drop_duplicates("cluster_id")
    golden_of_cluster = pd.Series(oldest["customer_id"].to_numpy(), index=oldest["cluster_id"].to_numpy())
    cust["golden_id"] = golden_of_cluster.reindex(cust["cluster_id"].to_numpy()).to_numpy()
    merge_map = cust[["customer_id", "golden_id", "cluster_size"]].copy()
    merge_map["golden_id"] = merge_map["golden_id"].astype("string")

    multi = cust[cust["cluster_size"] > 1].copy()
    present = [c for c in _COMPLETENESS_COLUMNS if c in multi.columns]
    multi["_complete"] = multi[present].notna().sum(axis=1) if present else 0
    singles = cust[cust["cluster_size"] == 1]

    value_cols = [c for c in customers.columns if c != "customer_id"]
    cluster_ids = pd.Index(multi["cluster_id"].drop_duplicates().to_numpy())
    golden_cols: dict[str, object] = {}
    lineage_parts = []
    for col in value_cols:
        rule = chosen.get(col, "most_recent")
        picked = _pick(multi, col, rule, source_col, priority).set_index("cluster_id").reindex(cluster_ids)
        golden_cols[col] = picked[col].to_numpy()
        lineage_parts.append(
            pd.DataFrame({"cluster_id": cluster_ids, "field": col, "rule": rule, "source_customer_id": picked["customer_id"].to_numpy()})
        )
    merged_customers = pd.DataFrame(
        {"customer_id": golden_of_cluster.reindex(cluster_ids).to_numpy(), **golden_cols}, columns=["customer_id"] + value_cols
    )
    out_customers = pd.concat([singles[["customer_id"] + value_cols], merged_customers], ignore_index=True)
    for col in customers.columns:
        try:
            out_customers[col] = out_customers[col].astype(customers[col].dtype)
        except (TypeError, ValueError):
            pass
    out_customers["customer_id"] = out_customers["customer_id"].astype(customers["customer_id"].dtype)
    out_customers = out_customers.sort_values("customer_id", kind="stable").reset_index(drop=True)

    lineage = pd.concat(lineage_parts, ignore_index=True) if lineage_parts else pd.DataFrame(
        columns=["cluster_id", "field", "rule", "source_customer_id"]
    )
    lineage.insert(0, "golden_id", golden_of_cluster.reindex(lineage["cluster_id"].to_numpy()).to_numpy())
    lineage = lineage.drop(columns="cluster_id").sort_values(["golden_id", "field"], kind="stable").reset_index(drop=True)
    for c in ("golden_id", "source_customer_id"):
        lineage[c] = lineage[c].astype("string")

    mapping = pd.Series(merge_map["golden_id"].to_numpy(), index=merge_map["customer_id"].to_numpy())
    tables: dict[str, pd.DataFrame] = {"customers": out_customers}
    counts = [{"table": "customers", "rows_in": len(customers), "rows_out": len(out_customers)}]
    for name, df in data.tables().items():
        if name == "customers":
            continue
        if "customer_id" not in df.columns or not any(ref[1] == "customers" for ref in TABLES[name].references):
            tables[name] = df
            counts.append({"table": name, "rows_in": len(df), "rows_out": len(df)})
            continue
        rekeyed = df.copy()
        old = rekeyed["customer_id"].astype("string")
        new = old.map(mapping)  # ids not among the customers (dangling) keep their id
        rekeyed["customer_id"] = new.fillna(old).astype(df["customer_id"].dtype).to_numpy()
        if name == "consents":
            rekeyed = _merge_consents(rekeyed)
        tables[name] = rekeyed
        counts.append({"table": name, "rows_in": len(df), "rows_out": len(rekeyed)})
    row_counts = pd.DataFrame(counts)
    row_counts["rows_merged"] = row_counts["rows_in"] - row_counts["rows_out"]
    if (row_counts["rows_merged"] < 0).any():  # pragma: no cover - an invariant
        raise AssertionError(row_counts)
    if row_counts.set_index("table").at["customers", "rows_out"] != merge_map["golden_id"].nunique():  # pragma: no cover
        raise AssertionError("golden customers do not match the merge map")
    return SingleCustomerView(
        data=CRMData(**tables, source=data.source),
        merge_map=merge_map.reset_index(drop=True),
        lineage=lineage,
        row_counts=row_counts,
        rules={c: chosen.get(c, "most_recent") for c in value_cols},
        before=data,
        currency=currency,
    )


def _merge_consents(consents: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and channel: granted only if every merged row grants (an opt-out wins)."""
    keys = ["customer_id", "channel"]
    if "channel" not in consents.columns or "granted" not in consents.columns:
        return consents
    dup = consents.duplicated(keys, keep=False)
    if not dup.any():
        return consents
    many = consents[dup].copy()
    granted = many["granted"].astype("boolean")
    # missing "granted" counts as not granted: conservative
    many["_g"] = granted.fillna(False).astype(bool).to_numpy()
    state = many.groupby(keys, observed=True)["_g"].transform("min").astype(bool)
    winners = many[many["_g"] == state]
    if "updated_at" in winners.columns:
        winners = winners.sort_values(keys + ["updated_at"], ascending=[True, True, False], na_position="last", kind="stable")
    merged = winners.drop_duplicates(keys).drop(columns="_g")
    out = pd.concat([consents[~dup], merged], ignore_index=True)
    out["granted"] = out["granted"].astype(consents["granted"].dtype)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)
