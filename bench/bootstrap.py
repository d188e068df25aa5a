"""Measure what a student adds to zero-shot labels, against gold the pipeline never sees.

    python bench/bootstrap.py ../shared/datasets/ag_news.parquet --job bench/jobs/ag_news.yaml \
        --gold-column label [--eval-fraction 0.2 --seed 0] [--rounds N] [--kind logistic] \
        [--student KEY=VALUE ...] [--out DIR] [--rows N]
        [--class-shares A=0.5,B=0.25,... | --zipf RATIO]

``--rows``, ``--class-shares`` and ``--zipf`` first subsample the dataset, per gold class and
seeded (so the same rows every run): ``--class-shares`` to the largest subset with those class
shares (an imbalanced variant of a balanced set), ``--zipf RATIO`` likewise with Zipf-like shares
``rank ** -s`` in the job's label order, ``s`` such that the first class is RATIO times the last,
and ``--rows`` to at most N rows in the same proportions.

The dataset is split, stratified by gold and seeded, into a pool and an evaluation part. The
pool, with its gold column dropped, is labeled by the job (the teacher) through zslabel's
library, as bench/quality.py does; a student is trained on the export (``zslabel.student.train``,
with self-training rounds) and the teacher and every round's student are scored on the
evaluation part. The teacher's figure there is full coverage: every row at its top label.

Prints one JSON object: per round, the student's accuracy and macro-F1 on the evaluation part,
and on the pool (transductive: the rows the student relabels, gold joined back by ``zs_row``)
beside the estimates ``zslabel train`` makes without gold, to show how far those can be trusted.

Feature caches live under the output folder (default: the job's ``output.dir`` + ``-bootstrap``),
so a rerun encodes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from zslabel import columns
from zslabel.config import StudentSpec, load_job
from zslabel.runner import LABELED, run_job
from zslabel.student import GoldSet, job_student_spec, train
from zslabel.student.metrics import classification


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dataset", type=Path, help="Parquet file with a text and a gold column")
    parser.add_argument("--job", type=Path, required=True, help="YAML job file (the teacher)")
    parser.add_argument("--gold-column", default="label")
    parser.add_argument("--eval-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0, help="seed of the pool / evaluation split")
    parser.add_argument("--rounds", type=int, help="override the student's self-training rounds")
    parser.add_argument(
        "--kind", choices=["logistic", "finetune", "setfit"], help="override student kind"
    )
    parser.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a student setting (e.g. epochs=3); repeatable",
    )
    parser.add_argument("--out", type=Path, help="output folder of the pool's labeling run")
    parser.add_argument("--rows", type=int, help="subsample to at most N rows (per class, seeded)")
    parser.add_argument(
        "--class-shares",
        metavar="LABEL=SHARE,...",
        help="subsample to these gold class shares (every class of the dataset named)",
    )
    parser.add_argument(
        "--zipf",
        type=float,
        metavar="RATIO",
        help="subsample to Zipf-like class shares, the first label RATIO times the last",
    )
    args = parser.parse_args(argv)
    if args.zipf is not None and (args.class_shares is not None or args.zipf < 1.0):
        parser.error("--zipf takes a ratio of at least 1, and not with --class-shares")
    if args.rows is not None and args.rows < 2:
        parser.error("--rows must be at least 2")
    if args.class_shares is not None:
        try:
            args.class_shares = {
                name.strip(): float(share)
                for name, _, share in (p.rpartition("=") for p in args.class_shares.split(","))
            }
        except ValueError:
            parser.error("--class-shares: expected LABEL=SHARE,... with numeric shares")
    if not 0.0 < args.eval_fraction < 1.0:
        parser.error("--eval-fraction must be between 0 and 1")
    return args


def evaluation_rows(gold: Sequence[object], fraction: float, seed: int) -> np.ndarray:
    """A bool mask of ``fraction`` of each gold class (seeded), the evaluation part."""
    rng = np.random.default_rng(seed)
    values = np.asarray([str(g) for g in gold], dtype=object)
    mask = np.zeros(len(values), dtype=bool)
    for label in sorted(set(values)):
        rows = rng.permutation(np.flatnonzero(values == label))
        mask[rows[: round(fraction * len(rows))]] = True
    return mask


def zipf_shares(label_names: Sequence[str], ratio: float) -> dict[str, float]:
    """Shares ``rank ** -s`` (rank 1 first) with ``s`` such that the first is ``ratio`` times
    the last."""
    exponent = float(np.log(ratio) / np.log(len(label_names))) if len(label_names) > 1 else 0.0
    return {name: float((rank + 1) ** -exponent) for rank, name in enumerate(label_names)}


def subsample_rows(
    gold: Sequence[object],
    seed: int,
    *,
    rows: int | None = None,
    shares: dict[str, float] | None = None,
) -> np.ndarray:
    """A bool mask of a seeded per-class subsample: with ``shares``, the largest subset whose
    classes have those shares (normalised); with ``rows``, at most that many rows, each class
    keeping its share. Neither: every row."""
    values = np.asarray([str(g) for g in gold], dtype=object)
    classes = sorted(set(values))
    counts = {c: int(np.sum(values == c)) for c in classes}
    if shares is not None:
        unknown = sorted(set(shares) - set(classes))
        missing = sorted(set(classes) - set(shares))
        if unknown or missing or any(v <= 0 for v in shares.values()):
            raise SystemExit(
                f"--class-shares must give a positive share to each of {classes} "
                f"(unknown {unknown}, missing {missing})"
            )
        total = sum(shares.values())
        weights = {c: shares[c] / total for c in classes}
        size = min(counts[c] / weights[c] for c in classes)
        wanted = {c: int(np.floor(weights[c] * size)) for c in classes}
    else:
        wanted = dict(counts)
    if rows is not None and sum(wanted.values()) > rows:
        scale = rows / sum(wanted.values())
        wanted = {c: int(np.floor(n * scale)) for c, n in wanted.items()}
    rng = np.random.default_rng(seed + 1_000)  # not the evaluation split's stream
    mask = np.zeros(len(values), dtype=bool)
    for c in classes:
        chosen = rng.permutation(np.flatnonzero(values == c))[: wanted[c]]
        mask[chosen] = True
    return mask


def label(job: Path, table: pa.Table, folder: Path, work_dir: Path, tmp: Path) -> Path:
    """Label ``table`` (gold already dropped) with the job into ``folder``."""
    path = tmp / f"{folder.name}.parquet"
    pq.write_table(table, path)
    overrides = {
        "input": {"path": str(path)},
        "output": {"dir": str(folder), "work_dir": str(work_dir)},
    }
    return run_job(load_job(job, overrides)).output_dir


def teacher_probs(folder: Path, label_names: Sequence[str]) -> np.ndarray:
    """The teacher's probabilities per input row (NaN rows where it could not score)."""
    names = [columns.score_column(name) for name in label_names]
    table = pq.read_table(folder / LABELED, columns=names)
    return np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    table = pq.read_table(args.dataset)
    if args.gold_column not in table.column_names:
        raise SystemExit(f"{args.dataset}: no gold column {args.gold_column!r}")
    config = load_job(args.job)
    if args.zipf is not None:
        args.class_shares = zipf_shares(list(config.label_names), args.zipf)
    if args.rows is not None or args.class_shares is not None:
        kept = subsample_rows(
            table.column(args.gold_column).to_pylist(),
            args.seed,
            rows=args.rows,
            shares=args.class_shares,
        )
        table = table.filter(pa.array(kept))
    text_column = config.input.text_column
    if text_column == args.gold_column:
        raise SystemExit("the job's text column is the gold column")
    gold = table.column(args.gold_column).to_pylist()
    held = evaluation_rows(gold, args.eval_fraction, args.seed)
    pool_table = table.filter(pa.array(~held))
    eval_table = table.filter(pa.array(held))
    pool_gold = np.asarray([str(g) for g in pool_table.column(args.gold_column).to_pylist()])
    out = (args.out or Path(f"{config.output.dir}-bootstrap")).resolve()
    work_dir = out / ".zslabel"
    label_names = list(config.label_names)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zsboot-") as tmp:
        hidden = pool_table.drop_columns([args.gold_column])
        pool_dir = label(args.job, hidden, out / "pool", work_dir, Path(tmp))
        # The teacher on the evaluation part: the same job, scored the same way.
        eval_hidden = eval_table.drop_columns([args.gold_column])
        eval_dir = label(args.job, eval_hidden, out / "evaluation", work_dir, Path(tmp))
    labeled_seconds = time.perf_counter() - started
    overrides = {"rounds": args.rounds, "kind": args.kind}
    for setting in args.student:
        key, _, value = setting.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    spec: StudentSpec = job_student_spec(
        pool_dir, {k: v for k, v in overrides.items() if v is not None}
    )
    evaluation = GoldSet(
        "evaluation",
        [str(t) for t in eval_table.column(text_column).to_pylist()],
        eval_table.column(args.gold_column).to_pylist(),
        teacher_probs(eval_dir, label_names),
    )
    result = train(pool_dir, spec, evaluation_sets=[evaluation])
    trained_seconds = time.perf_counter() - started - labeled_seconds

    index = {name: k for k, name in enumerate(label_names)}
    k = len(label_names)
    truth = np.asarray([index.get(g, k) for g in pool_gold[result.pool.rows]])
    teacher_on_pool = classification(truth, result.pool.teacher_label, k)
    rounds = []
    for figures, fitted in zip(result.metrics["rounds"], result.rounds, strict=True):
        scored = figures["evaluation"]["evaluation"]
        on_pool = classification(truth, fitted.student_probs.argmax(axis=1), k)
        rounds.append(
            {
                "round": figures["round"],
                "train_rows": figures["train_rows"],
                "labels_changed": _rounded(figures["labels_changed"]),
                "student": _figures(scored["student"]),
                "pool": {
                    "student_accuracy": on_pool["accuracy"],
                    "student_mean_confidence": figures["estimates"]["student_mean_confidence"],
                    "teacher_student_agreement": figures["estimates"]["teacher_student_agreement"],
                },
            }
        )
    teacher = result.metrics["rounds"][0]["evaluation"]["evaluation"]["teacher"]
    final = rounds[-1]["student"]
    return {
        "dataset": str(args.dataset),
        "job": str(args.job),
        "rows": table.num_rows,
        "pool_rows": pool_table.num_rows,
        "evaluation_rows": eval_table.num_rows,
        "seed": args.seed,
        "student": {"kind": spec.kind, **spec.model_dump(mode="json", exclude={"kind"})},
        "teacher": _figures(teacher),
        "teacher_on_pool": {
            "accuracy": teacher_on_pool["accuracy"],
            "expected_accuracy": result.metrics["rounds"][0]["estimates"][
                "teacher_expected_accuracy"
            ],
        },
        "rounds": rounds,
        "stopped": result.metrics["stopped"],
        "student_minus_teacher": {
            "accuracy": _difference(final["accuracy"], teacher["accuracy"]),
            "macro_f1": _difference(final["macro_f1"], teacher["macro_f1"]),
        },
        # The decision zslabel train made without gold, and whether gold agrees with it: the
        # student is better when its accuracy on the evaluation part beats the teacher's.
        "adoption": {
            **{k: v for k, v in result.metrics["adoption"].items() if k not in ("rule", "message")},
            "student_better": _better(final["accuracy"], teacher["accuracy"]),
            "decision_right": _better(final["accuracy"], teacher["accuracy"])
            == result.metrics["adoption"]["adopted"],
        },
        "seconds": {"label": round(labeled_seconds, 1), "train": round(trained_seconds, 1)},
    }


def _figures(scored: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": scored["accuracy"], "macro_f1": scored["macro_f1"]}


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def _better(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a > b


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def main(argv: Sequence[str] | None = None) -> int:
    print(json.dumps(measure(parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
