"""Data quality profiling: completeness, uniqueness, validity, freshness, integrity, a score per table.

The rules are the data model's own pandera checks (:func:`crmkit.schema.pandera_schema`:
types, required values, unique keys, allowed values, ranges, patterns) plus a few
quality checks written as pandera checks too (e-mail and phone format, plausible
dates, time order, one consent per customer and channel). Every rule reports how many
rows it checked and how many failed, with masked examples; a table's score is the
mean pass rate of its rules. Rows that :func:`crmkit.io.load` already set aside count
as failures of the rule that set them aside, so a loaded extract and its raw file give
the same picture.

>>> from crmkit import synth
>>> prof = profile(synth.demo_world(300, seed=0).data, as_of="2026-01-01")
>>> int(prof.summary().at["customers", "rows_in"])
300
>>> prof.worst_rules(1)[["table", "column", "rule"]].values.tolist()
[['customers', 'phone', 'phone number']]
>>> prof.to_frame().columns[:6].tolist()
['table', 'column', 'rule', 'category', 'checked', 'failed']

All figures are counts over every row (no sampling), so they carry no sampling error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from crmkit.errors import ParameterError
from crmkit.privacy import mask_value
from crmkit.schema import TABLES, CRMData, pandera_schema

__all__ = ["QualityProfile", "profile", "EMAIL_PATTERN", "EVENT_DATE"]

EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
_UK_POSTCODE = r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"

# The date that says how fresh a table is.
EVENT_DATE = {
    "customers": "created_at",
    "consents": "updated_at",
    "transactions": "ordered_at",
    "interactions": "at",
    "campaigns": "start",
    "campaign_members": "contacted_at",
    "opportunities": "created_at",
    "tickets": "opened_at",
}

# Optional columns where a missing value is a defect (elsewhere it means something:
# an open ticket has no resolved_at, a control member no contacted_at).
_EXPECTED_FILLED = {
    "customers": (
        "first_name", "last_name", "email", "phone", "street", "postcode", "city", "country",
        "birth_date", "region", "acquisition_channel",
    ),
    "transactions": ("category", "sales_channel"),
    "interactions": ("direction", "kind"),
    "campaigns": ("name", "end", "cost_per_contact"),
    "opportunities": ("amount", "owner"),
    "tickets": ("priority", "first_response_at"),
}

_KIND_WORDS = {
    "id": "identifiers (text)", "str": "text", "datetime": "dates and times", "float": "numbers",
    "int": "whole numbers", "bool": "true/false",
}

_CATEGORY_ORDER = ["set aside at load", "integrity", "validity", "uniqueness", "consistency", "completeness"]


@dataclass(frozen=True)
class _Rule:
    table: str
    column: str
    rule: str
    category: str
    description: str


def _schema_rule(table: str, column: str, check_name: str) -> _Rule:
    """Name and describe one of the data model's own checks."""
    spec = TABLES[table].column(column)
    if check_name == "not_nullable":
        return _Rule(table, column, "required", "completeness", f"{column} is required: {spec.expected}")
    if check_name == "field_uniqueness":
        return _Rule(table, column, "unique key", "uniqueness", f"each {column} once")
    if check_name.startswith("dtype"):
        return _Rule(table, column, "type", "validity", f"stored as {_KIND_WORDS[spec.kind]}")
    if check_name.startswith("isin"):
        return _Rule(table, column, "allowed values", "validity", f"one of {', '.join(spec.allowed or ())}")
    if check_name.startswith("str_matches"):
        return _Rule(table, column, "pattern", "validity", f"matches {spec.pattern}")
    if check_name.startswith("greater_than"):
        return _Rule(table, column, "minimum", "validity", f"at least {spec.ge:g}")
    if check_name.startswith("less_than"):
        return _Rule(table, column, "maximum", "validity", f"at most {spec.le:g}")
    if check_name == "not_blank":
        return _Rule(table, column, "not blank", "validity", "an identifier that is not blank")
    return _Rule(table, column, check_name, "validity", check_name)


