"""Measure label quality of a job against a gold column the pipeline never sees.

    python bench/quality.py ../shared/datasets/ag_news.parquet --job bench/jobs/ag_news.yaml \
        --gold-column label [--sample N --seed S] [--work-dir DIR] [--out DIR] \
        [--combine METHOD] [--prior-accuracy P|none] [--calibration-rows N]

The dataset is copied, without the gold column, to a temporary Parquet file; the job runs on that
copy (its ``input.path`` overridden), and gold is joined back to ``labeled.parquet`` by ``zs_row``
only afterwards. Prints one JSON object: full-coverage (every valid row at its top label) and
accepted-set figures, and a majority-class baseline with ``ratio`` = accuracy / baseline.

``ece`` is the expected calibration error (10 equal-width bins) of the top-label ``zs_confidence``
on every valid row against gold.

With 2+ sources, ``sources`` gives each source's accuracy and macro-F1 on the rows it scored (its
``zs_source_<name>_label`` is not null) and its coverage (scored rows / valid rows), plus
``full_coverage_accuracy``: correct rows / valid rows, where a row the source abstains on counts
as wrong. ``best_single_source`` is the source with the highest full-coverage accuracy, and
``combined_minus_best_single`` is the combined label's full-coverage accuracy minus that source's
(so a rules source that abstains on most rows cannot look best by answering only easy rows).

``--calibration-rows N`` (seeded by ``--seed``) draws N rows, stratified by gold class, into a
gold file (text and gold column, in the temporary folder) that the job gets as
``calibration: {gold: ...}``; those rows are removed from the file the pipeline labels, so every
figure, ``ece`` included, is measured on the other rows. The same rows are also labeled without
calibration (a second run on cached features) and reported under ``uncalibrated``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.calibration import expected_calibration_error
from zslabel.config import JobConfig, load_job
from zslabel.evaluate import score_labels
from zslabel.runner import LABELED, RunResult, run_job

COMBINE_METHODS = ("auto", "single", "mean", "vote", "dawid_skene")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", type=Path, help="Parquet file with a text and a gold column")
    parser.add_argument("--job", type=Path, required=True, help="YAML job file")
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--sample", type=int, help="label a random sample of N rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample, --calibration-rows")
    parser.add_argument("--work-dir", help="feature cache folder (default: the job's)")
    parser.add_argument("--out", help="output folder (default: the job's output.dir)")
    parser.add_argument(
        "--combine", choices=COMBINE_METHODS, help="override the job's combine.method"
    )
    parser.add_argument(
        "--prior-accuracy",
        help="override combine.prior_accuracy (a number in (0, 1), or 'none' for raw scores)",
    )
    parser.add_argument(
        "--calibration-rows",
        type=int,
        help="hold out N gold rows as the job's calibration file; measure on the rest",
    )
    args = parser.parse_args(argv)
    if args.calibration_rows is not None and args.calibration_rows < 2:
        parser.error("--calibration-rows needs at least 2 rows")
    return args


def load_rows(path: Path, sample: int | None, seed: int) -> pa.Table:
    table = pq.read_table(path)
    if sample is not None and sample < table.num_rows:
        rng = np.random.default_rng(seed)
        table = table.take(np.sort(rng.choice(table.num_rows, size=sample, replace=False)))
    return table


def stratified_rows(gold: Sequence[object], n: int, seed: int) -> np.ndarray:
    """Sorted positions of ``n`` rows with known gold, each class in proportion to its size.

    Rows are shuffled (seeded), numbered within their class, and taken in order of how far into
    their class they are: ``(rank + 0.5) / class size``, ties broken by the shuffle.
    """
    rng = np.random.default_rng([seed, 1])  # a stream of its own, apart from --sample's
    known = np.flatnonzero([g is not None for g in gold])
    if n >= len(known):
        raise SystemExit(f"--calibration-rows {n}: only {len(known)} rows have gold")
    order = rng.permutation(known)
    sizes = Counter(str(gold[i]) for i in order)
    seen: Counter[str] = Counter()
    depth = np.empty(len(order))
    for j, i in enumerate(order):
        label = str(gold[i])
        depth[j] = (seen[label] + 0.5) / sizes[label]
        seen[label] += 1
    return np.sort(order[np.argsort(depth, kind="stable")[:n]])


def ratio(accuracy: float | None, baseline: float) -> float | None:
    return None if accuracy is None or baseline == 0 else round(accuracy / baseline, 3)


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float | None:
    """ECE of the top-label confidence, 10 equal-width bins; None without a scored row."""
    if not (~np.isnan(confidence)).any():
        return None
    return round(expected_calibration_error(confidence, correct, bins=10), 4)


def run(
    args: argparse.Namespace, input_path: Path, overrides: dict[str, Any]
) -> tuple[JobConfig, RunResult, float]:
    config = load_job(args.job, {"input": {"path": str(input_path)}, **overrides})
    if config.input.text_column == args.gold_column:
        raise SystemExit("the job's text column is the gold column")
    started = time.perf_counter()
    result = run_job(config)
    return config, result, time.perf_counter() - started


def read_labeled(result: RunResult, source_names: Sequence[str]) -> pa.Table:
    wanted = [columns.ROW, columns.LABEL, columns.CONFIDENCE, columns.STATUS]
    for name in source_names:
        wanted.extend(columns.source_columns(name))
    return pq.read_table(result.output_dir / LABELED, columns=wanted)


def source_figures(
    labeled: pa.Table, gold: np.ndarray, valid: np.ndarray, names: Sequence[str], labels: list[str]
) -> dict[str, dict[str, Any]]:
    """Each source's accuracy and macro-F1 where it scored, coverage, full-coverage accuracy."""
    figures: dict[str, dict[str, Any]] = {}
    n_valid = int(valid.sum())
    for name in names:
        own = np.asarray(labeled.column(columns.source_columns(name)[0]).to_pylist(), object)
        scored = valid & np.asarray([p is not None for p in own])
        status = np.where(scored, "accepted", "invalid")
        metrics = score_labels(
            gold=list(gold), predicted=list(own), status=list(status), label_names=labels
        )["forced"]
        correct = int(np.sum(valid & (own == gold)))
        figures[name] = {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "coverage": rounded(scored.sum() / n_valid if n_valid else None),
            "full_coverage_accuracy": rounded(correct / n_valid if n_valid else None),
        }
    return figures


