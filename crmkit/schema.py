"""The CRM data model: eight tables as pandera schemas, the PII marking, ``CRMData``.

Ids are strings, money is a float in one currency, times are timezone-naive UTC.
Every column is declared once in :data:`TABLES`; the pandera schemas, the list of
personal-data columns and the loader's type coercion are all derived from it.

>>> sorted(TABLES)[:3]
['campaign_members', 'campaigns', 'consents']
>>> pii_columns("customers")[:3]
['first_name', 'last_name', 'email']
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterator

import numpy as np
import pandas as pd
import pandera.pandas as pa

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "TABLES",
    "TABLE_NAMES",
    "CONTACT_CHANNELS",
    "TOUCHPOINT_CHANNELS",
    "pii_columns",
    "pandera_schema",
    "CRMData",
]


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a canonical table.

    ``kind`` is one of ``id``, ``str``, ``datetime``, ``float``, ``int``, ``bool``.
    """

    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    pii: bool = False
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    ge: float | None = None
    le: float | None = None
    unique: bool = False
    description: str = ""

    @property
    def expected(self) -> str:
        """What a value of this column must look like, in words."""
        words = {
            "id": "an identifier (text)",
            "str": "text",
            "datetime": "a date or date-time as YYYY-MM-DD[ HH:MM:SS]",
            "float": "a number",
            "int": "a whole number",
            "bool": "true/false (or 1/0, yes/no)",
        }[self.kind]
        if self.ge is not None and self.le is not None:
            words += f" between {self.ge:g} and {self.le:g}"
        elif self.ge is not None:
            words += f" ≥ {self.ge:g}"
        if self.allowed:
            words = "one of " + ", ".join(repr(a) for a in self.allowed)
        if self.pattern:
            words += f" matching {self.pattern}"
        return words


@dataclass(frozen=True)
class TableSpec:
    name: str
    one_row_per: str
    key: str | None
    columns: tuple[ColumnSpec, ...]
    # (column, parent table, parent column) pairs checked by CRMData.
    references: tuple[tuple[str, str, str], ...] = ()

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


