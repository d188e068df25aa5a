"""zslabel.sklearn.ZeroShotClassifier: a scikit-learn estimator over the pipeline's stages."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as checks

import zslabel
from zslabel.errors import ConfigError
from zslabel.sklearn import ZeroShotClassifier

from .conftest import LABELS, make_texts

FAKE = [{"kind": "fake"}]
TEXTS = make_texts(30)
GOLD = [LABELS[i % 3] for i in range(30)]  # make_texts cycles through the labels


@pytest.fixture
def tiny(tiny_model: Path) -> Callable[..., ZeroShotClassifier]:
    def build(**params: Any) -> ZeroShotClassifier:
        return ZeroShotClassifier(LABELS, model=str(tiny_model), **params)

    return build


def test_parameters_are_stored_as_given_and_checked_by_fit() -> None:
    odd = {"labels": ["only"], "temperature": -1.0, "refine": "sometimes"}
    clf = ZeroShotClassifier(**odd)  # no validation in __init__
    assert {k: clf.get_params()[k] for k in odd} == odd
    with pytest.raises(ConfigError, match="labels"):
        clf.fit(TEXTS)
    with pytest.raises(ConfigError, match=r"sources\[0\]\.temperature"):
        clf.set_params(labels=LABELS).fit(TEXTS)
    with pytest.raises(ConfigError, match=r"\['model'\] configure the default embedding source"):
        ZeroShotClassifier(LABELS, model="x", sources=FAKE).fit(TEXTS)


def test_fit_predict_and_classes(tiny: Callable[..., ZeroShotClassifier]) -> None:
    clf = tiny()
    assert clf.fit(TEXTS) is clf
    assert clf.classes_.tolist() == sorted(LABELS)  # scikit-learn's order, not the job's
    proba = clf.predict_proba(TEXTS[:7])
    assert proba.shape == (7, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    predicted = clf.predict(np.asarray(TEXTS[:7]))
    assert predicted.tolist() == clf.classes_[proba.argmax(axis=1)].tolist()
    # A Series, a one-column DataFrame and a 2-d array of one column are read as texts.
    column = pd.DataFrame({"text": TEXTS[:7]})
    assert clf.predict(column).tolist() == predicted.tolist()
    assert clf.predict(column["text"]).tolist() == predicted.tolist()
    assert clf.predict(column.to_numpy()).tolist() == predicted.tolist()


def test_probabilities_are_the_pipelines(tiny: Callable[..., ZeroShotClassifier]) -> None:
    """Fitted on X with refinement, its probabilities on X are label_frame's on X, column j
    being the score of classes_[j]."""
    frame = zslabel.label_frame(TEXTS, LABELS, model=tiny().model, scores=True)
    clf = tiny().fit(TEXTS)
    assert clf.refinement_ is not None
    assert set(clf.refinement_.record) == {"embedding"}
    expected = frame[[f"zs_score_{n}" for n in clf.classes_]].to_numpy()
    np.testing.assert_allclose(clf.predict_proba(TEXTS), expected, rtol=1e-5)


def test_scikit_learn_probability_scorers_read_the_right_columns(
    tiny: Callable[..., ZeroShotClassifier],
) -> None:
    """Labels listed out of sorted order (a new user's trial: log-loss 1.98 instead of 0.77,
    ROC-AUC 0.675 instead of 0.934): the scorers, which assume sorted classes_, agree with the
    metric computed by hand from each row's probability of its gold label."""
    from sklearn.metrics import get_scorer

    clf = tiny().fit(TEXTS)
    proba = clf.predict_proba(TEXTS)
    assert np.abs(proba.sum(axis=1) - 1.0).max() < 1e-12  # no "do not sum to one" warning
    column = {name: j for j, name in enumerate(clf.classes_)}
    by_hand = -np.mean([np.log(proba[i, column[g]]) for i, g in enumerate(GOLD)])
    scored = -get_scorer("neg_log_loss")(clf, TEXTS, GOLD)
    assert scored == pytest.approx(by_hand, rel=1e-6)
    assert clf.predict(TEXTS).tolist() == clf.classes_[proba.argmax(axis=1)].tolist()


def test_without_refinement_fit_learns_nothing(tiny: Callable[..., ZeroShotClassifier]) -> None:
    one = tiny(refine=False).fit(TEXTS[:5])
    other = tiny(refine=False).fit(["something else entirely"])
    assert one.refinement_ is None
    np.testing.assert_array_equal(one.predict_proba(TEXTS), other.predict_proba(TEXTS))
    refined = tiny().fit(TEXTS)
    assert not np.allclose(refined.predict_proba(TEXTS), one.predict_proba(TEXTS))


def test_refinement_is_learned_on_fit_data_only(tiny: Callable[..., ZeroShotClassifier]) -> None:
    clf = tiny().fit(TEXTS)
    alone = clf.predict_proba(TEXTS[:3])
    with_others = clf.predict_proba([*TEXTS[:3], *make_texts(10, seed=1)])[:3]
    np.testing.assert_allclose(alone, with_others, rtol=1e-5)  # predict is row by row


