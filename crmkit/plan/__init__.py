"""Contact pressure and the contact plan: consent, frequency caps, fatigue, offer × channel
optimisation with HiGHS, and a plan that carries its own holdout.

The rules are data a consultant edits (:class:`ContactPolicy`: channels with cost and
capacity, caps over sliding and calendar windows, quiet periods, offers with weights and
volumes); the plan is the solution of a binary programme solved with HiGHS::

    import crmkit.plan as pl
    policy = pl.ContactPolicy.default()
    cand = pl.candidates(data, policy, as_of="2025-06-30")
    plan = pl.optimize(cand, policy, budget=20_000, start_date="2025-07-01")
    plan.summary(); plan.shadow_prices; plan.to_csv("plan.csv")

Consent and caps are hard guarantees: a customer without a valid consent for a channel,
or with no remaining cap on it, never gets a candidate row on it, and the optimiser only
picks a set of rows whose total message weight fits every customer's remaining cap.
"""

from __future__ import annotations

from crmkit.plan._candidates import DEFAULT_VALUE_TABLE, candidates
from crmkit.plan._eligibility import (
    Eligibility,
    contact_pressure,
    eligibility,
    outbound_history,
)
from crmkit.plan._optimize import Optimizer, prepare
from crmkit.plan._plan import ContactPlan, optimize
from crmkit.plan._policy import ContactPolicy, InfeasiblePolicyError

__all__ = [
    "DEFAULT_VALUE_TABLE",
    "ContactPlan",
    "ContactPolicy",
    "Eligibility",
    "FatigueCurve",
    "InfeasiblePolicyError",
    "Optimizer",
    "candidates",
    "contact_pressure",
    "eligibility",
    "fatigue_curve",
    "optimize",
    "outbound_history",
    "prepare",
]


def __getattr__(name):  # fatigue_curve lives in _fatigue.py (written by plan-ui); import it lazily
    if name in ("fatigue_curve", "FatigueCurve"):
        from crmkit.plan import _fatigue

        return getattr(_fatigue, name)
    raise AttributeError(f"module 'crmkit.plan' has no attribute {name!r}")
