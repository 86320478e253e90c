"""Validation of raw tables against the data model: coerce, check, set aside, count.

Every row of every table ends in exactly one of two places: the validated table, or
the rejects with the table, its row number (1-based, as read), the column and the reason.
``rows_in == rows_used + rows_set_aside`` holds for every table, always.

>>> import pandas as pd
>>> raw = {"customers": pd.DataFrame({"customer_id": ["c1", "c2"], "created_at": ["2024-01-01", "2024-02-01"]}),
...        "transactions": pd.DataFrame({"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c9", "c2"],
...                                      "ordered_at": ["2024-03-01", "2024-03-02", "2024-03-03"],
...                                      "amount": ["10.5", "3", "N/A"]})}
>>> result = validate(raw)
>>> result.report.line()
'5 rows read: 3 used, 2 set aside (1 table with rejects: transactions).'
>>> for r in result.rejects.itertuples():
...     print(r.table, r.row, r.column, "|", r.reason)
transactions 2 customer_id | customer_id not found in customers.customer_id
transactions 3 amount | expected a number ≥ 0, found 'N/A'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from crmkit.errors import DataValidationError
from crmkit.schema import TABLES, CRMData, ColumnSpec, pandera_schema

__all__ = ["ValidationReport", "ValidationResult", "validate", "validate_table", "REJECT_COLUMNS"]

REJECT_COLUMNS = ["table", "row", "key", "column", "reason", "value"]
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _short(value, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ValidationReport:
    """What loading did to each table: rows in, used and set aside, and why.

    ``counts`` has one row per table (``table, rows_in, rows_used, rows_set_aside``);
    ``reasons`` one row per (table, column, reason) with the number of rows and the
    first row number.
    """

    source: str
    counts: pd.DataFrame
    reasons: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def rows_in(self) -> int:
        return int(self.counts["rows_in"].sum())

    @property
    def rows_used(self) -> int:
        return int(self.counts["rows_used"].sum())

    @property
    def rows_set_aside(self) -> int:
        return int(self.counts["rows_set_aside"].sum())

    @property
    def ok(self) -> bool:
        return self.rows_set_aside == 0

    def summary(self) -> pd.DataFrame:
        """One row per table: rows in, used and set aside."""
        return self.counts.copy()

    def by_reason(self) -> pd.DataFrame:
        """One row per table, column and reason, with the rows it set aside."""
        return self.reasons.copy()

    def line(self) -> str:
        """The whole validation in one sentence a person reads."""
        bad = self.counts.loc[self.counts["rows_set_aside"] > 0, "table"].tolist()
        text = f"{self.rows_in:,} rows read: {self.rows_used:,} used, {self.rows_set_aside:,} set aside"
        if bad:
            noun = "table" if len(bad) == 1 else "tables"
            text += f" ({len(bad)} {noun} with rejects: {', '.join(bad)})."
        else:
            text += "."
        return text

    def messages(self, limit: int = 20) -> list[str]:
        """STYLE.md-form messages, one per (table, column, reason), most rows first."""
        out = []
        rows_in = dict(zip(self.counts["table"], self.counts["rows_in"]))
        for r in self.reasons.sort_values("rows", ascending=False).head(limit).itertuples():
            where = f"{r.table}.{r.column}" if r.column else r.table
            first = f"first: row {r.first_row}" + (f", {r.key_column} {r.first_key!r}" if r.first_key else "")
            found = f", found {r.example!r}" if r.example and r.reason.startswith("expected") else ""
            out.append(
                f"{where}: {r.reason}{found} in {r.rows:,} of {rows_in[r.table]:,} rows ({first}); "
                "these rows were set aside, see the rejects."
            )
        return out

    def __str__(self) -> str:
        parts = [f"Validation of {self.source}", self.line()]
        parts += self.messages()
        parts += list(self.notes)
        return "\n".join(parts)


@dataclass(frozen=True)
class ValidationResult:
    """Validated data, the report and the set-aside rows.

    ``rejects`` has one row per set-aside row (``table, row, key, column, reason,
    value``; the first problem found, all of them in ``reasons``).
    ``rejected_rows`` holds, per table, the raw rows as read with ``_row`` and ``_reason``.
    """

    data: CRMData
    report: ValidationReport
    rejects: pd.DataFrame
    rejected_rows: dict[str, pd.DataFrame] = field(default_factory=dict)


def _is_blank(s: pd.Series) -> pd.Series:
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(s.dtype):
        return s.isna() | (s.astype("string").str.strip() == "")
    return s.isna()


def _coerce(col: ColumnSpec, s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce one raw column to its kind. Returns (values, mask of unparseable non-blank values)."""
    blank = _is_blank(s)
    kind = col.kind
    if kind in ("id", "str"):
        if pd.api.types.is_float_dtype(s.dtype):
            # ids read as numbers (e.g. from Excel): 12.0 -> "12"
            as_int = s.where(s.isna() | (s % 1 != 0), s.astype("Int64", errors="ignore"))
            out = as_int.astype("string")
        else:
            out = s.astype("string")
        out = out.str.strip() if kind == "id" else out
        out = out.mask(blank, pd.NA)
        return out.astype("string"), pd.Series(False, index=s.index)
    if kind == "float":
        out = pd.to_numeric(s.where(~blank), errors="coerce").astype("float64")
        return out, out.isna() & ~blank
    if kind == "int":
        num = pd.to_numeric(s.where(~blank), errors="coerce")
        bad = (num.isna() & ~blank) | (num.notna() & (num % 1 != 0))
        return num.where(~bad).astype("Int64"), bad
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype("boolean"), pd.Series(False, index=s.index)
        text = s.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=s.index, dtype="boolean")
        out[text.isin(_TRUE).fillna(False).to_numpy(bool)] = True
        out[text.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        return out, out.isna() & ~blank
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out = s
            if getattr(s.dtype, "tz", None) is not None:
                out = s.dt.tz_convert("UTC").dt.tz_localize(None)
            return out.astype("datetime64[ns]"), pd.Series(False, index=s.index)
        vals = s.where(~blank)
        out = pd.to_datetime(vals, errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
        # pandas parses e.g. "-5" as the year -5; keep what fits nanosecond time, the rest is unparseable
        in_range = (out >= pd.Timestamp.min) & (out <= pd.Timestamp.max)
        out = out.where(in_range).astype("datetime64[ns]")
        return out, out.isna() & ~blank
    raise AssertionError(kind)  # pragma: no cover


def _key_column(table: str) -> str | None:
    spec = TABLES[table]
    if spec.key:
        return spec.key
    for cand in ("order_id", "customer_id", "campaign_id"):
        if cand in spec.column_names:
            return cand
    return None


def validate_table(table: str, raw: pd.DataFrame, *, source: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce and check one raw table (no cross-table checks).

    Returns ``(clean, rejects)``: the clean rows with canonical dtypes (index reset),
    and one reject row per set-aside row (``REJECT_COLUMNS`` plus ``reasons``).
    A missing required column is a whole-table problem: :class:`DataValidationError`.
    """
    if table not in TABLES:
        raise DataValidationError(f"{table!r} is not a CRM table; expected one of {', '.join(TABLES)}.")
    spec = TABLES[table]
    where = f"{table} ({source})" if source else table
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in spec.required_columns if c not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{where}: expected the required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
            f"found columns {', '.join(raw.columns) if len(raw.columns) else '(none)'}. "
            "Fix: rename the column in the extract or add it."
        )
    n = len(raw)
    raw = raw.reset_index(drop=True)
    row_no = pd.RangeIndex(1, n + 1)
    key_col = _key_column(table)

    problems: list[pd.DataFrame] = []

    def flag(mask: pd.Series, column: str, reason_fn, values: pd.Series | None = None) -> None:
        mask = mask.fillna(False).to_numpy(bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        vals = (values if values is not None else raw[column]).iloc[idx] if column in raw.columns or values is not None else None
        reasons = [reason_fn(v) for v in vals] if vals is not None else [reason_fn(None)] * len(idx)
        problems.append(
            pd.DataFrame(
                {
                    "pos": idx,
                    "column": column,
                    "reason": reasons,
                    "value": [_short(v) for v in vals] if vals is not None else "",
                }
            )
        )

    clean = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        values, unparseable = _coerce(col, raw[col.name])
        flag(unparseable, col.name, lambda v, col=col: f"expected {col.expected}, found {_short(v)!r}")
        if not col.nullable:
            flag(values.isna() & ~unparseable, col.name, lambda v, col=col: f"missing value; expected {col.expected}")
        clean[col.name] = values
    # extra columns pass through untouched
    extra = [c for c in raw.columns if c not in spec.column_names]
    for c in extra:
        clean[c] = raw[c]

    # duplicate keys: keep the first occurrence, set aside the others
    for col in spec.columns:
        if col.unique and col.name in clean.columns:
            dup = clean[col.name].notna() & clean[col.name].duplicated(keep="first")
            if dup.any():
                first_pos = clean.reset_index().groupby(col.name, observed=True)["index"].transform("min")
                flag(
                    dup,
                    col.name,
                    lambda v, col=col: f"duplicate {col.name}; expected each value once",
                )
                problems[-1]["reason"] = [
                    f"duplicate {col.name} (first seen in row {int(first_pos.iloc[p]) + 1}); expected each value once"
                    for p in problems[-1]["pos"]
                ]

    # rule checks (allowed values, ranges, patterns) through pandera, on rows still standing
    bad_pos = set().union(*[set(p["pos"]) for p in problems]) if problems else set()
    candidate = clean.drop(index=list(bad_pos)) if bad_pos else clean
    schema = pandera_schema(table)
    schema = schema.update_columns({c.name: {"unique": False} for c in spec.columns if c.unique and c.name in clean.columns})
    try:
        schema.validate(candidate, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        for (column, check), grp in fc.groupby(["column", "check"], sort=False):
            spec_col = spec.column(column)
            pos = grp["index"].astype(int).to_numpy()
            reason = f"expected {spec_col.expected}"
            problems.append(
                pd.DataFrame(
                    {
                        "pos": pos,
                        "column": column,
                        "reason": [f"{reason}, found {_short(v)!r}" for v in grp["failure_case"]],
                        "value": [_short(v) for v in grp["failure_case"]],
                    }
                )
            )
        if len(err.failure_cases) and err.failure_cases["index"].isna().any():
            whole = err.failure_cases[err.failure_cases["index"].isna()]
            raise DataValidationError(
                f"{where}: " + "; ".join(f"{r.column}: {r.check} failed ({r.failure_case})" for r in whole.itertuples())
            ) from None

    if problems:
        allp = pd.concat(problems, ignore_index=True)
        allp = allp.sort_values("pos", kind="stable")
        firsts = allp.drop_duplicates("pos", keep="first").set_index("pos")
        joined = allp.groupby("pos")["reason"].agg(lambda r: "; ".join(dict.fromkeys(r)))
        rejects = pd.DataFrame(
            {
                "table": table,
                "row": row_no[firsts.index.to_numpy()],
                "key": raw[key_col].iloc[firsts.index.to_numpy()].astype("string").to_numpy() if key_col in raw.columns else pd.NA,
                "column": firsts["column"].to_numpy(),
                "reason": firsts["reason"].to_numpy(),
                "value": firsts["value"].to_numpy(),
                "reasons": joined.loc[firsts.index].to_numpy(),
            }
        )
        keep = np.ones(n, bool)
        keep[firsts.index.to_numpy()] = False
    else:
        rejects = _empty_rejects()
        keep = np.ones(n, bool)
    clean = clean.loc[keep]
    clean.insert(0, "_row", row_no[keep])
    return clean.reset_index(drop=True), rejects


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS + ["reasons"]}).astype({"row": "int64"})


def validate(raw_tables: dict[str, pd.DataFrame], *, source: str = "data") -> ValidationResult:
    """Validate raw tables (by canonical name) into :class:`CRMData`, with rejects and a report.

    Row-level problems set the row aside with its reason; references that point
    nowhere (a transaction for an unknown customer) too. Whole-table problems raise
    :class:`DataValidationError`.
    """
    unknown = [t for t in raw_tables if t not in TABLES]
    if unknown:
        raise DataValidationError(f"{', '.join(unknown)}: not CRM tables; expected names among {', '.join(TABLES)}.")
    cleaned: dict[str, pd.DataFrame] = {}
    rejects: list[pd.DataFrame] = []
    rows_in: dict[str, int] = {}
    for name in TABLES:
        if name not in raw_tables:
            continue
        raw = raw_tables[name]
        rows_in[name] = len(raw)
        clean, rej = validate_table(name, raw, source=source)
        cleaned[name] = clean
        rejects.append(rej)

    # referential integrity on the cleaned tables
    data = CRMData(**{k: v for k, v in cleaned.items()})
    for name, reasons in data.integrity_problems().items():
        table = cleaned[name]
        key_col = _key_column(name)
        bad = table.loc[reasons.index]
        col = reasons.str.split(" ", n=1).str[0]
        rejects.append(
            pd.DataFrame(
                {
                    "table": name,
                    "row": bad["_row"].to_numpy(),
                    "key": bad[key_col].astype("string").to_numpy() if key_col else pd.NA,
                    "column": col.to_numpy(),
                    "reason": reasons.to_numpy(),
                    "value": [_short(bad.at[i, c]) for i, c in zip(bad.index, col)],
                    "reasons": reasons.to_numpy(),
                }
            )
        )
        cleaned[name] = table.drop(index=reasons.index).reset_index(drop=True)

    nonempty = [r for r in rejects if len(r)]
    all_rejects = (
        pd.concat(nonempty, ignore_index=True).sort_values(["table", "row"], kind="stable").reset_index(drop=True)
        if nonempty
        else _empty_rejects()
    )
    rows_out = {}
    rejected_rows: dict[str, pd.DataFrame] = {}
    for name in cleaned:
        rows_out[name] = len(cleaned[name])
        rej = all_rejects[all_rejects["table"] == name]
        if len(rej):
            raw = raw_tables[name].reset_index(drop=True)
            rows = raw.iloc[rej["row"].to_numpy() - 1].copy()
            rows.insert(0, "_reason", rej["reasons"].to_numpy())
            rows.insert(0, "_row", rej["row"].to_numpy())
            rejected_rows[name] = rows.reset_index(drop=True)
        cleaned[name] = cleaned[name].drop(columns="_row")

    counts = pd.DataFrame(
        {
            "table": list(rows_in),
            "rows_in": [rows_in[t] for t in rows_in],
            "rows_used": [rows_out[t] for t in rows_in],
            "rows_set_aside": [int((all_rejects["table"] == t).sum()) for t in rows_in],
        }
    )
    # the invariant this module exists for
    assert (counts["rows_in"] == counts["rows_used"] + counts["rows_set_aside"]).all(), counts
    reasons = _reason_table(all_rejects)
    report = ValidationReport(source=source, counts=counts, reasons=reasons)
    return ValidationResult(
        data=CRMData(**cleaned, source=source), report=report, rejects=all_rejects.drop(columns="reasons"), rejected_rows=rejected_rows
    )


def _reason_table(rejects: pd.DataFrame) -> pd.DataFrame:
    cols = ["table", "column", "reason", "example", "rows", "first_row", "key_column", "first_key"]
    if not len(rejects):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    # group by the reason without the found value, so "found 'x'" and "found 'y'" count together
    r = rejects.assign(reason=rejects["reason"].str.replace(r", found .*$", "", regex=True))
    r = r.sort_values(["table", "row"], kind="stable")
    keys = ["table", "column", "reason"]
    out = r.drop_duplicates(keys).rename(columns={"row": "first_row", "key": "first_key", "value": "example"})
    sizes = r.groupby(keys, sort=False).size()
    out["rows"] = sizes.loc[list(zip(out["table"], out["column"], out["reason"]))].to_numpy()
    out["key_column"] = [_key_column(t) or "" for t in out["table"]]
    out["first_key"] = out["first_key"].astype(object).where(out["first_key"].notna(), None)
    return out.sort_values(["table", "rows"], ascending=[True, False]).reset_index(drop=True)[cols]