C = ColumnSpec
CONTACT_CHANNELS = ("email", "sms", "push", "phone", "post")
TOUCHPOINT_CHANNELS = CONTACT_CHANNELS + ("web", "app", "store")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec(
            "customers",
            "customer",
            "customer_id",
            (
                C("customer_id", "id", unique=True),
                C("first_name", "str", required=False, nullable=True, pii=True),
                C("last_name", "str", required=False, nullable=True, pii=True),
                C("email", "str", required=False, nullable=True, pii=True),
                C("phone", "str", required=False, nullable=True, pii=True),
                C("street", "str", required=False, nullable=True, pii=True),
                C("postcode", "str", required=False, nullable=True),
                C("city", "str", required=False, nullable=True),
                C("country", "str", required=False, nullable=True),
                C("birth_date", "datetime", required=False, nullable=True, pii=True),
                C("created_at", "datetime"),
                C("region", "str", required=False, nullable=True),
                C("acquisition_channel", "str", required=False, nullable=True),
            ),
        ),
        TableSpec(
            "consents",
            "customer × channel",
            None,
            (
                C("customer_id", "id"),
                C("channel", "str", allowed=CONTACT_CHANNELS),
                C("granted", "bool"),
                C("updated_at", "datetime", required=False, nullable=True),
            ),
            references=(("customer_id", "customers", "customer_id"),),
        ),
        TableSpec(
            "transactions",
            "order line or order",
            None,
            (
                C("order_id", "id"),
                C("customer_id", "id"),
                C("ordered_at", "datetime"),
                C("amount", "float", ge=0),
                C("category", "str", required=False, nullable=True),
                C("sales_channel", "str", required=False, nullable=True),
            ),
            references=(("customer_id", "customers", "customer_id"),),
        ),
        TableSpec(
            "interactions",
            "touchpoint",
            "interaction_id",
            (
                C("interaction_id", "id", unique=True),
                C("customer_id", "id"),
                C("at", "datetime"),
                C("channel", "str", allowed=TOUCHPOINT_CHANNELS),
                C("direction", "str", required=False, nullable=True, allowed=("inbound", "outbound")),
                C("kind", "str", required=False, nullable=True),
                C("campaign_id", "id", required=False, nullable=True),
            ),
            references=(
                ("customer_id", "customers", "customer_id"),
                ("campaign_id", "campaigns", "campaign_id"),
            ),
        ),
        TableSpec(
            "campaigns",
            "campaign",
            "campaign_id",
            (
                C("campaign_id", "id", unique=True),
                C("name", "str", required=False, nullable=True),
                C("channel", "str", allowed=CONTACT_CHANNELS),
                C("offer", "str", required=False, nullable=True),
                C("start", "datetime"),
                C("end", "datetime", required=False, nullable=True),
                C("cost_per_contact", "float", required=False, nullable=True, ge=0),
            ),
        ),
        TableSpec(
            "campaign_members",
            "customer in a campaign",
            None,
            (
                C("campaign_id", "id"),
                C("customer_id", "id"),
                # "control", "treatment", or a named treatment arm "treatment_<arm>".
                C("group", "str", pattern=r"^(control|treatment(_\w+)?)$"),
                C("contacted_at", "datetime", required=False, nullable=True),
                C("converted", "bool"),
                C("revenue", "float", required=False, nullable=True, ge=0),
            ),
            references=(
                ("customer_id", "customers", "customer_id"),
                ("campaign_id", "campaigns", "campaign_id"),
            ),
        ),
        # One row per opportunity, in its current stage. The optional stage-history columns
        # make stage-to-stage conversion and time in stage measurable without a history
        # table: the lead stage is entered at ``created_at``; ``qualified_at``,
        # ``proposal_at`` and ``negotiation_at`` hold when the opportunity entered that stage
        # (null: never entered, or not recorded); ``lost_at_stage`` names the open stage an
        # opportunity was lost from (null unless ``stage`` is ``closed_lost``). A won or lost
        # opportunity closes at ``closed_at``. ``lead_source`` says where the lead came from.
        TableSpec(
            "opportunities",
            "sales opportunity",
            "opportunity_id",
            (
                C("opportunity_id", "id", unique=True),
                C("customer_id", "id"),
                C(
                    "stage",
                    "str",
                    allowed=("lead", "qualified", "proposal", "negotiation", "closed_won", "closed_lost"),
                ),
                C("created_at", "datetime", description="when the opportunity was opened (entered the lead stage)"),
                C("closed_at", "datetime", required=False, nullable=True),
                C("amount", "float", required=False, nullable=True, ge=0),
                C("won", "bool", required=False, nullable=True),
                C("owner", "str", required=False, nullable=True),
                C("lead_source", "str", required=False, nullable=True, description="where the lead came from"),
                C("qualified_at", "datetime", required=False, nullable=True, description="when it entered qualified"),
                C("proposal_at", "datetime", required=False, nullable=True, description="when it entered proposal"),
                C(
                    "negotiation_at",
                    "datetime",
                    required=False,
                    nullable=True,
                    description="when it entered negotiation",
                ),
                C(
                    "lost_at_stage",
                    "str",
                    required=False,
                    nullable=True,
                    allowed=("lead", "qualified", "proposal", "negotiation"),
                    description="the open stage a lost opportunity was lost from",
                ),
            ),
            references=(("customer_id", "customers", "customer_id"),),
        ),
        TableSpec(
            "tickets",
            "service case",
            "ticket_id",
            (
                C("ticket_id", "id", unique=True),
                C("customer_id", "id"),
                C("opened_at", "datetime"),
                C("first_response_at", "datetime", required=False, nullable=True),
                C("resolved_at", "datetime", required=False, nullable=True),
                C("priority", "str", required=False, nullable=True, allowed=("low", "medium", "high", "urgent")),
                C("csat", "int", required=False, nullable=True, ge=1, le=5),
            ),
            references=(("customer_id", "customers", "customer_id"),),
        ),
    ]
}
del C

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

# pandas dtypes the loader coerces each kind to.
DTYPES = {
    "id": "string",
    "str": "string",
    "datetime": "datetime64[ns]",
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
}


