"""Behavioural clustering: k-means or a Gaussian mixture, k chosen by silhouette / BIC.

Customers with at least one order are clustered on a chosen set of features, each put
on a log scale where that makes sense and then standardised (:class:`LogScaler`).
Customers without orders carry too little behaviour to place and form the segment
``"No orders yet"`` (id 0); they are set aside, never dropped. Segments are numbered by
value: segment 1 has the highest mean revenue.

>>> from crmkit.segment._cluster import ClusterSegmentation
>>> ClusterSegmentation(method="kmeans", k=3).get_params()["k"]
3
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError, ParameterError
from crmkit.segment._features import LogScaler, check_features, resolve_features, with_repeat_rate
from crmkit.segment._rfm import NO_ORDERS

__all__ = ["ClusterSegmentation", "KSelection", "Stability", "choose_k", "METHODS"]

#: Clustering methods: label shown to people.
METHODS = {"kmeans": "k-means", "gmm": "Gaussian mixture"}


def _check_method(method) -> str:
    if method not in METHODS:
        raise ParameterError(f"method: expected one of {', '.join(map(repr, METHODS))}, found {method!r}.")
    return method


def _check_k(k, k_range) -> int | str:
    if isinstance(k, str):
        text = k.strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            k = int(text)
        else:
            raise ParameterError(f"k: expected a whole number of segments ≥ 2 or 'auto', found {k!r}.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ParameterError(f"k: expected a whole number of segments ≥ 2 or 'auto', found {k!r}.")
    return int(k)


def _check_k_range(k_range) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(k) for k in k_range}))
    except (TypeError, ValueError):
        raise ParameterError(f"k_range: expected whole numbers ≥ 2, found {k_range!r}.") from None
    if len(ks) == 2 and ks[1] - ks[0] > 1 and not isinstance(k_range, range):
        ks = tuple(range(ks[0], ks[1] + 1))  # (2, 8) means 2..8
    if not ks or ks[0] < 2:
        raise ParameterError(f"k_range: expected whole numbers ≥ 2, found {k_range!r}.")
    return ks


# Defaults that depend on the method: customers a model is fitted on (k-means: then
# polished on everyone) and customers per bootstrap refit. Measured on 100,000 demo
# customers, one thread: k-means on 100k takes 1-2 s; a full-covariance mixture 4 s on
# 20k and 18 s on 50k.
_FIT_SAMPLE = {"kmeans": 100_000, "gmm": 20_000}
_BOOTSTRAP_SIZE = {"kmeans": 20_000, "gmm": 5_000}
# Variance added to the mixture's covariances, on standardised features: no component
# narrower than 0.1 standard deviations. Smaller floors let components collapse onto
# the lattice of whole order counts or onto shares that sum to one, and BIC then keeps
# rewarding more components (seen on a planted three-segment table: BIC chose 8).
_REG_COVAR = 1e-2


def _fit_model(
    z: np.ndarray, method: str, k: int, random_state, *, fit_sample: int, minibatch_above: int | None = None,
    n_init: int = 4,
):
    """Fit k-means or a Gaussian mixture on ``z`` (rows already in a canonical order).

    k-means on more than ``fit_sample`` rows is fitted on a seeded sample of that size
    and then polished with Lloyd iterations on all rows from the sample's centres: as
    good as a fit on all rows, at a fraction of the time. ``minibatch_above`` switches
    to ``MiniBatchKMeans`` above that many rows instead (faster, but on the demo world it
    reached a 3% higher inertia and refits agreed at ARI 0.4-0.5 only, so it is off by
    default). A mixture is fitted on at most ``fit_sample`` rows.
    """
    n = len(z)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        if minibatch_above is not None and n > minibatch_above:
            from sklearn.cluster import MiniBatchKMeans

            return MiniBatchKMeans(
                n_clusters=k, batch_size=8192, n_init=n_init, max_no_improvement=30, random_state=random_state
            ).fit(z)
        if n > fit_sample:
            idx = _subsample(n, fit_sample, np.random.default_rng(random_state))
            start = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(z[idx])
            return KMeans(n_clusters=k, init=start.cluster_centers_, n_init=1, random_state=random_state).fit(z)
        return KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(z)
    from sklearn.mixture import GaussianMixture

    if n > fit_sample:
        z = z[_subsample(n, fit_sample, np.random.default_rng(random_state))]
    return GaussianMixture(
        n_components=k, covariance_type="full", reg_covar=_REG_COVAR, max_iter=200, n_init=max(1, n_init // 2),
        random_state=random_state,
    ).fit(z)


def _threads(n_threads):
    """Limit scikit-learn's OpenMP/BLAS threads for a block (``None``: leave as is).

    On a busy shared machine, k-means with one thread per core oversubscribes the CPU and
    runs many times slower (measured: 25x on 600 customers, 3x on 100,000 with a load
    of 6 on 2 cores), so crmkit defaults to one thread.
    """
    import contextlib

    if n_threads is None:
        return contextlib.nullcontext()
    # threadpoolctl limits only the thread pools already loaded: import k-means' OpenMP
    # extension first (imported lazily inside the block, it ran unlimited: 40 s instead of 3).
    import sklearn.cluster  # noqa: F401
    import sklearn.mixture  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n_threads))


def _subsample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class KSelection:
    """The choice of the number of segments: the criterion for each k, and the k chosen.

    ``table`` has one row per k: ``silhouette`` and ``silhouette_se`` (mean silhouette
    width on a sample and its standard error; higher is better; k-means' criterion, with
    the one-standard-error rule), ``inertia`` (k-means: within-segment sum of squares)
    or ``bic`` (Gaussian mixture: Bayesian information criterion; lower is better, the
    mixture's criterion), and ``chosen``.
    """

    method: str
    criterion: str
    k: int
    table: pd.DataFrame
    n_customers: int
    sample_size: int

    def summary(self) -> pd.DataFrame:
        """One row per k with the criteria, the chosen k marked."""
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def describe(self) -> str:
        span = f"k = {self.table['k'].min()}–{self.table['k'].max()}"
        used = f"{self.sample_size:,} of {self.n_customers:,} customers with orders used to compare"
        if self.criterion == "silhouette":
            return (f"{self.k} segments: the fewest whose mean silhouette width is within one standard error of the "
                    f"best among {span} ({used}).")
        return f"{self.k} segments: the lowest BIC among {span} ({used})."

    def plot(self):
        """The criterion against k, the chosen k marked (plotly Figure)."""
        from crmkit.segment._plots import k_selection_figure

        return k_selection_figure(self)


@dataclass(frozen=True)
class Stability:
    """How stable a segmentation is: refits on bootstrap samples compared with the fit.

    ``ari`` holds, per refit, the adjusted Rand index between the refit's assignment and
    the fitted one on the same customers (1 = identical, 0 = chance). ``jaccard`` holds,
    per segment, the mean over refits of the best Jaccard overlap with a refit segment
    (Hennig's cluster-wise stability; above 0.75 is usually read as stable, below 0.5 as
    dissolving).
    """

    n_bootstrap: int
    sample_size: int
    ari: np.ndarray
    jaccard: pd.DataFrame

    @property
    def ari_mean(self) -> float:
        return float(np.mean(self.ari))

    @property
    def ari_interval(self) -> tuple[float, float]:
        """The middle 95% of the refits' ARI (2.5th and 97.5th percentiles)."""
        lo, hi = np.percentile(self.ari, [2.5, 97.5])
        return float(lo), float(hi)

    @property
    def ari_se(self) -> float:
        return float(np.std(self.ari, ddof=1) / math.sqrt(len(self.ari))) if len(self.ari) > 1 else float("nan")

    def summary(self) -> pd.DataFrame:
        lo, hi = self.ari_interval
        return pd.DataFrame(
            {
                "refits": [self.n_bootstrap],
                "sample_size": [self.sample_size],
                "ari_mean": [self.ari_mean],
                "ari_se": [self.ari_se],
                "ari_low": [lo],
                "ari_high": [hi],
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per refit: its ARI against the fitted segmentation."""
        return pd.DataFrame({"refit": np.arange(1, len(self.ari) + 1), "ari": self.ari})

    def describe(self) -> str:
        lo, hi = self.ari_interval
        return (
            f"Refitted on {self.n_bootstrap} bootstrap samples of {self.sample_size:,} customers, the segments agree "
            f"with these at an adjusted Rand index of {self.ari_mean:.2f} on average "
            f"(middle 95% of refits: {lo:.2f}–{hi:.2f}; 1 = identical, 0 = chance)."
        )

    def plot(self):
        from crmkit.segment._plots import stability_figure

        return stability_figure(self)


def choose_k(
    z: np.ndarray,
    method: str = "kmeans",
    k_range=(3, 8),
    *,
    random_state=0,
    sample_size: int = 4_000,
    n_threads: int | None = 1,
) -> KSelection:
    """Compare numbers of segments on standardised features ``z``.

    k-means: fit each k on a sample of at most ``sample_size`` customers and compute the
    mean silhouette width with its standard error; pick the fewest segments whose mean
    silhouette is within one standard error of the highest (the one-standard-error rule:
    smaller differences are sampling noise). Inertia is shown beside it. Gaussian
    mixture: pick the lowest BIC on the same sample. Seeded by ``random_state``; ``n_threads`` limits
    scikit-learn's threads (``None``: its default, one per core).
    """
    with _threads(n_threads):
        return _choose_k(z, method, k_range, random_state=random_state, sample_size=sample_size)


def _choose_k(z, method, k_range, *, random_state, sample_size) -> KSelection:
    method = _check_method(method)
    ks = _check_k_range(k_range)
    from sklearn.metrics import silhouette_samples

    z = np.asarray(z, dtype="float64")
    rng = np.random.default_rng(random_state)
    idx = _subsample(len(z), sample_size, rng)
    zs = z[idx]
    if len(zs) <= ks[-1]:
        raise DataValidationError(
            f"customer features: choosing among {ks[0]}–{ks[-1]} segments needs more than {ks[-1]} customers "
            f"with orders, found {len(zs)}."
        )
    rows = []
    for k in ks:
        model = _fit_model(zs, method, k, random_state, fit_sample=len(zs), n_init=2)
        labels = model.predict(zs)
        if len(set(labels)) > 1:
            widths = silhouette_samples(zs, labels)
            sil, sil_se = float(widths.mean()), float(widths.std(ddof=1) / math.sqrt(len(widths)))
        else:
            sil, sil_se = float("nan"), float("nan")
        row = {"k": k, "silhouette": sil, "silhouette_se": sil_se}
        if method == "kmeans":
            row["inertia"] = float(model.inertia_) if hasattr(model, "inertia_") else float("nan")
        else:
            row["bic"] = float(model.bic(zs))
        rows.append(row)
    table = pd.DataFrame(rows)
    criterion = "silhouette" if method == "kmeans" else "bic"
    if criterion == "silhouette":
        # one-standard-error rule: the fewest segments whose silhouette is within one
        # standard error of the best (differences smaller than that are sampling noise)
        top = table.loc[table["silhouette"].idxmax()]
        close = table[table["silhouette"] >= top["silhouette"] - top["silhouette_se"]]
        best = int(close["k"].min())
    else:
        best = int(table.loc[table[criterion].idxmin(), "k"])
    table["chosen"] = table["k"] == best
    return KSelection(method=method, criterion=criterion, k=best, table=table, n_customers=len(z), sample_size=len(zs))


def _jaccard_best(ref: np.ndarray, other: np.ndarray, ids) -> dict:
    out = {}
    for c in ids:
        a = ref == c
        if not a.any():
            out[c] = float("nan")
            continue
        best = 0.0
        for d in np.unique(other[a]):
            b = other == d
            inter = np.count_nonzero(a & b)
            best = max(best, inter / np.count_nonzero(a | b))
        out[c] = best
    return out


# --------------------------------------------------------------------------- the estimator
class ClusterSegmentation:
    """Segments from behaviour: k-means or a Gaussian mixture on standardised customer features.

    Parameters
    ----------
    method : {"kmeans", "gmm"}
        k-means (scikit-learn ``KMeans``) or a Gaussian mixture with full covariances.
    k : int or "auto"
        Number of segments; ``"auto"`` chooses among ``k_range`` by silhouette (k-means)
        or BIC (mixture), see :func:`choose_k`.
    features : str or list of str
        A feature set of :data:`crmkit.segment.FEATURE_SETS` (``"rfm"``, ``"behaviour"``,
        ``"full"``) or column names of the customer features.
    k_range : tuple of int, default (3, 8)
        Smallest and largest k tried by ``k="auto"``.
    n_bootstrap : int, default 20
        Refits on bootstrap samples for the stability figures (0 to skip).
    bootstrap_size : int, optional
        Customers per bootstrap sample (drawn with replacement; all customers if fewer).
        Default 20,000 for k-means, 5,000 for the mixture.
    names : dict or list, optional
        Segment names that replace the suggested ones: ``{segment_id: name}`` or a list
        in segment order.
    random_state : int, default 0
        Seeds every draw: k-means initialisation, samples, bootstrap.
    fit_sample : int, optional
        k-means on more customers is fitted on a seeded sample of this many and then
        polished on everyone (default 100,000); the mixture is fitted on a sample of
        this many and then assigns everyone (default 20,000).
    minibatch_above : int, optional
        Use ``MiniBatchKMeans`` above this many customers. Off by default: on the demo
        world it reached a worse optimum and was less stable than the sampled fit.
    currency : str, default "£"
        Shown with money in the profiles.
    prior_orders : float, default 2.0
        Category and channel shares are shrunk towards the average mix as if each
        customer had this many more orders of it (see :class:`LogScaler`), so that a
        customer's one or two orders do not decide their segment; 0 turns it off.
    n_threads : int or None, default 1
        Threads scikit-learn may use while fitting and predicting; ``None`` leaves its
        default (one per core), which is faster on an idle machine and much slower on a
        busy shared one.

    Attributes
    ----------
    features_ : tuple of str
        The feature columns used.
    k_ : int
        Number of segments fitted.
    k_selection_ : KSelection or None
        The comparison of k (only with ``k="auto"``).
    labels_ : pandas.Series
        Segment id of every fitted customer (0 = no orders yet), indexed by customer_id.
    segment_names_ : pandas.Series
        Segment id → name (suggested from the profiles, or given).
    profile_ : SegmentProfile
        Sizes, value shares and feature means of the fitted segments.
    stability_ : Stability or None
        Bootstrap stability of the fitted segmentation.
    scaler_, model_ :
        The fitted :class:`LogScaler` and scikit-learn model.
    converged_ : bool
        Whether the final fit converged (scikit-learn also warns when it did not).
    n_customers_, n_clustered_ : int
        Customers fitted, and of them those with an order (clustered).
    """

    def __init__(
        self,
        method: str = "kmeans",
        k="auto",
        features="behaviour",
        *,
        k_range=(3, 8),
        n_bootstrap: int = 20,
        bootstrap_size: int | None = None,
        names=None,
        random_state=0,
        minibatch_above: int | None = None,
        fit_sample: int | None = None,
        currency: str = "£",
        n_threads: int | None = 1,
        prior_orders: float = 2.0,
    ):
        self.method = method
        self.k = k
        self.features = features
        self.k_range = k_range
        self.n_bootstrap = n_bootstrap
        self.bootstrap_size = bootstrap_size
        self.names = names
        self.random_state = random_state
        self.minibatch_above = minibatch_above
        self.fit_sample = fit_sample
        self.currency = currency
        self.n_threads = n_threads
        self.prior_orders = prior_orders

    def get_params(self, deep: bool = True) -> dict:
        keys = ("method", "k", "features", "k_range", "n_bootstrap", "bootstrap_size", "names", "random_state",
                "minibatch_above", "fit_sample", "currency", "n_threads", "prior_orders")
        return {key: getattr(self, key) for key in keys}

    def set_params(self, **params) -> "ClusterSegmentation":
        for key, value in params.items():
            if key not in self.get_params():
                raise ParameterError(f"ClusterSegmentation: unknown parameter {key!r}.")
            setattr(self, key, value)
        return self

    # ------------------------------------------------------------------ fit
    def _prepare(self, features) -> tuple[pd.DataFrame, pd.Series]:
        frame = with_repeat_rate(check_features(features, required=("orders",)))
        buyers = frame["orders"] > 0
        return frame, buyers

    def fit(self, features, y=None) -> "ClusterSegmentation":
        """Fit the segments on customer features (one row per customer)."""
        with _threads(self.n_threads):
            return self._fit(features)

    def _fit(self, features) -> "ClusterSegmentation":
        method = _check_method(self.method)
        k = _check_k(self.k, self.k_range)
        for name in ("n_bootstrap", "bootstrap_size", "minibatch_above", "fit_sample"):
            value = getattr(self, name)
            if value is None and name != "n_bootstrap":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "n_bootstrap" else 10):
                raise ParameterError(f"{name}: expected a whole number ≥ {0 if name == 'n_bootstrap' else 10}, found {value!r}.")
        frame, buyers = self._prepare(features)
        cols = resolve_features(frame, self.features)
        x = frame.loc[buyers, list(cols)]
        k_max = max(_check_k_range(self.k_range)) if k == "auto" else k
        if len(x) < max(2 * k_max, 10):
            raise DataValidationError(
                f"customer features: {k_max} segments need at least {max(2 * k_max, 10)} customers with orders, "
                f"found {len(x)}."
            )
        rng = np.random.default_rng(self.random_state)
        self.features_ = cols
        x_all = frame.loc[buyers]
        self.scaler_ = LogScaler(cols, prior_orders=self.prior_orders).fit(x_all)
        z = self.scaler_.transform(x_all)
        self.k_selection_ = None
        if k == "auto":
            self.k_selection_ = _choose_k(z, method, self.k_range, random_state=self.random_state, sample_size=4_000)
            k = self.k_selection_.k
        self.k_ = k
        self._fit_sample = int(self.fit_sample or _FIT_SAMPLE[method])
        self.model_ = _fit_model(
            z, method, k, self.random_state, fit_sample=self._fit_sample, minibatch_above=self.minibatch_above
        )
        self.converged_ = bool(getattr(self.model_, "converged_", self.model_.n_iter_ < self.model_.max_iter))
        raw = self.model_.predict(z)
        # number segments by value: 1 = highest mean revenue (then size), so ids do not depend on the seed's order
        value = x["revenue"] if "revenue" in x.columns else frame.loc[buyers, "revenue"] if "revenue" in frame else None
        stats = pd.DataFrame({"raw": raw, "value": value.to_numpy() if value is not None else 0.0})
        order = stats.groupby("raw")["value"].agg(["mean", "size"]).reindex(range(k)).fillna({"mean": -np.inf, "size": 0})
        ranked = order.sort_values(["mean", "size"], ascending=False).index.to_list()
        self._raw_to_id = np.empty(k, dtype=np.int64)
        for new_id, raw_id in enumerate(ranked, start=1):
            self._raw_to_id[raw_id] = new_id
        ids = self._raw_to_id[raw]
        labels = pd.Series(0, index=frame.index, dtype="int64", name="segment_id")
        labels.loc[x.index] = ids
        self.labels_ = labels
        self.n_customers_ = len(frame)
        self.n_clustered_ = len(x)
        self.stability_ = self._stability(z, ids, k, method, rng) if self.n_bootstrap else None

        from crmkit.segment._profile import profile_segments

        profile = profile_segments(
            frame.loc[x.index], labels.loc[x.index], name_from=cols, currency=self.currency
        )
        names = dict(zip(profile.segment_ids, profile.suggested_names))
        names.update(_name_overrides(self.names, range(1, k + 1)))
        self.segment_names_ = pd.Series({0: NO_ORDERS, **names}, name="segment").rename_axis("segment_id")
        self.profile_ = profile.with_names(names)
        return self

    def _stability(self, z, ids, k, method, rng) -> Stability:
        from sklearn.metrics import adjusted_rand_score

        n = len(z)
        size = int(self.bootstrap_size or _BOOTSTRAP_SIZE[method])
        m = min(n, size)
        eval_idx = _subsample(n, 20_000, rng)
        ref = ids[eval_idx]
        aris, jac = [], []
        seeds = rng.integers(0, 2**31 - 1, size=self.n_bootstrap)
        for seed in seeds:
            draw = np.random.default_rng(seed).integers(0, n, size=m)
            model = _fit_model(
                z[draw], method, k, int(seed), fit_sample=self._fit_sample, minibatch_above=self.minibatch_above,
                n_init=2,
            )
            other = model.predict(z[eval_idx])
            aris.append(adjusted_rand_score(ref, other))
            jac.append(_jaccard_best(ref, other, range(1, k + 1)))
        jaccard = pd.DataFrame(jac).mean().rename("jaccard").rename_axis("segment_id").to_frame()
        return Stability(n_bootstrap=len(seeds), sample_size=m, ari=np.asarray(aris), jaccard=jaccard)

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ParameterError("ClusterSegmentation: call fit(features) before predicting.")

    def predict_ids(self, features) -> pd.Series:
        """Segment id of every customer in ``features`` (0 = no orders yet)."""
        self._check_fitted()
        frame, buyers = self._prepare(features)
        missing = [c for c in self.features_ if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"customer features: the segmentation was fitted on {', '.join(self.features_)}; "
                f"missing {', '.join(missing)}."
            )
        x = frame.loc[buyers]
        out = pd.Series(0, index=frame.index, dtype="int64", name="segment_id")
        if len(x):
            with _threads(self.n_threads):
                raw = self.model_.predict(self.scaler_.transform(x))
            out.loc[x.index] = self._raw_to_id[raw]
        return out

    def predict(self, features) -> pd.Series:
        """The segment name of every customer in ``features`` (``"No orders yet"`` without orders)."""
        ids = self.predict_ids(features)
        return ids.map(self.segment_names_).astype("string").rename("segment")

    def scores(self, features) -> pd.DataFrame:
        """``segment_id`` and ``segment`` of every customer in ``features``."""
        ids = self.predict_ids(features)
        return pd.DataFrame({"segment": ids.map(self.segment_names_).astype("string"), "segment_id": ids})


def _name_overrides(names, ids) -> dict:
    ids = list(ids)
    if names is None:
        return {}
    if isinstance(names, dict):
        unknown = [key for key in names if key not in ids]
        if unknown:
            raise ParameterError(f"names: expected segment ids among {ids}, found {unknown}.")
        return {int(key): str(value) for key, value in names.items()}
    if isinstance(names, str):
        raise ParameterError("names: expected a dict {segment_id: name} or a list of names, found a single string.")
    names = list(names)
    if len(names) != len(ids):
        raise ParameterError(f"names: expected {len(ids)} names (one per segment), found {len(names)}.")
    return {i: str(n) for i, n in zip(ids, names)}