def measure(args: argparse.Namespace) -> dict[str, Any]:
    table = load_rows(args.dataset, args.sample, args.seed)
    if args.gold_column not in table.column_names:
        raise SystemExit(f"{args.dataset}: no gold column {args.gold_column!r}")
    held_out: pa.Table | None = None
    if args.calibration_rows is not None:
        picked = stratified_rows(
            table.column(args.gold_column).to_pylist(), args.calibration_rows, args.seed
        )
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[picked] = True
        held_out = table.filter(pa.array(mask))
        table = table.filter(pa.array(~mask))
    gold: list[object] = table.column(args.gold_column).to_pylist()
    hidden = table.drop_columns([args.gold_column])

    with tempfile.TemporaryDirectory(prefix="zsbench-") as tmp:
        input_path = Path(tmp) / "input.parquet"
        pq.write_table(hidden, input_path)
        output: dict[str, str] = {}
        if args.out:
            output["dir"] = str(Path(args.out).resolve())
        if args.work_dir:
            output["work_dir"] = str(Path(args.work_dir).resolve())
        overrides: dict[str, Any] = {"output": output}
        if args.combine:
            overrides["combine"] = {"method": args.combine}
        if args.prior_accuracy is not None:
            prior = None if args.prior_accuracy == "none" else float(args.prior_accuracy)
            overrides["combine"] = {**overrides.get("combine", {}), "prior_accuracy": prior}
        uncalibrated: dict[str, Any] | None = None
        if held_out is not None:
            text_column = load_job(args.job).input.text_column
            if text_column == args.gold_column:
                raise SystemExit("the job's text column is the gold column")
            gold_path = Path(tmp) / "calibration_gold.parquet"
            pq.write_table(held_out.select([text_column, args.gold_column]), gold_path)
            if "work_dir" not in output:
                # Share the job's own cache (default <dir>/.zslabel) with the scratch run.
                base = load_job(args.job, {"output": output}).output
                output["work_dir"] = str(
                    Path(base.work_dir or Path(base.dir) / ".zslabel").resolve()
                )
            # The same rows without calibration, into a scratch folder, on the same cache.
            scratch = {**output, "dir": str(Path(tmp) / "uncalibrated")}
            config, result, _ = run(
                args, input_path, {**overrides, "output": scratch, "calibration": None}
            )
            uncalibrated = measure_result(config, result, gold, args.gold_column)
            overrides["calibration"] = {
                "gold": str(gold_path),
                "column": args.gold_column,
                "text_column": text_column,
            }
        config, result, seconds = run(args, input_path, overrides)
        figures = measure_result(config, result, gold, args.gold_column)

    counts = Counter(str(g) for g in gold if g is not None)
    majority, majority_rows = counts.most_common(1)[0]
    baseline = round(majority_rows / sum(counts.values()), 4)
    full, accepted = figures["scores"]["forced"], figures["scores"]["accepted"]
    report: dict[str, Any] = {
        "dataset": str(args.dataset),
        "rows": figures["rows"],
        "job": str(args.job),
        "full_coverage": {
            "accuracy": full["accuracy"],
            "macro_f1": full["macro_f1"],
            "ratio": ratio(full["accuracy"], baseline),
        },
        "accepted": {
            "accuracy": accepted["accuracy"],
            "macro_f1": accepted["macro_f1"],
            "coverage": figures["scores"]["coverage"],
            "ratio": ratio(accepted["accuracy"], baseline),
        },
        "baseline": {
            "kind": "majority_class",
            "label": majority,
            "accuracy": baseline,
            "uniform_random_accuracy": round(1 / len(counts), 4),
        },
        "gold_labels_not_in_job": figures["scores"]["gold_labels_not_in_job"],
        "seconds": round(seconds, 2),
        "ece": figures["ece"],
        "combine_method": result.manifest["combine"]["method"],
    }
    if "sources" in figures:
        report["sources"] = figures["sources"]
        best = max(
            figures["sources"].items(), key=lambda item: item[1]["full_coverage_accuracy"] or 0.0
        )
        best_accuracy = best[1]["full_coverage_accuracy"]
        report["best_single_source"] = {"name": best[0], "accuracy": best_accuracy}
        report["combined_minus_best_single"] = (
            None
            if full["accuracy"] is None or best_accuracy is None
            else round(full["accuracy"] - best_accuracy, 4)
        )
    if held_out is not None and uncalibrated is not None:
        described = result.manifest["combine"].get("calibration") or {}
        report["calibration"] = {
            "rows": held_out.num_rows,
            "seed": args.seed,
            "temperature": {
                s.name: described.get(str(s.name), {}).get("temperature") for s in config.sources
            },
        }
        report["uncalibrated"] = {
            "ece": uncalibrated["ece"],
            "full_coverage_accuracy": uncalibrated["scores"]["forced"]["accuracy"],
            "accepted_accuracy": uncalibrated["scores"]["accepted"]["accuracy"],
        }
    return report


