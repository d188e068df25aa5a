"""``zslabel train``: fit a student on a labeling run's train split, self-train, evaluate, save.

Writes ``DIR/student/model/`` (see :mod:`zslabel.student.model`) and ``DIR/student/metrics.json``:
``{"rounds": [{"round": i, ...figures...}], ...}``, figures against gold where a gold column is
named (gold is only ever scored against, never trained on) and estimates without it. A student
saved elsewhere (``model_dir``, ``zslabel train DIR --out FOLDER``) keeps its metrics with it, in
``FOLDER/metrics.json``, and leaves ``DIR/student/`` alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from zslabel import priors
from zslabel.atomic import temporary_beside
from zslabel.config import StudentSpec
from zslabel.errors import ConfigError, InputError, OutputError
from zslabel.export import MANIFEST, file_sha256
from zslabel.models import DEFAULT_MODEL, resolve_model
from zslabel.student import adoption, metrics
from zslabel.student.contrastive import ContrastiveTuner
from zslabel.student.data import Pool, read_pool
from zslabel.student.embed import CachedEmbedder, embedding_identity, student_encoder
from zslabel.student.finetune import FineTuner
from zslabel.student.head import LogisticHead
from zslabel.student.model import TUNED_KINDS, StudentModel
from zslabel.student.selftrain import Round, SelfTrainer
from zslabel.version import __version__

STUDENT_DIR = "student"
MODEL_DIR = "model"
METRICS = "metrics.json"


@dataclass(frozen=True)
class GoldSet:
    """Rows outside the pool to score every round on: texts, gold label names and, optionally,
    the teacher's probabilities on them (``bench/bootstrap.py`` passes its held-out part)."""

    name: str
    texts: Sequence[str]
    gold: Sequence[str | None]
    teacher_probs: np.ndarray | None = None


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    metrics_path: Path
    metrics: dict[str, Any]
    student: StudentModel
    pool: Pool
    rounds: list[Round[StudentModel]]  # every round's student and its pool probabilities


def job_student_spec(
    output_dir: str | Path, overrides: dict[str, Any] | None = None
) -> StudentSpec:
    """The ``student:`` section of the job that labeled ``output_dir`` (defaults when it has
    none), with ``overrides`` (the CLI's flags) merged over it."""
    manifest = Path(output_dir) / "manifest.json"
    try:
        config = json.loads(manifest.read_text(encoding="utf-8")).get("config") or {}
    except (OSError, ValueError):
        config = {}  # read_pool reports a missing or unreadable manifest with context
    raw = {**(config.get("student") or {}), **(overrides or {})}
    try:
        return StudentSpec.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"student.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"student settings ({manifest} and flags): {where}") from None


def train(
    output_dir: str | Path,
    spec: StudentSpec | None = None,
    *,
    gold_column: str | None = None,
    model_dir: str | Path | None = None,
    evaluation_sets: Sequence[GoldSet] = (),
) -> TrainResult:
    """Train, self-train and evaluate a student on the output folder of a labeling run."""
    pool = read_pool(output_dir, gold_column)
    spec = spec or job_student_spec(output_dir)
    first = pool.in_train
    if not first.any():
        raise InputError(
            f"{pool.output_dir}: the train split is empty; the student trains on the split named "
            "'train' (output.splits)"
        )
    encoder = student_encoder(resolve_model(_model_name(spec, pool)), spec.device)
    embedder = CachedEmbedder(encoder, pool.work_dir)
    features = embedder.embed(pool.texts)
    student_root = pool.output_dir / STUDENT_DIR
    distribution = priors.estimate(pool.teacher_probs)
    fit = _fitter(spec, pool, embedder, features, distribution.estimated)
    trainer = _self_train(spec, pool, first, fit)
    rounds = [_figures(r, pool, evaluation_sets) for r in trainer.rounds_]
    final = trainer.rounds_[-1]
    final.student.training["train_rows"] = int(final.trained.sum())
    final.student.training["round"] = final.index
    decision = adoption.decide(
        pool.teacher_probs,
        np.asarray(final.student_probs.argmax(axis=1), dtype=np.int64),
        pool.held_out,
        spec.adoption_margin,
    )
    final.student.adoption = decision.as_dict()
    target = Path(model_dir) if model_dir is not None else student_root / MODEL_DIR
    metrics_path = _metrics_path(target, student_root)
    elsewhere = metrics_path.parent == target
    report = {
        "zslabel_version": __version__,
        "kind": spec.kind,
        "embedding": embedding_identity(encoder),
        "settings": spec.model_dump(mode="json"),
        "gold_column": gold_column,
        "pool": {
            "rows": len(pool.texts),
            "train_rows": int(first.sum()),
            "validation_rows": int(pool.in_validation.sum()),
            "held_out_rows": int(pool.held_out.sum()),
        },
        "class_distribution": distribution.as_dict(pool.label_names),
        "rounds": rounds,
        "final_round": final.index,
        "stopped": {
            "reason": "converged" if trainer.stopped_early_ else "rounds",
            "labels_changed": trainer.last_change_,
        },
        "adoption": decision.as_dict(),
        "model_dir": str(target),
    }
    if not elsewhere:
        # Before the report is rendered: it shows the figures of DIR/student/metrics.json.
        _write_json(metrics_path, report)
    _render_report(pool.output_dir, gold_column)
    # Rendering the report records it in the manifest: hash the manifest as it is now.
    final.student.training["manifest_sha256"] = file_sha256(pool.output_dir / MANIFEST)
    final.student.save(target)
    if elsewhere:
        # After the save, which replaces the whole folder.
        _write_json(metrics_path, report)
    if spec.kind in TUNED_KINDS:
        # Each round's fine-tuned encoder (a full model copy); the saved student has its own.
        shutil.rmtree(pool.work_dir / STUDENT_DIR, ignore_errors=True)
    return TrainResult(target, metrics_path, report, final.student, pool, trainer.rounds_)


