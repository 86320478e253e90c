"""Uplift models: who responds *because* of the contact, estimated from a randomised campaign.

Meta-learners on scikit-learn estimators (Künzel et al. 2019; Kennedy 2023):

- ``"t_learner"``: one outcome model per arm; uplift = P(convert | arm, x) − P(convert | control, x).
- ``"x_learner"``: the T-learner's models impute each member's effect (treated:
  ``y − μ_c(x)``, control: ``μ_t(x) − y``); one regression per side on those imputed
  effects; blended with the propensity ``e`` (the arm's share of arm + control members,
  constant in a randomised campaign): ``τ(x) = e·τ_c(x) + (1 − e)·τ_t(x)``.
- ``"dr_learner"``: doubly robust pseudo-outcomes
  ``μ_t − μ_c + T(y − μ_t)/e − (1 − T)(y − μ_c)/(1 − e)`` from outcome models fitted on
  the other half of the data (2-fold cross-fitting), regressed on x.

Default estimators: an L2-penalised logistic regression for outcomes and a ridge
regression for effects, on signed-log, standardised features with median imputation and
missing-value indicators. Uplift is a small difference of two noisy rates, so a
low-variance model ranks customers better than a flexible one unless campaigns are very
large (on the demo world a shallow gradient-boosting T-learner ranked worse); pass
``base_estimator=HistGradientBoostingClassifier(...)`` for non-linear effects.
Fits run with one thread (``threadpoolctl``) so they behave on shared machines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.campaign._data import PRE_PERIOD_COLUMNS
from crmkit.errors import DataValidationError, ParameterError

__all__ = ["UpliftModel", "uplift_dataset", "UPLIFT_FEATURES", "MIN_UPLIFT_MEMBERS"]

#: Members each arm (control included) needs for :meth:`UpliftModel.fit`; fewer raise DataValidationError.
#: Public so a report can check the same threshold before fitting and explain instead of failing.
MIN_UPLIFT_MEMBERS = 20

METHODS = ("t_learner", "x_learner", "dr_learner")

#: Member covariates :func:`uplift_dataset` uses: the pre-period columns of
#: :func:`~crmkit.campaign.campaign_members` (all computed before the campaign start).
UPLIFT_FEATURES = PRE_PERIOD_COLUMNS


def _signed_log(x):
    return np.sign(x) * np.log1p(np.abs(x))


def _prep():
    """Median imputation (with missing-value indicators), signed log, standardisation."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            FunctionTransformer(_signed_log), StandardScaler()]


def _default_classifier(random_state):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(*_prep(), LogisticRegression(C=0.1, max_iter=1000))


def _default_regressor(random_state):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    return make_pipeline(*_prep(), Ridge(alpha=10.0))