def _phone_valid(region: str):
    def check(s: pd.Series) -> pd.Series:
        import phonenumbers

        def ok(v: str) -> bool:
            try:
                return phonenumbers.is_valid_number(phonenumbers.parse(v, region))
            except phonenumbers.NumberParseException:
                return False

        values = s.astype("string")
        uniq = pd.unique(values.dropna().to_numpy(dtype=object))
        verdict = {v: ok(v) for v in uniq}
        return values.map(verdict, na_action="ignore").astype("boolean").fillna(True).astype(bool)

    return check


def _quality_checks(table: str, columns, as_of: pd.Timestamp, region: str) -> dict[str, list[tuple[_Rule, pa.Check]]]:
    """Quality checks beyond the data model, per column, as pandera checks (nulls pass: completeness is its own rule)."""
    end = as_of + pd.Timedelta(days=1)
    out: dict[str, list[tuple[_Rule, pa.Check]]] = {}

    def add(column: str, rule: str, category: str, description: str, check: pa.Check) -> None:
        if column in columns:
            out.setdefault(column, []).append((_Rule(table, column, rule, category, description), check))

    if table == "customers":
        add("email", "e-mail format", "validity", "one @ between a name and a domain with a dot, no blanks",
            pa.Check(lambda s: s.str.strip().str.match(EMAIL_PATTERN).fillna(True), name="email_format", ignore_na=True))
        add("phone", "phone number", "validity", f"a valid phone number (phonenumbers, default region {region})",
            pa.Check(_phone_valid(region), name="phone_valid", ignore_na=True))
        if region == "GB":
            add("postcode", "postcode format", "validity", "a UK postcode such as SW1A 1AA",
                pa.Check(lambda s: s.str.strip().str.match(_UK_POSTCODE).fillna(True), name="postcode_format", ignore_na=True))
        for name_col in ("first_name", "last_name"):
            add(name_col, "looks like a name", "validity", "letters, no digits or @",
                pa.Check(lambda s: (s.str.contains(r"[^\W\d_]", regex=True) & ~s.str.contains(r"[\d@]", regex=True)).fillna(True),
                         name="name_like", ignore_na=True))
        lo = as_of - pd.DateOffset(years=120)
        add("birth_date", "plausible birth date", "validity",
            f"between {lo:%Y-%m-%d} and {as_of:%Y-%m-%d}",
            pa.Check(lambda s: ((s >= lo) & (s < end)) | s.isna(), name="birth_plausible", ignore_na=True))
    for col in TABLES[table].columns:
        if col.kind == "datetime" and col.name in columns and col.name != "birth_date":
            add(col.name, "not in the future", "validity", f"on or before {as_of:%Y-%m-%d}",
                pa.Check(lambda s: (s < end) | s.isna(), name="not_future", ignore_na=True))
    return out


def _frame_checks(table: str, df: pd.DataFrame) -> list[tuple[_Rule, pd.Series]]:
    """Consistency rules across columns or rows: (rule, boolean mask of failing rows)."""
    out: list[tuple[_Rule, pd.Series]] = []
    cols = set(df.columns)

    def order(later: str, earlier: str) -> None:
        if {later, earlier} <= cols:
            bad = (df[later] < df[earlier]).fillna(False).astype(bool)
            out.append((_Rule(table, later, f"{later} ≥ {earlier}", "consistency", f"{later} is not before {earlier}"), bad))

    if table == "tickets":
        order("first_response_at", "opened_at")
        order("resolved_at", "opened_at")
    if table == "campaigns":
        order("end", "start")
    if table == "opportunities":
        order("closed_at", "created_at")
        if {"won", "stage"} <= cols:
            won = df["won"].astype("boolean")
            stage = df["stage"].astype("string")
            bad = (won.notna() & ((won == True) != (stage == "closed_won"))).fillna(False).astype(bool)  # noqa: E712
            out.append((_Rule(table, "won", "won matches stage", "consistency", "won is true exactly when stage is closed_won"), bad))
    if table == "campaign_members" and {"group", "contacted_at"} <= cols:
        bad = ((df["group"].astype("string") == "control") & df["contacted_at"].notna()).fillna(False).astype(bool)
        out.append((_Rule(table, "contacted_at", "control not contacted", "consistency", "members of the control group have no contact time"), bad))
    if table == "consents" and {"customer_id", "channel"} <= cols:
        key = df[["customer_id", "channel"]]
        dup = key.duplicated(keep=False).to_numpy()
        out.append((_Rule(table, "channel", "one row per customer and channel", "uniqueness", "each customer × channel once"),
                    pd.Series(key.duplicated(keep="first").to_numpy(), index=df.index)))
        if "granted" in cols and dup.any():
            g = df.loc[dup, ["customer_id", "channel", "granted"]]
            n_states = g.groupby(["customer_id", "channel"], observed=True)["granted"].transform("nunique")
            bad = pd.Series(False, index=df.index)
            bad.loc[g.index] = (n_states > 1).to_numpy()
            out.append((_Rule(table, "granted", "consents agree", "consistency", "rows of one customer × channel do not disagree"), bad))
        else:
            out.append((_Rule(table, "granted", "consents agree", "consistency", "rows of one customer × channel do not disagree"),
                        pd.Series(False, index=df.index)))
    return out