def _self_train(
    spec: StudentSpec,
    pool: Pool,
    first: np.ndarray,
    fit: Callable[[int, np.ndarray, np.ndarray], tuple[StudentModel, np.ndarray]],
) -> SelfTrainer[StudentModel]:
    """The fitted self-training rounds; a tuned kind's round encoders (a full model copy each)
    are removed if training fails."""
    try:
        return SelfTrainer[StudentModel](
            rounds=spec.rounds,
            teacher_weight=spec.teacher_weight,
            top_fraction=spec.top_fraction or _job_top_fraction(pool),
            tolerance=spec.tolerance,
        ).fit(pool.teacher_probs, first, ~pool.held_out, fit)
    except BaseException:
        if spec.kind in TUNED_KINDS:
            shutil.rmtree(pool.work_dir / STUDENT_DIR, ignore_errors=True)
        raise


def _model_name(spec: StudentSpec, pool: Pool) -> str:
    if spec.model is not None:
        return spec.model
    for source in pool.config.get("sources", []):
        if source.get("kind") == "embedding":
            return str(source.get("model", DEFAULT_MODEL))
    return DEFAULT_MODEL


def _job_top_fraction(pool: Pool) -> float:
    return float(pool.config.get("selection", {}).get("per_class_top_fraction", 0.5))


def _fitter(
    spec: StudentSpec,
    pool: Pool,
    embedder: CachedEmbedder,
    features: np.ndarray,
    class_prior: np.ndarray,
) -> Callable[[int, np.ndarray, np.ndarray], tuple[StudentModel, np.ndarray]]:
    """``fit(round, rows, labels) -> (student, pool probabilities)`` for the spec's kind."""
    k = len(pool.label_names)
    training = {
        "output_dir": str(pool.output_dir.resolve()),
        "manifest_sha256": pool.manifest_sha256,
        "train_file_sha256": pool.train_file_sha256,
        "labeled_file_sha256": pool.labeled_file_sha256,
        "settings": spec.model_dump(mode="json"),
        # zslabel predict abstains rows in languages the encoder does not read, as the job did.
        "abstain_uncovered_languages": bool(
            (pool.config.get("selection") or {}).get("abstain_uncovered_languages", True)
        ),
    }

    def student(head: LogisticHead, used: CachedEmbedder) -> StudentModel:
        return StudentModel(
            head,
            used.encoder,
            labels=pool.label_names,
            kind=spec.kind,
            model_request=_model_name(spec, pool),
            text_column=pool.text_column,
            training=dict(training),
            embed=used.embed,
        )

    def fit_logistic(
        index: int, rows: np.ndarray, labels: np.ndarray
    ) -> tuple[StudentModel, np.ndarray]:
        head = LogisticHead(k, c=spec.c, class_weight=spec.class_weight, class_prior=class_prior)
        head.fit(features[rows], labels[rows])
        return student(head, embedder), head.predict_proba(features)

    def fit_tuned(
        index: int, rows: np.ndarray, labels: np.ndarray
    ) -> tuple[StudentModel, np.ndarray]:
        kind = FineTuner if spec.kind == "finetune" else ContrastiveTuner
        tuner = kind(
            embedder.encoder,
            k,
            c=spec.c,
            class_weight=spec.class_weight,
            class_prior=class_prior,
            epochs=spec.epochs,
            learning_rate=spec.learning_rate,
            batch_size=spec.batch_size,
            device=spec.device,
            seed=spec.seed + index,
        )
        texts = [pool.texts[i] for i in np.flatnonzero(rows)]
        folder = pool.work_dir / STUDENT_DIR / f"{spec.kind}-round-{index}"
        if isinstance(tuner, FineTuner):
            tuner.fit(texts, labels[rows], folder, features=features[rows])
        else:
            tuner.fit(texts, labels[rows], folder)
        tuned = CachedEmbedder(tuner.encoder_, pool.work_dir)
        return student(tuner.head_, tuned), tuner.head_.predict_proba(tuned.embed(pool.texts))

    return fit_tuned if spec.kind in TUNED_KINDS else fit_logistic


