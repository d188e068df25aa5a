"""How many gold rows a temperature needs, and what a prior on log T does with fewer.

    python bench/gold_size.py [--reps 300] [--held-out 5000] [--sizes 2,3,5,10,20,30,50,100,200]
        [--scales none,0.25,0.5,1.0]
        [--dataset ../shared/datasets/ag_news.parquet --job bench/jobs/ag_news.yaml --rows 3000]

A synthetic score model with a known answer: a row of class y has logits z = mu * e_y + N(0, I)
(k classes), so that the true posterior is softmax(mu * z); the source reports softmax(z / tau),
whose calibrating temperature is therefore T* = 1 / (mu * tau). For each scenario, gold size n and
prior scale, ``reps`` gold sets of n rows are drawn, a TemperatureScaler is fitted on each, and its
temperature and the expected calibration error (10 bins) it gives on ``held_out`` fresh rows are
recorded. Prints one Markdown table per scenario: median fitted T, its 10th-90th percentile, the
share of fits at the search's lower bound (0.05), the mean held-out ECE and its 90th percentile,
and the held-out ECE of the uncalibrated (T = 1) and of the true temperature for reference.

With ``--dataset`` and ``--job``, a real scenario comes first: ``--rows`` rows of the dataset
(seeded sample) are scored by the job's first source, gold sets of n rows are drawn from them and
the ECE is measured on the other rows (the temperature fitted on all rows stands in for T*).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from zslabel.calibration import TemperatureScaler, expected_calibration_error

# name: (classes, mu: how separable the classes are, tau: the source's own temperature)
# AG News' embedding source had accuracy 0.77 and a gold-fitted T of 0.67-0.84 (README).
SCENARIOS = {
    "underconfident, like AG News (k=4, T*=0.75)": (4, 1.8, 1 / (1.8 * 0.75)),
    "overconfident (k=4, T*=1.6)": (4, 1.8, 1 / (1.8 * 1.6)),
    "accurate and calibrated (k=4, T*=1)": (4, 2.6, 1 / 2.6),
}


# n -> (n gold rows' probabilities, their gold classes, the held-out rows' indices)
GoldDraw = Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def draw(
    rng: np.random.Generator, n: int, k: int, mu: float, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) reported probabilities and the (n,) true classes."""
    y = rng.integers(0, k, n)
    z = rng.normal(0.0, 1.0, (n, k))
    z[np.arange(n), y] += mu
    s = z / tau
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    return p / p.sum(axis=1, keepdims=True), y


def ece(probs: np.ndarray, y: np.ndarray) -> float:
    return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == y)


def scored_dataset(
    dataset: Path, job_file: Path, rows: int, gold_column: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` rows of ``dataset`` scored by the job's first source, and their gold classes."""
    import tempfile

    import pyarrow.parquet as pq

    from zslabel.cache import FeatureCache
    from zslabel.config import load_job
    from zslabel.sources import build_source

    job = load_job(job_file)
    table = pq.read_table(dataset, columns=[job.input.text_column, gold_column])
    picked = np.sort(
        np.random.default_rng(seed).choice(table.num_rows, min(rows, table.num_rows), False)
    )
    table = table.take(picked)
    names = [label.name for label in job.labels]
    gold = np.asarray([names.index(g) for g in table.column(gold_column).to_pylist()])
    with tempfile.TemporaryDirectory() as cache:
        source = build_source(job.sources[0], job.labels, FeatureCache(cache))
        texts = table.column(job.input.text_column).to_pylist()
        return source.probabilities(source.featurize(texts)), gold


def draws(
    rng: np.random.Generator, args: argparse.Namespace
) -> Iterator[tuple[str, np.ndarray, np.ndarray, float | None, GoldDraw]]:
    """(name, held-out probs, held-out gold, T* or None, a function drawing n gold rows)."""
    if args.dataset is not None:
        probs, gold = scored_dataset(args.dataset, args.job, args.rows, args.gold_column, args.seed)

        def from_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            picked = rng.choice(len(gold), n, replace=False)
            rest = np.setdiff1d(np.arange(len(gold)), picked)
            return probs[picked], gold[picked], rest

        yield f"{args.dataset.name}, {len(gold)} rows", probs, gold, None, from_data
    for name, (k, mu, tau) in SCENARIOS.items():
        test_p, test_y = draw(rng, args.held_out, k, mu, tau)

        def synthetic(
            n: int, k: int = k, mu: float = mu, tau: float = tau
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            p, y = draw(rng, n, k, mu, tau)
            return p, y, np.arange(args.held_out)

        yield name, test_p, test_y, 1.0 / (mu * tau), synthetic


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--held-out", type=int, default=5000)
    parser.add_argument("--sizes", default="2,3,5,10,20,30,50,100,200")
    parser.add_argument("--scales", default="none,0.25,0.5,1.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", type=Path, help="Parquet file with a text and a gold column")
    parser.add_argument("--job", type=Path, help="job file whose first source scores --dataset")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--gold-column", default="label")
    args = parser.parse_args(argv)
    if (args.dataset is None) != (args.job is None):
        parser.error("--dataset and --job go together")
    sizes = [int(s) for s in args.sizes.split(",")]
    scales = [None if s == "none" else float(s) for s in args.scales.split(",")]
    rng = np.random.default_rng(args.seed)
    for name, test_p, test_y, truth, gold_rows in draws(rng, args):
        oracle = TemperatureScaler(prior_scale=None).fit(test_p, test_y)
        accuracy = float(np.mean(test_p.argmax(axis=1) == test_y))
        print(
            f"\n{name}: accuracy {accuracy:.3f}, "
            + ("" if truth is None else f"T* {truth:.2f}, ")
            + f"T fitted on all {len(test_y)} rows {oracle.temperature_:.2f}, ECE at T=1 "
            f"{ece(test_p, test_y):.3f}, at that T {ece(oracle.transform(test_p), test_y):.3f}\n"
        )
        print("| n | prior scale | median T | T 10-90 % | at 0.05 | ECE mean | ECE p90 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for n in sizes:
            gold = [gold_rows(n) for _ in range(args.reps)]
            for scale in scales:
                temps, eces = [], []
                for p, y, rest in gold:
                    scaler = TemperatureScaler(prior_scale=scale).fit(p, y)
                    temps.append(scaler.temperature_)
                    eces.append(ece(scaler.transform(test_p[rest]), test_y[rest]))
                t = np.asarray(temps)
                at_bound = float(np.mean(np.log(t) < math.log(0.05) + 1e-3))
                print(
                    f"| {n} | {'none' if scale is None else scale} | {np.median(t):.2f} | "
                    f"{np.quantile(t, 0.1):.2f}-{np.quantile(t, 0.9):.2f} | {at_bound:.0%} | "
                    f"{np.mean(eces):.3f} | {np.quantile(eces, 0.9):.3f} |"
                )


if __name__ == "__main__":
    main()
