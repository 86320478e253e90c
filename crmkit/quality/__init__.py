"""Data quality and the single customer view.

- :func:`profile` — completeness, uniqueness, validity, freshness and referential
  integrity per table and column, a quality score per table with the rules behind it
  (:mod:`crmkit.quality.profile`, built on the data model's pandera schemas);
- standardisation helpers (:mod:`crmkit.quality.standardise`): phone numbers to E.164,
  e-mail, names, streets and postcodes, as new columns beside the raw ones;
- :func:`find_duplicates` — probabilistic record linkage with splink on DuckDB
  (:mod:`crmkit.quality.duplicates`), :func:`match_quality` against known duplicates;
- :func:`single_customer_view` — golden records by survivorship rules with lineage, and
  every table re-keyed (:mod:`crmkit.quality.golden`).

>>> from crmkit import synth, quality
>>> world = synth.demo_world(400, seed=2)
>>> bool(quality.profile(world.data, as_of="2026-01-01").summary()["score"].between(0, 100).all())
True
"""

from crmkit.quality.duplicates import MATCH_FIELDS, DuplicateModel, DuplicateResult, find_duplicates, match_quality
from crmkit.quality.golden import SURVIVORSHIP, SURVIVORSHIP_RULES, SingleCustomerView, single_customer_view
from crmkit.quality.profile import EVENT_DATE, QualityProfile, profile
from crmkit.quality.standardise import (
    STANDARDISED_COLUMNS,
    first_name_root,
    standardise_customers,
    standardise_email,
    standardise_name,
    standardise_phone,
    standardise_postcode,
    standardise_street,
)

__all__ = [
    "profile",
    "QualityProfile",
    "EVENT_DATE",
    "find_duplicates",
    "DuplicateModel",
    "DuplicateResult",
    "match_quality",
    "MATCH_FIELDS",
    "single_customer_view",
    "SingleCustomerView",
    "SURVIVORSHIP",
    "SURVIVORSHIP_RULES",
    "standardise_customers",
    "standardise_phone",
    "standardise_email",
    "standardise_name",
    "first_name_root",
    "standardise_street",
    "standardise_postcode",
    "STANDARDISED_COLUMNS",
]