def _as_matrix(X, what="X") -> tuple[np.ndarray, list[str] | None]:
    if isinstance(X, pd.DataFrame):
        bad = [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if bad:
            raise DataValidationError(
                f"{what}: expected numeric columns, found non-numeric {', '.join(map(repr, bad))}; encode them first "
                "(e.g. pandas.get_dummies)."
            )
        return X.to_numpy(dtype=float, na_value=np.nan), [str(c) for c in X.columns]
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(f"{what}: expected a numeric matrix.") from None
    if arr.ndim != 2:
        raise DataValidationError(f"{what}: expected a 2-d matrix (rows × features), found {arr.ndim} dimension(s).")
    return arr, None


class UpliftModel:
    """Estimate each customer's uplift (added conversion probability from the contact).

    Parameters
    ----------
    method : {"t_learner", "x_learner", "dr_learner"}
    base_estimator : sklearn classifier, optional
        Outcome model (cloned per arm); needs ``predict_proba``.
    effect_estimator : sklearn regressor, optional
        Effect model of the X- and DR-learners (cloned).
    control : str
        Label of the control arm in ``treatment``.
    random_state : int

    Attributes (after fit)
    ----------------------
    arms_ : list of str
        Treatment arms (not control), sorted.
    propensity_ : dict
        Per arm, its share of arm + control members (the randomised propensity used).
    n_members_ : dict
        Members per arm and control.
    feature_names_ : list of str or None

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.random(4000)})
    >>> t = np.where(rng.random(4000) < 0.5, "treatment", "control")
    >>> y = rng.random(4000) < 0.05 + 0.2 * X["x"] * (t == "treatment")
    >>> model = UpliftModel("t_learner").fit(X, t, y)
    >>> bool(np.corrcoef(model.predict(X), X["x"])[0, 1] > 0.5)
    True
    """

    def __init__(self, method="t_learner", base_estimator=None, effect_estimator=None, *, control="control",
                 random_state=0):
        self.method = method
        self.base_estimator = base_estimator
        self.effect_estimator = effect_estimator
        self.control = control
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _clf(self):
        from sklearn.base import clone

        return clone(self.base_estimator) if self.base_estimator is not None else _default_classifier(self.random_state)

    def _reg(self):
        from sklearn.base import clone

        return clone(self.effect_estimator) if self.effect_estimator is not None else _default_regressor(self.random_state)

    @staticmethod
    def _proba(model, X):
        classes = list(model.classes_)
        if classes == [1.0] or classes == [1]:
            return np.ones(len(X))
        if 1 not in classes and 1.0 not in classes:
            return np.zeros(len(X))
        return model.predict_proba(X)[:, classes.index(1)]

    def _fit_outcome(self, X, y):
        if len(np.unique(y)) < 2:  # every member converted, or none: a constant model
            from sklearn.dummy import DummyClassifier

            return DummyClassifier(strategy="prior").fit(X, y)
        return self._clf().fit(X, y)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, treatment, y):
        """Fit on a randomised campaign's members.

        ``X`` numeric features (DataFrame or matrix, NaN allowed with the default
        estimators), ``treatment`` arm labels incl. ``control``, ``y`` binary outcome.
        """
        from threadpoolctl import threadpool_limits

        if self.method not in METHODS:
            raise ParameterError(f"method: expected one of {', '.join(map(repr, METHODS))}, found {self.method!r}.")
        Xm, names = _as_matrix(X)
        trt = np.asarray(treatment).astype(str)
        yv = pd.to_numeric(pd.Series(np.asarray(y)), errors="coerce").to_numpy(dtype=float)
        if not (len(Xm) == len(trt) == len(yv)):
            raise ParameterError(f"X, treatment, y: expected the same number of rows, found {len(Xm)}, {len(trt)}, {len(yv)}.")
        if np.isnan(yv).any() or not np.isin(yv, [0.0, 1.0]).all():
            first = int(np.flatnonzero(np.isnan(yv) | ~np.isin(yv, [0.0, 1.0]))[0])
            raise DataValidationError(f"y: expected a binary outcome (0/1 or True/False), found {np.asarray(y)[first]!r} at row {first}.")
        labels = sorted(set(trt))
        if self.control not in labels:
            raise ParameterError(f"control: no {self.control!r} in treatment; labels found: {', '.join(map(repr, labels))}.")
        arms = [a for a in labels if a != self.control]
        if not arms:
            raise DataValidationError("treatment: only control members; uplift needs treated members too.")
        counts = {a: int((trt == a).sum()) for a in labels}
        small = [a for a, n in counts.items() if n < MIN_UPLIFT_MEMBERS]
        if small:
            raise DataValidationError(
                f"treatment: arm(s) {', '.join(f'{str(a)!r} ({counts[a]:,})' for a in small)} have fewer than "
                f"{MIN_UPLIFT_MEMBERS} members (MIN_UPLIFT_MEMBERS); too few to model."
            )
        c_mask = trt == self.control
        self.arms_ = arms
        self.n_members_ = counts
        self.feature_names_ = names
        self.propensity_ = {a: counts[a] / (counts[a] + counts[self.control]) for a in arms}
        rng = np.random.default_rng(self.random_state)
        with threadpool_limits(1):
            self.control_model_ = self._fit_outcome(Xm[c_mask], yv[c_mask])
            self.arm_models_, self.effect_models_ = {}, {}
            for arm in arms:
                a_mask = trt == arm
                self.arm_models_[arm] = self._fit_outcome(Xm[a_mask], yv[a_mask])
                if self.method == "x_learner":
                    d_t = yv[a_mask] - self._proba(self.control_model_, Xm[a_mask])
                    d_c = self._proba(self.arm_models_[arm], Xm[c_mask]) - yv[c_mask]
                    self.effect_models_[arm] = (self._reg().fit(Xm[a_mask], d_t), self._reg().fit(Xm[c_mask], d_c))
                elif self.method == "dr_learner":
                    rows = np.flatnonzero(a_mask | c_mask)
                    fold = rng.permutation(len(rows)) % 2
                    phi = np.empty(len(rows))
                    for f in (0, 1):
                        fit_rows, pred_rows = rows[fold != f], rows[fold == f]
                        tt = a_mask[fit_rows]
                        mu_t = self._fit_outcome(Xm[fit_rows][tt], yv[fit_rows][tt])
                        mu_c = self._fit_outcome(Xm[fit_rows][~tt], yv[fit_rows][~tt])
                        e = float(tt.mean())
                        xp, yp, tp = Xm[pred_rows], yv[pred_rows], a_mask[pred_rows].astype(float)
                        mt, mc = self._proba(mu_t, xp), self._proba(mu_c, xp)
                        phi[fold == f] = mt - mc + tp * (yp - mt) / e - (1 - tp) * (yp - mc) / (1 - e)
                    self.effect_models_[arm] = self._reg().fit(Xm[rows], phi)
        return self

    def _check_fitted(self):
        if not hasattr(self, "arms_"):
            raise ParameterError("UpliftModel: call fit(X, treatment, y) before predict.")

    def _predict_arm(self, Xm, arm):
        if self.method == "t_learner":
            return self._proba(self.arm_models_[arm], Xm) - self._proba(self.control_model_, Xm)
        if self.method == "x_learner":
            m_t, m_c = self.effect_models_[arm]
            e = self.propensity_[arm]
            return e * m_c.predict(Xm) + (1 - e) * m_t.predict(Xm)
        return self.effect_models_[arm].predict(Xm)

    def predict(self, X):
        """Estimated uplift per row (probability points: 0.02 = +2 points).

        One treatment arm: a numpy array (n,); several: a DataFrame (n × arms).
        """
        from threadpoolctl import threadpool_limits

        self._check_fitted()
        Xm, names = _as_matrix(X)
        if self.feature_names_ is not None and names is not None and names != self.feature_names_:
            raise DataValidationError(f"X: expected the columns the model was fitted on ({', '.join(self.feature_names_)}), found {', '.join(names)}.")
        with threadpool_limits(1):
            out = {arm: self._predict_arm(Xm, arm) for arm in self.arms_}
        if len(self.arms_) == 1:
            return out[self.arms_[0]]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index)

    def best_arm(self, X) -> pd.Series:
        """The arm with the largest estimated uplift per row; ``control`` when no arm's uplift is positive."""
        pred = self.predict(X)
        frame = pd.DataFrame({self.arms_[0]: pred}, index=X.index if isinstance(X, pd.DataFrame) else None) if len(self.arms_) == 1 else pred
        best = frame.idxmax(axis=1)
        return best.where(frame.max(axis=1) > 0, self.control).rename("best_arm")


def uplift_dataset(data, campaign_id, *, segments=None, features=UPLIFT_FEATURES, pre_period_days: int = 365):
    """Model inputs for one campaign, with features from before its start.

    Returns
    -------
    (X, treatment, y, members)
        ``X``: DataFrame of the numeric ``features`` (index = members' row order);
        ``treatment``: Series of arm labels; ``y``: Series of 0/1 conversions (members with
        a missing outcome are left out); ``members``: the :func:`campaign_members` rows used.
    """
    from crmkit.campaign._data import campaign_members

    members = campaign_members(data, campaign_id, segments=segments, pre_period_days=pre_period_days)
    members = members[members["converted"].notna() & members["group"].notna()].reset_index(drop=True)
    missing = [f for f in features if f not in members.columns]
    if missing:
        raise ParameterError(f"features: campaign members have no column(s) {', '.join(map(repr, missing))}.")
    X = members[list(features)].astype(float)
    return X, members["group"].astype(str), members["converted"].astype(int), members