def _figures(
    result: Round[StudentModel], pool: Pool, evaluation_sets: Sequence[GoldSet]
) -> dict[str, Any]:
    k = len(pool.label_names)
    teacher = pool.teacher_label
    probs = result.student_probs
    student = np.asarray(probs.argmax(axis=1), dtype=np.int64)
    validation = pool.in_validation
    on_validation = metrics.classification(teacher[validation], student[validation], k)
    figures: dict[str, Any] = {
        "round": result.index,
        "train_rows": int(result.trained.sum()),
        "labels_changed": result.labels_changed,
        # The validation split's labels are the teacher's: how well the student reproduces them.
        "validation": {
            "rows": on_validation["rows"],
            "agreement": on_validation["accuracy"],
            "macro_f1": on_validation["macro_f1"],
        },
        # Without gold. The teacher's probabilities are temperature-calibrated (README: ECE
        # about 0.06), so their mean top probability estimates its accuracy. The student's
        # confidence is no such estimate (README: 0.75 against a true 0.85 on AG News, 0.06
        # against 0.67 on BANKING77, whose 77 classes share a regularised head).
        "estimates": {
            "teacher_student_agreement": metrics.agreement(teacher, student),
            "teacher_expected_accuracy": metrics.expected_accuracy(pool.teacher_probs),
            "student_mean_confidence": metrics.expected_accuracy(probs),
        },
    }
    if pool.gold is not None:
        figures["gold"] = {
            part: {
                "teacher": metrics.classification(pool.gold[rows], teacher[rows], k),
                "student": metrics.classification(pool.gold[rows], student[rows], k),
            }
            for part, rows in (
                ("pool", np.ones(len(student), dtype=bool)),
                ("held_out", pool.held_out),
            )
        }
    if evaluation_sets:
        figures["evaluation"] = {
            gold_set.name: _score_set(gold_set, result.student, pool.label_names)
            for gold_set in evaluation_sets
        }
    return figures


def _score_set(
    gold_set: GoldSet, student: StudentModel, label_names: Sequence[str]
) -> dict[str, Any]:
    index = {name: k for k, name in enumerate(label_names)}
    k = len(label_names)
    gold = np.asarray([-1 if g is None else index.get(str(g), k) for g in gold_set.gold])
    predicted = student.predict_proba(gold_set.texts).argmax(axis=1)
    scored: dict[str, Any] = {"student": metrics.classification(gold, predicted, k)}
    if gold_set.teacher_probs is not None:
        probs = gold_set.teacher_probs
        # A row the teacher could not score (a NaN row) counts as wrong: predicted -1.
        unscored = np.isnan(probs).any(axis=1)
        teacher = np.where(unscored, -1, np.nan_to_num(probs, nan=-1.0).argmax(axis=1))
        scored["teacher"] = metrics.classification(gold, teacher, k)
    return scored


def _metrics_path(target: Path, student_root: Path) -> Path:
    """Metrics go with the model: beside the default one (``DIR/student/metrics.json``), inside
    a folder given for it (the folder above may hold other students, whose metrics must not be
    overwritten)."""
    default = student_root / MODEL_DIR
    try:
        same = target.resolve() == default.resolve()
    except OSError:
        same = target.absolute() == default.absolute()
    return student_root / METRICS if same else target / METRICS


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``path`` atomically (a temporary file, then a rename), with the permissions of
    every other output: 0666 less the umask, as a plain ``open`` gives (``mkstemp`` would give
    0600, readable by its owner alone)."""
    text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_beside(path)
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc})") from None


def _render_report(output_dir: Path, gold_column: str | None) -> None:
    """Re-render the run's report, when this zslabel has a report module, so that it shows the
    student's figures; a zslabel without one simply skips it."""
    if importlib.util.find_spec("zslabel.report") is None:
        return
    write_report = getattr(importlib.import_module("zslabel.report"), "write_report", None)
    if callable(write_report):
        write_report(output_dir, **({"gold_column": gold_column} if gold_column else {}))


def format_metrics(result: TrainResult) -> str:
    """A short human summary of ``metrics.json``: one line per round."""
    report = result.metrics
    lines = [
        f"Student ({report['kind']}, {report['embedding']['model']}) on "
        f"{report['pool']['train_rows']} train rows of a pool of {report['pool']['rows']}",
    ]
    for figures in report["rounds"]:
        estimates = figures["estimates"]
        line = (
            f"  round {figures['round']}: {figures['train_rows']} rows"
            f", validation agreement {_show(figures['validation']['agreement'])}"
            f", teacher agreement {_show(estimates['teacher_student_agreement'])}"
            f", mean confidence {_show(estimates['student_mean_confidence'])}"
        )
        gold = figures.get("gold", {}).get("pool")
        if gold:
            line += (
                f"; gold accuracy teacher {_show(gold['teacher']['accuracy'])}"
                f" student {_show(gold['student']['accuracy'])}"
            )
        lines.append(line)
    stopped = report["stopped"]
    if stopped["reason"] == "converged":
        lines.append(f"  stopped: labels changed on {_show(stopped['labels_changed'])} of the pool")
    lines.append(report["adoption"]["message"])
    lines.append(f"Saved {result.model_dir}; figures in {result.metrics_path}")
    return "\n".join(lines)


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