def test_pipeline_cross_validation_and_grid_search(
    tiny: Callable[..., ZeroShotClassifier],
) -> None:
    pipeline = make_pipeline(FunctionTransformer(_lower), tiny())
    folds = StratifiedKFold(n_splits=3)
    accuracy = cross_val_score(pipeline, [t.upper() for t in TEXTS], GOLD, cv=folds)
    assert accuracy.shape == (3,)
    assert ((accuracy >= 0) & (accuracy <= 1)).all()
    assert pipeline.fit(TEXTS, GOLD).score(TEXTS, GOLD) == pytest.approx(
        np.mean(pipeline.predict(TEXTS) == np.asarray(GOLD))
    )
    search = GridSearchCV(tiny(), {"temperature": [0.05, 0.5], "refine": [True, False]}, cv=folds)
    search.fit(TEXTS, GOLD)
    assert set(search.best_params_) == {"temperature", "refine"}


def _lower(texts: Any) -> list[str]:
    return [text.lower() for text in texts]


def test_several_sources_combine_as_in_a_job() -> None:
    sources = [
        {"kind": "fake"},
        {"kind": "rules", "rules": {"sports": {"keywords": ["goal"]}}},
    ]
    clf = ZeroShotClassifier(LABELS, sources=sources, combine={"method": "vote"}).fit(TEXTS)
    proba = clf.predict_proba(TEXTS)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    rules_only = ZeroShotClassifier(LABELS, sources=sources[1:]).fit(TEXTS)
    with pytest.raises(
        ValueError, match=r"no source scored 1 of 1 texts \(rows \[0\], counting from 0\)"
    ):
        rules_only.predict(["nothing matches this"])


@pytest.mark.parametrize(
    ("X", "match"),
    [
        ("one text", "single string"),
        ([], "0 samples"),
        (["ok", None], r"X\[1\] is missing"),
        (["ok", float("nan")], r"X\[1\] is missing"),
        (["ok", "  "], r"X\[1\] is a blank text"),
        (["ok", 3], r"X\[1\] is a int, not a text"),
        (np.zeros((3, 2)), r"1-d sequence of texts, got shape \(3, 2\)"),
        (np.zeros((2, 2, 2)), "1-d sequence"),
    ],
)
def test_bad_X_is_named(X: Any, match: str) -> None:
    clf = ZeroShotClassifier(LABELS, sources=FAKE)
    with pytest.raises(ValueError, match=match):
        clf.fit(X)
    with pytest.raises(ValueError, match=match):
        clf.fit(TEXTS).predict(X)


def test_pickle_and_clone(tiny: Callable[..., ZeroShotClassifier]) -> None:
    clf = tiny().fit(TEXTS)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params()
    assert not hasattr(fresh, "classes_")


def test_text_versions_of_the_numeric_checks(
    tiny: Callable[..., ZeroShotClassifier], tmp_path: Path
) -> None:
    """What scikit-learn's numeric-X checks test, on texts: unfitted errors, unchanged
    parameters and input, idempotent fit, sample order and subset invariance."""
    clf = tiny(cache_dir=tmp_path / "cache")
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(NotFittedError):
            method(TEXTS)
    params = pickle.dumps(clf.get_params())
    X = list(TEXTS)
    clf.fit(X)
    assert X == TEXTS
    assert pickle.dumps(clf.get_params()) == params
    first = clf.predict_proba(TEXTS)
    np.testing.assert_array_equal(clf.fit(TEXTS).predict_proba(TEXTS), first)  # idempotent
    order = np.random.default_rng(0).permutation(len(TEXTS))
    np.testing.assert_allclose(clf.predict_proba([TEXTS[i] for i in order]), first[order], 1e-5)
    np.testing.assert_allclose(clf.predict_proba(TEXTS[3:9]), first[3:9], rtol=1e-5)
    # Refinement is independent of the order of the rows it is fitted on.
    shuffled = clone(clf).fit([TEXTS[i] for i in order])
    np.testing.assert_allclose(shuffled.predict_proba(TEXTS), first, rtol=1e-5)


