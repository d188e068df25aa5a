"""A scikit-learn estimator over zslabel's pipeline: :class:`ZeroShotClassifier`.

``fit`` learns no weights: it validates the parameters and loads the model; with refinement on
(the default, as in a job file) it also scores ``X`` and moves each label's reference embeddings
toward its most confident rows of ``X`` (transductive prototypes, :mod:`zslabel.refine`), and
with several sources it fits how they combine on ``X``. ``predict_proba`` scores new texts with
the same sources and applies what ``fit`` found. Scoring, refinement and combining are the
pipeline's own stages (:mod:`zslabel.pipeline`), run on the texts written to a temporary
Parquet file; nothing is left on disk unless ``cache_dir`` names a feature cache.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from zslabel.config import DEFAULT_TEMPERATURE, DEFAULT_TEMPLATE, JobConfig
from zslabel.errors import ConfigError
from zslabel.frame import INPUT_FILE, frame_job

if TYPE_CHECKING:
    from zslabel.pipeline.plan import JobPlan
    from zslabel.pipeline.score import ShardScore

TEXT = "text"
# The parameters that configure the one embedding source when ``sources`` is None.
_SOURCE_PARAMS = {
    "model": "default",
    "template": DEFAULT_TEMPLATE,
    "temperature": DEFAULT_TEMPERATURE,
    "aggregate": "max",
    "refine": True,
    "device": "auto",
    "precision": "auto",
    "batch_size": None,
}


class ZeroShotClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Zero-shot text classification with zslabel's sources, as a scikit-learn classifier.

    Parameters are stored as given and checked by :meth:`fit` (scikit-learn's convention).

    Args:
        labels: as the job file's ``labels:``: a list of at least 2 names, or a mapping of
            name to one or more descriptions. ``classes_`` are the names, sorted.
        model: the embedding model: ``"default"`` (all-MiniLM-L6-v2, packaged, offline), a
            local folder or a Hugging Face Hub id.
        template: how a label description becomes a prompt (``{description}``, ``{label}``).
        temperature: softmax temperature on cosine similarities (> 0); lower is more confident.
        aggregate: ``"max"`` or ``"mean"`` over a label's several descriptions.
        refine: transductive label prototypes fitted on ``X`` in :meth:`fit`: ``True`` (the
            job-file defaults), ``False``/``None`` (off: ``fit`` learns nothing), or a dict
            of :class:`zslabel.config.RefineSpec`'s settings (``{"weight": 0.5}``; the others
            keep their defaults: docs/sources.md).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"int8"``.
        batch_size: most texts per forward pass; None: by device.
        sources: instead of the parameters above, the job file's ``sources:`` list (dicts),
            e.g. an embedding source beside ``rules``; they are combined as in a job.
        combine: the job file's ``combine:`` section (dict) for several sources; None: default.
        cache_dir: a folder for the feature cache, so that scoring the same texts again (fit,
            then predict on the same ``X``; a grid search) does not encode them again; None:
            a temporary folder per call.

    Attributes (after ``fit``):
        classes_: (n_classes,) object array of label names, sorted as ``np.unique`` sorts
            them: scikit-learn's scorers and metrics (``neg_log_loss``, ``roc_auc_ovr``) read
            ``predict_proba``'s columns in that order, whatever order ``labels`` lists.
        refinement_: what refinement found (``refinement_.record``: per source, rows used and
            the prompt-to-reference cosine per label, or why it was skipped), or None when no
            source has refinement on.
    """

    def __init__(
        self,
        labels: Any,
        *,
        model: str = "default",
        template: str = DEFAULT_TEMPLATE,
        temperature: float = DEFAULT_TEMPERATURE,
        aggregate: str = "max",
        refine: bool | dict[str, Any] | None = True,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int | None = None,
        sources: Sequence[dict[str, Any]] | None = None,
        combine: dict[str, Any] | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.labels = labels
        self.model = model
        self.template = template
        self.temperature = temperature
        self.aggregate = aggregate
        self.refine = refine
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.sources = sources
        self.combine = combine
        self.cache_dir = cache_dir

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # X is a 1-d sequence of texts, never a numeric matrix.
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.target_tags.required = False
        return tags

    def fit(self, X: Any, y: Any = None) -> ZeroShotClassifier:
        """Check the parameters and ``X``, load the model, and refine on ``X`` if asked.

        Args:
            X: (n_samples,) texts: a list, tuple, 1-d array or Series of str (a DataFrame or
                2-d array with one column is read as its column).
            y: ignored (zero-shot); accepted so that ``cross_val_score`` and ``Pipeline``
                can pass gold labels, which only scoring reads.

        Returns:
            self.

        Raises:
            ValueError: ``X`` is empty, not 1-d, or holds a null, blank or non-text value
                (the message names the row); ConfigError (a ValueError) for an invalid
                parameter, naming it.
            ModelError: the model cannot be resolved or loaded.
        """
        texts = _texts(X)
        options = self._options()
        from zslabel.pipeline import calibrate, refine, row_languages
        from zslabel.pipeline import combine as combining
        from zslabel.refine import Refinement

        with _planned(texts, options) as plan:
            if _learns_from_x(plan.config):
                scores = _score(plan)
                excluded = row_languages.uncovered_rows(plan, scores).excluded
                refinement = refine.refine(plan, scores, None, excluded)
            else:
                scores, refinement = [], Refinement((), {})
                _load(plan)
            calibration = calibrate.fit_calibration(plan, None, refinement)
            combiner = combining.fit_combiner(
                plan, lambda: combining.row_sample(plan, scores, refinement), calibration
            )
            names = np.asarray(plan.label_names, dtype=object)
        # The job's label order -> scikit-learn's sorted order of the columns.
        self.column_order_ = np.argsort(names.astype(str), kind="stable")
        self.classes_ = names[self.column_order_]
        self.options_ = options
        self.refinement_ = refinement if refinement.record else None
        self.combiner_ = combiner
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Each text's probability of each class.

        Args:
            X: (n_samples,) texts, as for :meth:`fit`.

        Returns:
            (n_samples, n_classes) float64 array; rows sum to 1, columns in ``classes_``
            (sorted) order. Where two classes tie, :meth:`predict` takes the one the job lists
            first, which need not be the first column.

        Raises:
            NotFittedError: before :meth:`fit`. ValueError: as for :meth:`fit`, or when no
            source could score a row (e.g. only ``rules`` sources and no rule matched).
        """
        return self._probabilities(X)[0]

    def predict(self, X: Any) -> np.ndarray:
        """Each text's most probable class (ties go to the label listed first).

        Args:
            X: (n_samples,) texts, as for :meth:`fit`.

        Returns:
            (n_samples,) object array of label names from ``classes_``; a tie goes to the
            label the job lists first.

        Raises:
            As :meth:`predict_proba`.
        """
        label = self._probabilities(X)[1]  # first: it raises NotFittedError before fit
        names = np.empty(len(self.classes_), dtype=object)
        names[self._column_order()] = self.classes_  # back to the job's label order
        return np.asarray(names[label], dtype=object)

    def _probabilities(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "combiner_")
        texts = _texts(X)
        from zslabel.pipeline.features import load_shard
        from zslabel.pipeline.predict import predictions_of

        references = self.refinement_
        with _planned(texts, self.options_) as plan:
            parts = [self.combiner_(load_shard(plan, s, references)[0]) for s in _score(plan)]
            probs = np.concatenate(parts).astype(np.float64)
            label = predictions_of(plan, probs).label  # ties: the label listed first
        # Scored in float32: renormalised, so that rows sum to 1 within float64 precision
        # (scikit-learn's log_loss warns at a 1e-7 shortfall).
        probs /= probs.sum(axis=1, keepdims=True)
        unscored = np.flatnonzero(label < 0)
        if len(unscored):
            raise ValueError(
                f"no source scored {len(unscored)} of {len(texts)} texts (rows "
                f"{unscored[:5].tolist()}{'...' if len(unscored) > 5 else ''}, counting from 0); "
                "add a source "
                "that scores every text, e.g. an embedding source beside rules"
            )
        return probs[:, self._column_order()], label

    def _column_order(self) -> np.ndarray:
        """Job order -> ``classes_`` order; the identity for an estimator pickled before
        ``classes_`` were sorted (its ``classes_`` are in job order)."""
        order = getattr(self, "column_order_", None)
        return np.arange(len(self.classes_)) if order is None else np.asarray(order)

    def _options(self) -> dict[str, Any]:
        """label_frame's keyword options for these parameters; ConfigError when both
        ``sources`` and source parameters other than their defaults are given."""
        options: dict[str, Any] = {"labels": self.labels}
        if self.sources is None:
            source = {key: getattr(self, key) for key in _SOURCE_PARAMS}
            options["sources"] = [{"kind": "embedding", **source}]
        else:
            changed = [k for k, v in _SOURCE_PARAMS.items() if getattr(self, k) != v]
            if changed:
                raise ConfigError(
                    f"ZeroShotClassifier: parameter(s) {changed} configure the default embedding "
                    "source; with sources=[...] put them in the source instead"
                )
            options["sources"] = [dict(s) for s in self.sources]
        if self.combine is not None:
            options["combine"] = dict(self.combine)
        if self.cache_dir is not None:
            options["cache_dir"] = str(self.cache_dir)
        return options


def _texts(X: Any) -> list[str]:
    """``X`` as a list of texts; ValueError naming the first value that is not one."""
    shape = getattr(X, "shape", None)
    if isinstance(X, str | bytes):
        raise ValueError("X must be a sequence of texts, got a single string; pass [text]")
    if shape is not None and len(shape) == 2:
        if shape[1] != 1:
            raise ValueError(
                f"X must be a 1-d sequence of texts, got shape {tuple(shape)}; "
                "select the text column"
            )
        X = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X)[:, 0]
    elif shape is not None and len(shape) != 1:
        raise ValueError(f"X must be a 1-d sequence of texts, got shape {tuple(shape)}")
    try:
        values = list(X)
    except TypeError:
        raise ValueError(f"X must be a sequence of texts, got {type(X).__name__}") from None
    if not values:
        raise ValueError("X has 0 samples; at least one text is needed")
    for i, value in enumerate(values):
        if isinstance(value, str):
            if not value.strip():
                raise ValueError(
                    f"X[{i}] is a blank text; ZeroShotClassifier needs a text in every row "
                    "(drop or fill it; zslabel.label_frame keeps such rows as invalid)"
                )
            continue
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        raise ValueError(
            f"X[{i}] is "
            + ("missing (None/NaN)" if missing else f"a {type(value).__name__}, not a text")
            + "; ZeroShotClassifier needs a text (str) in every row"
            + (
                " (drop or fill it; zslabel.label_frame keeps such rows as invalid)"
                if missing
                else ""
            )
        )
    return values


def _learns_from_x(config: JobConfig) -> bool:
    """Whether fit must score X: a refined source, or sources to combine by a fitted method."""
    refined = any(getattr(spec, "refine", None) is not None for spec in config.sources)
    return refined or len(config.sources) > 1 or config.combine.method not in ("auto", "single")


@contextmanager
def _planned(texts: list[str], options: dict[str, Any]) -> Iterator[JobPlan]:
    """The job's plan over ``texts``, written to a temporary Parquet file removed on exit."""
    from zslabel.pipeline.plan import plan_job

    options = dict(options)
    cache_dir = options.pop("cache_dir", None)
    with tempfile.TemporaryDirectory(prefix="zslabel-sklearn-") as scratch:
        folder = Path(scratch)
        config = frame_job(
            options.pop("labels"),
            folder / INPUT_FILE,
            folder / "out",
            text_column=TEXT,
            # Without cache_dir, nothing is left on disk: not the user's cache either.
            cache_dir=cache_dir if cache_dir is not None else folder / "cache",
            origin="ZeroShotClassifier",
            **options,
        )
        pq.write_table(pa.table({TEXT: pa.array(texts, pa.string())}), config.input.path)
        yield plan_job(config)


def _score(plan: JobPlan) -> list[ShardScore]:
    from zslabel.pipeline.score import score_shard

    return [score_shard(plan, shard) for shard in plan.dataset.shards]


def _load(plan: JobPlan) -> None:
    """Load each embedding source's model by encoding its label prompts (cached per process)."""
    for source in plan.sources:
        references = getattr(source, "label_references", None)
        if references is not None:
            references()