def _key_col(table: str, df: pd.DataFrame) -> str | None:
    spec = TABLES[table]
    for cand in (spec.key, "order_id", "customer_id", "campaign_id"):
        if cand and cand in df.columns:
            return cand
    return None


def _examples(df: pd.DataFrame, table: str, column: str, rows: np.ndarray, n: int = 3) -> tuple[str, str]:
    """Masked example values and the keys of the first failing rows."""
    rows = rows[:n]
    values = []
    if column in df.columns:
        for v in df[column].iloc[rows].tolist():
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                values.append("(missing)")
            else:
                shown = mask_value(v, column)
                values.append(f"{shown:%Y-%m-%d}" if isinstance(shown, pd.Timestamp) else str(shown))
    key = _key_col(table, df)
    keys = [str(k) for k in df[key].iloc[rows].tolist()] if key else []
    return ", ".join(dict.fromkeys(values)), ", ".join(keys)


def _as_of(value) -> pd.Timestamp:
    if value is None or value == "":
        return pd.Timestamp.now().normalize()
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"as_of: expected a date such as '2025-12-31', found {value!r}.") from exc
    if ts.tz is not None:
        raise ParameterError("as_of: expected a timezone-naive date (UTC), found a timezone.")
    return ts.normalize()


@dataclass(frozen=True)
class QualityProfile:
    """What :func:`profile` found.

    Attributes
    ----------
    tables : DataFrame
        One row per table (index ``table``): ``rows_in`` (as read, when a load result
        was profiled), ``rows_used``, ``rows_set_aside``, ``rules``, ``rules_failed``,
        ``clean_row_share`` (share of the rows read that are used and break no
        validity, uniqueness, consistency or integrity rule; a missing optional value
        does not make a row unclean), ``score``
        (0–100, the mean pass rate of the table's rules), ``newest`` and ``age_days``
        (the newest event date and its age at ``as_of``).
    columns : DataFrame
        One row per table and column: ``kind``, ``pii``, ``present``, ``rows``,
        ``completeness``, ``distinct``, ``uniqueness`` (distinct / non-missing),
        ``validity`` (share of non-missing values passing the column's validity rules),
        ``min``, ``max`` (dates and numbers; not shown for personal data), ``newest_age_days``.
    rules : DataFrame
        One row per rule: ``table``, ``column``, ``rule``, ``category`` (set aside at
        load, integrity, validity, uniqueness, consistency, completeness), ``checked``,
        ``failed``, ``pass_rate``, ``description``, ``examples`` (masked values) and
        ``example_keys`` (ids of the first failing rows).
    integrity : DataFrame
        Referential-integrity problems: ``table``, ``column``, ``parent``, ``stage``,
        ``rows``, ``share``, ``example_values`` (references that point nowhere) and
        ``example_keys`` (the rows' own keys); rows set aside at load for a dangling
        reference are included (``stage`` = "set aside at load", else "in the data").
    as_of : Timestamp
        The day freshness and "not in the future" are measured against.
    """

    tables: pd.DataFrame
    columns: pd.DataFrame
    rules: pd.DataFrame
    integrity: pd.DataFrame
    as_of: pd.Timestamp
    source: str = field(default="", compare=False)

    def summary(self) -> pd.DataFrame:
        """The quality score per table, with rows and rules behind it."""
        return self.tables.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per rule (see ``rules``)."""
        return self.rules.copy()

    def worst_rules(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` rules with the most failing rows (ties: the lower pass rate first)."""
        bad = self.rules[self.rules["failed"] > 0]
        return bad.sort_values(["failed", "pass_rate"], ascending=[False, True]).head(n).reset_index(drop=True)

    def plot(self):
        """Bar chart of the quality score per table (plotly figure)."""
        import plotly.graph_objects as go

        t = self.tables.sort_values("score")
        fig = go.Figure(
            go.Bar(
                x=t["score"], y=t.index, orientation="h",
                text=[f"{s:.1f}" for s in t["score"]], textposition="auto",
                customdata=np.column_stack([t["rules"], t["rules_failed"]]),
                hovertemplate="%{y}: score %{x:.1f}<br>%{customdata[1]} of %{customdata[0]} rules with failures<extra></extra>",
            )
        )
        fig.update_layout(
            title="Data quality score per table (mean pass rate of its rules)",
            xaxis_title="Quality score (0–100)", yaxis_title="Table", xaxis_range=[0, 100], height=120 + 40 * len(t),
        )
        return fig