# scikit-learn's estimator checks. ``parametrize_with_checks`` and ``check_estimator`` run none
# for an estimator whose input is text (tag input_tags.two_d_array False: "Can't test
# estimator"), so the ones that apply are called here one by one on the real estimator, and
# every other check is listed with why it does not apply. Their properties that do apply to
# texts are tested above (test_text_versions_of_the_numeric_checks, test_pickle_and_clone,
# test_bad_X_is_named).
APPLICABLE = [
    checks.check_estimator_cloneable,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_estimator_repr,
    checks.check_no_attributes_set_in_init,
    checks.check_estimators_unfitted,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_mixin_order,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
]
_NUMERIC = "fits numeric X generated by the check; X here is texts"
NOT_APPLICABLE = {
    "check_fit_score_takes_y": _NUMERIC,
    "check_estimators_overwrite_params": _NUMERIC + " (text version above)",
    "check_dont_overwrite_parameters": _NUMERIC + " (text version above)",
    "check_estimators_fit_returns_self": _NUMERIC + " (text version above)",
    "check_readonly_memmap_input": "numeric memory-mapped X",
    "check_n_features_in_after_fitting": "n_features_in_ counts columns of a numeric X",
    "check_n_features_in": "n_features_in_ counts columns of a numeric X",
    "check_positive_only_tag_during_fit": "negative numeric X",
    "check_estimators_dtypes": "numeric dtypes of X",
    "check_complex_data": "complex numbers in X (refused: not texts)",
    "check_dtype_object": "numeric values stored as objects",
    "check_estimators_empty_data_messages": "0-column numeric X (0 texts: text version above)",
    "check_pipeline_consistency": _NUMERIC + " (Pipeline test above)",
    "check_estimators_nan_inf": "NaN/inf in numeric X (missing texts: text version above)",
    "check_estimator_sparse_tag": "sparse matrices",
    "check_estimator_sparse_array": "sparse matrices",
    "check_estimator_sparse_matrix": "sparse matrices",
    "check_estimators_pickle": _NUMERIC + " (text version above)",
    "check_array_api_input": "array API namespaces of numeric X",
    "check_f_contiguous_array_estimator": "memory layout of numeric X",
    "check_classifier_data_not_an_array": _NUMERIC,
    "check_classifiers_one_label": "classes come from labels, not from y (fit ignores y)",
    "check_classifiers_one_label_sample_weights": "no sample_weight",
    "check_classifiers_classes": "classes come from labels, not from y (fit ignores y)",
    "check_estimators_partial_fit_n_features": "no partial_fit",
    "check_classifiers_train": "learns classes from numeric X and y; zero-shot learns none",
    "check_classifiers_regression_target": "fit ignores y, so a continuous y is not an error",
    "check_supervised_y_no_nan": "fit ignores y",
    "check_supervised_y_2d": "fit ignores y",
    "check_non_transformer_estimators_n_iter": "no iterations (n_iter_)",
    "check_decision_proba_consistency": "no decision_function",
    "check_methods_sample_order_invariance": _NUMERIC + " (text version above)",
    "check_methods_subset_invariance": _NUMERIC + " (text version above)",
    "check_fit2d_1sample": "numeric 2-d X",
    "check_fit2d_1feature": "numeric 2-d X",
    "check_fit1d": "1-d X is this estimator's input (1-d non-texts: test_bad_X_is_named)",
    "check_fit2d_predict1d": "numeric 2-d X",
    "check_dict_unchanged": _NUMERIC + " (text version above)",
    "check_fit_idempotent": _NUMERIC + " (text version above)",
    "check_fit_check_is_fitted": _NUMERIC + " (text version above)",
}


@pytest.mark.parametrize("check", APPLICABLE, ids=lambda check: check.__name__)
def test_applicable_sklearn_checks_pass(check: Callable[[str, Any], None]) -> None:
    check("ZeroShotClassifier", ZeroShotClassifier(LABELS, sources=FAKE))


class _NumericTwin(ZeroShotClassifier):
    """The estimator with numeric-input tags, only to list the checks scikit-learn has."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array, tags.input_tags.string = True, False
        return tags


def test_every_sklearn_check_is_run_or_explained() -> None:
    with pytest.warns(SkipTestWarning, match="Can't test estimator ZeroShotClassifier"):
        ran = checks.check_estimator(ZeroShotClassifier(LABELS), on_fail=None)
    assert [result["check_name"] for result in ran] == ["check_estimator_cloneable"]
    results = checks.check_estimator(
        _NumericTwin(LABELS, sources=FAKE),
        on_fail=None,
        on_skip=None,
        expected_failed_checks=NOT_APPLICABLE,
    )
    names = {result["check_name"] for result in results}
    applied = {check.__name__ for check in APPLICABLE}
    unexplained = names - applied - set(NOT_APPLICABLE)
    assert not unexplained, f"new scikit-learn checks: say whether they apply: {unexplained}"
    assert applied <= names


@pytest.mark.slow
def test_the_default_model(tmp_path: Path) -> None:
    texts = [
        "The striker scored twice and the team won the league match.",
        "Heavy rain and a storm are in tomorrow's forecast.",
        "Stocks fell as the central bank raised interest rates.",
        "The goalkeeper saved a penalty in the cup final.",
        "Sunny skies and warm temperatures expected this weekend.",
        "The market rallied after strong bank earnings.",
    ]
    gold = ["sports", "weather", "finance"] * 2
    clf = ZeroShotClassifier(LABELS, cache_dir=tmp_path / "cache")
    assert cross_val_score(clf, texts, gold, cv=2).mean() == 1.0
    assert clf.fit(texts).predict(texts).tolist() == gold