def measure_result(
    config: JobConfig, result: RunResult, gold: Sequence[object], gold_column: str
) -> dict[str, Any]:
    """Scores, ECE and (with 2+ sources) per-source figures of one run against gold."""
    names = [str(s.name) for s in config.sources] if len(config.sources) > 1 else []
    labeled = read_labeled(result, names)
    rows = labeled.column(columns.ROW).to_pylist()
    row_gold = np.asarray([None if gold[r] is None else str(gold[r]) for r in rows], object)
    predicted = np.asarray(labeled.column(columns.LABEL).to_pylist(), object)
    status = np.asarray(labeled.column(columns.STATUS).to_pylist(), object)
    labels = list(config.label_names)
    scores = score_labels(
        gold=list(row_gold), predicted=list(predicted), status=list(status), label_names=labels
    )
    has_gold = np.asarray([g is not None for g in row_gold])
    valid = ((status == "accepted") | (status == "abstained")) & has_gold
    confidence = labeled.column(columns.CONFIDENCE).to_numpy(zero_copy_only=False)
    confidence = np.where(valid, np.asarray(confidence, dtype=np.float64), np.nan)
    figures: dict[str, Any] = {
        "rows": len(rows),
        "scores": scores,
        "ece": calibration_error(confidence, valid & (predicted == row_gold)),
    }
    if names:
        figures["sources"] = source_figures(labeled, row_gold, valid, names, labels)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    print(json.dumps(measure(parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