def profile(data, *, as_of=None, default_region: str = "GB") -> QualityProfile:
    """Profile every table of ``data`` and check it against the data model's rules.

    Parameters
    ----------
    data : CRMData or crmkit.io.LoadResult
        The tables to profile. A load result also brings the rows it set aside, which
        count as failures of the rule that set them aside.
    as_of : date-like, optional
        The day freshness and "not in the future" are measured against; default today.
    default_region : str, default "GB"
        Country of phone numbers without a country code (and, for "GB", the postcode format).

    Returns
    -------
    QualityProfile
    """
    load_result = None
    if hasattr(data, "data") and hasattr(data, "report") and isinstance(getattr(data, "data"), CRMData):
        load_result = data
        data = data.data
    if not isinstance(data, CRMData):
        raise ParameterError(f"data: expected CRMData or the result of crmkit.io.load, found {type(data).__name__}.")
    as_of = _as_of(as_of)
    region = str(default_region).upper()
    # positions, not labels: a frame with a repeated index label is still profiled row by row
    tables = {t: df.reset_index(drop=True) for t, df in data.tables().items()}
    if not tables:
        raise ParameterError("data: expected at least one table, found none.")

    rows_in = {t: len(df) for t, df in tables.items()}
    set_aside = {t: 0 for t in tables}
    rule_rows: list[dict] = []
    integrity_rows: list[dict] = []
    if load_result is not None:
        counts = load_result.report.counts.set_index("table")
        for t in tables:
            if t in counts.index:
                rows_in[t] = int(counts.at[t, "rows_in"])
                set_aside[t] = int(counts.at[t, "rows_set_aside"])
        for r in load_result.report.by_reason().itertuples():
            if r.table not in tables:
                continue
            example = "" if r.example is None or pd.isna(r.example) else str(mask_value(r.example, r.column))
            is_ref = "not found in" in str(r.reason)
            rule_rows.append(
                {
                    "table": r.table, "column": r.column or "", "rule": str(r.reason),
                    "category": "set aside at load", "checked": rows_in[r.table], "failed": int(r.rows),
                    "description": "row set aside by crmkit.io.load: " + str(r.reason),
                    "examples": example, "example_keys": "" if r.first_key is None else str(r.first_key),
                }
            )
            if is_ref:
                integrity_rows.append(
                    {
                        "table": r.table, "column": r.column, "parent": str(r.reason).split("not found in ")[-1],
                        "stage": "set aside at load", "rows": int(r.rows), "share": int(r.rows) / max(rows_in[r.table], 1),
                        "example_values": example, "example_keys": "" if r.first_key is None else str(r.first_key),
                    }
                )

    integrity = CRMData(**tables).integrity_problems()
    column_rows: list[dict] = []
    table_rows: list[dict] = []
    for name, df in tables.items():
        spec = TABLES[name]
        n = len(df)
        failing_any = np.zeros(n, dtype=bool)
        table_rules: list[dict] = []
        col_invalid: dict[str, np.ndarray] = {}

        def record(rule: _Rule, bad: np.ndarray, checked: int) -> None:
            nonlocal failing_any
            if rule.category != "completeness":
                failing_any |= bad
            idx = np.flatnonzero(bad)
            examples, keys = _examples(df, name, rule.column, idx) if len(idx) else ("", "")
            table_rules.append(
                {
                    "table": rule.table, "column": rule.column, "rule": rule.rule, "category": rule.category,
                    "checked": checked, "failed": int(len(idx)), "description": rule.description,
                    "examples": examples, "example_keys": keys,
                }
            )

        # the data model's checks and the quality checks, run by pandera in one pass
        schema = pandera_schema(name)
        extra = _quality_checks(name, df.columns, as_of, region)
        rule_of: dict[tuple[str, int], _Rule] = {}
        updates = {}
        for col in spec.columns:
            if col.name not in df.columns:
                continue
            own = list(schema.columns[col.name].checks)
            for i, chk in enumerate(own):
                rule_of[(col.name, i)] = _schema_rule(name, col.name, chk.name or "")
            for j, (rule, chk) in enumerate(extra.get(col.name, [])):
                rule_of[(col.name, len(own) + j)] = rule
            updates[col.name] = {"checks": own + [c for _, c in extra.get(col.name, [])]}
        schema = schema.update_columns(updates) if updates else schema
        failures = pd.DataFrame(columns=["column", "check", "check_number", "index"])
        try:
            schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            failures = err.failure_cases
        masks: dict[tuple[str, str], np.ndarray] = {}
        whole_column_type_failure: set[str] = set()
        pos_of = pd.Series(np.arange(n), index=df.index)
        for fc in failures.itertuples():
            col = fc.column
            if col not in df.columns:
                continue
            check = str(fc.check)
            if check in ("not_nullable", "field_uniqueness") or check.startswith("dtype"):
                key = (col, check.split("(")[0])
            else:
                num = fc.check_number
                key = (col, f"#{int(num)}") if num is not None and not pd.isna(num) else (col, check)
            m = masks.setdefault(key, np.zeros(n, dtype=bool))
            if fc.index is None or pd.isna(fc.index):
                m[:] = True
                if check.startswith("dtype"):
                    whole_column_type_failure.add(col)
            else:
                m[pos_of.loc[fc.index]] = True
        for col in spec.columns:
            if col.name not in df.columns:
                continue
            s = df[col.name]
            non_null = s.notna().to_numpy()
            invalid = np.zeros(n, dtype=bool)
            # type: one rule per column (a whole-column failure marks every row)
            type_rule = _schema_rule(name, col.name, "dtype")
            type_bad = masks.get((col.name, "dtype"), np.zeros(n, dtype=bool))
            record(type_rule, type_bad, n)
            invalid |= type_bad
            if not col.nullable:
                record(_schema_rule(name, col.name, "not_nullable"), masks.get((col.name, "not_nullable"), ~non_null), n)
            if col.unique:
                uniq_bad = masks.get((col.name, "field_uniqueness"), np.zeros(n, dtype=bool))
                # pandera flags every copy; count the copies after the first, as the loader does
                if uniq_bad.any():
                    uniq_bad = (s.duplicated(keep="first") & s.notna()).to_numpy()
                record(_schema_rule(name, col.name, "field_uniqueness"), uniq_bad, n)
            n_checks = len(updates.get(col.name, {}).get("checks", []))
            for i in range(n_checks):
                rule = rule_of[(col.name, i)]
                bad = masks.get((col.name, f"#{i}"), np.zeros(n, dtype=bool)) & non_null
                if col.name in whole_column_type_failure:
                    bad = np.zeros(n, dtype=bool)  # checks cannot run on a column of the wrong type
                record(rule, bad, int(non_null.sum()))
                if rule.category == "validity":
                    invalid |= bad
            if col.nullable and col.name in _EXPECTED_FILLED.get(name, ()):
                record(_Rule(name, col.name, "completeness", "completeness", f"{col.name} is filled in"), ~non_null, n)
            col_invalid[col.name] = invalid
        for rule, bad in _frame_checks(name, df):
            record(rule, bad.to_numpy(bool), n)
        # referential integrity on the data as given
        for col, parent, parent_col in spec.references:
            if col not in df.columns or parent not in tables or parent_col not in tables[parent].columns:
                continue
            reasons = integrity.get(name)
            msg = f"{col} not found in {parent}.{parent_col}"
            bad = np.zeros(n, dtype=bool)
            if reasons is not None:
                hit = reasons.index[reasons == msg]
                bad[pos_of.loc[hit].to_numpy()] = True
            record(_Rule(name, col, f"{col} → {parent}", "integrity", f"every {col} exists in {parent}.{parent_col}"), bad, n)
            if bad.any():
                values, keys = _examples(df, name, col, np.flatnonzero(bad))
                integrity_rows.append(
                    {"table": name, "column": col, "parent": f"{parent}.{parent_col}", "stage": "in the data",
                     "rows": int(bad.sum()), "share": bad.sum() / max(n, 1), "example_values": values, "example_keys": keys}
                )

        rule_rows.extend(table_rules)

        # column profile
        for col in spec.columns:
            present = col.name in df.columns
            row = {"table": name, "column": col.name, "kind": col.kind, "pii": col.pii, "present": present, "rows": n}
            if present and n:
                s = df[col.name]
                nn = int(s.notna().sum())
                distinct = int(s.nunique(dropna=True))
                inv = col_invalid.get(col.name, np.zeros(n, dtype=bool))
                row.update(
                    completeness=nn / n, distinct=distinct, uniqueness=distinct / nn if nn else np.nan,
                    validity=1.0 - inv.sum() / nn if nn else np.nan,
                )
                if col.kind in ("datetime", "float", "int") and not col.pii and col.name not in whole_column_type_failure and nn:
                    row.update(min=s.min(), max=s.max())
                    if col.kind == "datetime":
                        row["newest_age_days"] = float((as_of - pd.Timestamp(s.max()).normalize()).days)
            elif present:
                row.update(completeness=np.nan, distinct=0, uniqueness=np.nan, validity=np.nan)
            else:
                row.update(completeness=0.0, distinct=0, uniqueness=np.nan, validity=np.nan)
            column_rows.append(row)

        rules_t = pd.DataFrame([r for r in rule_rows if r["table"] == name])
        rules_t = rules_t[rules_t["checked"] > 0]
        pass_rate = 1.0 - rules_t["failed"] / rules_t["checked"]
        event = EVENT_DATE.get(name)
        newest = df[event].max() if event in df.columns and n and event not in whole_column_type_failure else pd.NaT
        clean = (n - int(failing_any.sum())) / rows_in[name] if rows_in[name] else np.nan
        table_rows.append(
            {
                "table": name, "rows_in": rows_in[name], "rows_used": n, "rows_set_aside": set_aside[name],
                "rules": int(len(rules_t)), "rules_failed": int((rules_t["failed"] > 0).sum()),
                "clean_row_share": clean, "score": float(100.0 * pass_rate.mean()) if len(rules_t) else np.nan,
                "newest": newest, "age_days": float((as_of - pd.Timestamp(newest).normalize()).days) if pd.notna(newest) else np.nan,
            }
        )

    rules = pd.DataFrame(rule_rows)
    rules["pass_rate"] = np.where(rules["checked"] > 0, 1.0 - rules["failed"] / rules["checked"].clip(lower=1), np.nan)
    rules["category"] = pd.Categorical(rules["category"], categories=_CATEGORY_ORDER, ordered=True)
    order = {t: i for i, t in enumerate(TABLES)}
    rules = rules.sort_values(["table", "category"], key=lambda s: s.map(order) if s.name == "table" else s, kind="stable")
    rules["category"] = rules["category"].astype(str)
    rules = rules[["table", "column", "rule", "category", "checked", "failed", "pass_rate", "description", "examples", "example_keys"]]
    columns = pd.DataFrame(column_rows)
    for c in ("completeness", "distinct", "uniqueness", "validity", "min", "max", "newest_age_days"):
        if c not in columns.columns:
            columns[c] = np.nan
    integrity_df = pd.DataFrame(
        integrity_rows, columns=["table", "column", "parent", "stage", "rows", "share", "example_values", "example_keys"]
    )
    return QualityProfile(
        tables=pd.DataFrame(table_rows).set_index("table"),
        columns=columns.reset_index(drop=True),
        rules=rules.reset_index(drop=True),
        integrity=integrity_df,
        as_of=as_of,
        source=str(getattr(data, "source", "") or ""),
    )