def pii_columns(table: str) -> list[str]:
    """Columns of ``table`` that hold personal data (names, e-mail, phone, street, birth date)."""
    return [c.name for c in TABLES[table].columns if c.pii]


def _checks(col: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if col.allowed:
        checks.append(pa.Check.isin(list(col.allowed)))
    if col.pattern:
        checks.append(pa.Check.str_matches(col.pattern))
    if col.ge is not None:
        checks.append(pa.Check.ge(col.ge))
    if col.le is not None:
        checks.append(pa.Check.le(col.le))
    if col.kind in ("id",):
        checks.append(pa.Check(lambda s: s.str.strip().str.len() > 0, element_wise=False, name="not_blank"))
    return checks


def pandera_schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a canonical table (on already-coerced dtypes).

    Personal-data columns carry ``metadata={"pii": True}``.
    """
    spec = TABLES[table]
    columns = {
        c.name: pa.Column(
            DTYPES[c.kind],
            checks=_checks(c),
            nullable=c.nullable,
            required=c.required,
            unique=c.unique,
            description=c.description or None,
            metadata={"pii": c.pii},
        )
        for c in spec.columns
    }
    return pa.DataFrameSchema(columns, name=table, strict=False, coerce=False)


def _dangling(child: pd.Series, parent: pd.Series) -> np.ndarray:
    """Mask of non-null ``child`` values absent from ``parent`` (a hash anti-join in DuckDB;
    pandas' ``isin`` on Arrow strings is several times slower at a million rows)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        con.register("child", pd.DataFrame({"v": child.astype("string").to_numpy(), "i": np.arange(len(child))}))
        con.register("parent", pd.DataFrame({"v": parent.astype("string").dropna().to_numpy()}))
        rows = con.execute(
            "SELECT i FROM child WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parent WHERE parent.v = child.v)"
        ).fetchnumpy()["i"]
    finally:
        con.close()
    mask = np.zeros(len(child), dtype=bool)
    mask[np.asarray(rows, dtype=np.int64)] = True
    return mask


@dataclass
class CRMData:
    """The container of the canonical tables; any table may be missing (``None``).

    Build it from validated frames (``crmkit.io.load`` does) or from frames you trust.
    :meth:`integrity_problems` lists rows whose references point nowhere.
    """

    customers: pd.DataFrame | None = None
    consents: pd.DataFrame | None = None
    transactions: pd.DataFrame | None = None
    interactions: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    campaign_members: pd.DataFrame | None = None
    opportunities: pd.DataFrame | None = None
    tickets: pd.DataFrame | None = None
    source: str | None = field(default=None, compare=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables that are present, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in TABLES and getattr(self, f.name) is not None}

    def __iter__(self) -> Iterator[tuple[str, pd.DataFrame]]:
        return iter(self.tables().items())

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a CRM table; tables are {', '.join(TABLES)}")
        table = getattr(self, name)
        if table is None:
            raise KeyError(f"table {name!r} is not in this CRMData")
        return table

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={len(t):,} rows" for n, t in self.tables().items())
        return f"CRMData({parts})"

    def row_counts(self) -> dict[str, int]:
        return {n: len(t) for n, t in self.tables().items()}

    def integrity_problems(self) -> dict[str, pd.Series]:
        """For each table, a boolean mask of rows whose references point nowhere, with reasons.

        Returns ``{table: Series of reason strings}`` indexed like the table, holding
        only offending rows. A reference column that is null is not a problem (optional link).
        A reference to a table that is absent is not checked.
        """
        out: dict[str, pd.Series] = {}
        for name, table in self.tables().items():
            reasons = pd.Series(pd.NA, index=table.index, dtype="string")
            for col, parent, parent_col in TABLES[name].references:
                parent_df = getattr(self, parent)
                if col not in table.columns or parent_df is None or parent_col not in parent_df.columns:
                    continue
                bad = pd.Series(_dangling(table[col], parent_df[parent_col]), index=table.index)
                msg = f"{col} not found in {parent}.{parent_col}"
                reasons = reasons.mask(bad & reasons.isna(), msg)
            reasons = reasons.dropna()
            if len(reasons):
                out[name] = reasons
        return out
