"""What one output folder looks like, read for comparison: its class mix, rates, the
distributions of confidence, margin and text length, and the terms of its abstained rows.

Only the columns needed are read, one record batch at a time; what is kept per row is a float32
or int32 (confidence, margin, length) and an 8-byte hash of each text for the duplicate count.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.errors import InputError
from zslabel.version_index import version_hint

MANIFEST = "manifest.json"
LABELED = "labeled.parquet"
DRIFT = "drift.json"
BATCH_ROWS = 65_536
# Words of two or more letters in any script (accents included), digits and underscores left
# out: counts and ids in texts are not terms. Python's ``re`` with (?u) follows Unicode.
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"
# Terms are counted on at most about this many abstained rows, every k-th one spread evenly over
# the version: tokenizing is the slowest part of a comparison (about 0.15 ms a row), and shares
# of the most frequent terms are as good from a sample.
TERM_ROWS = 100_000


@dataclass
class Profile:
    """One output folder's figures. Arrays: (n,) float32 ``confidence`` and ``margin`` of the
    scored rows, (n,) int32 ``lengths`` in characters of the rows with a text (None when the
    output has no text column)."""

    folder: Path
    label_names: list[str]
    rows: int = 0
    status: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    confidence: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    margin: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    lengths: np.ndarray | None = None
    valid_texts: int = 0
    duplicates: int = 0
    abstained_texts: int = 0  # abstained rows whose terms were counted (TERM_ROWS)
    terms: Counter[str] | None = None
    centroids: dict[str, np.ndarray] | None = None

    def rate(self, status: str) -> float:
        return self.status[status] / self.rows if self.rows else 0.0

    @property
    def duplicate_rate(self) -> float:
        return self.duplicates / self.valid_texts if self.valid_texts else 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON-ready record of this version's own distributions (drift.json ``profile``)."""
        scored = sum(self.classes.values())
        summary: dict[str, Any] = {
            "rows": self.rows,
            "status": {name: self.status[name] for name in ("accepted", "abstained", "invalid")},
            "invalid_reasons": dict(sorted(self.reasons.items())),
            "classes": {name: self.classes[name] for name in self.label_names},
            "class_shares": {
                name: _round(self.classes[name] / scored if scored else 0.0)
                for name in self.label_names
            },
            "abstain_rate": _round(self.rate("abstained")),
            "invalid_rate": _round(self.rate("invalid")),
            "duplicate_rate": None if self.lengths is None else _round(self.duplicate_rate),
            "confidence": quantiles(self.confidence),
            "margin": quantiles(self.margin),
            "text_length": None if self.lengths is None else quantiles(self.lengths),
        }
        if self.centroids is not None:
            summary["centroids"] = {
                name: [_round(float(x)) for x in vector]
                for name, vector in sorted(self.centroids.items())
            }
        return summary


def quantiles(values: np.ndarray) -> dict[str, float] | None:
    """Count, mean and the 10/25/50/75/90th percentiles (numpy's linear interpolation)."""
    if len(values) == 0:
        return None
    points = np.percentile(values.astype(np.float64), [10, 25, 50, 75, 90])
    return {
        "n": len(values),
        "mean": _round(float(np.mean(values, dtype=np.float64))),
        **{f"p{q}": _round(float(v)) for q, v in zip((10, 25, 50, 75, 90), points, strict=True)},
    }


def _round(value: float) -> float:
    # Six digits: figures stable across platforms' last-bit float differences, so that the
    # same inputs give the same drift.json bytes.
    return round(value, 6)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest. Raises InputError naming the folder and what is missing."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; expected a zslabel output folder")
    missing = [name for name in (MANIFEST, LABELED) if not (folder / name).is_file()]
    if missing:
        hint = version_hint(folder, "compare")
        raise InputError(
            hint or f"{folder}: not a zslabel output folder: {' and '.join(missing)} missing"
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder / MANIFEST}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict) or "counts" not in manifest:
        raise InputError(f"{folder / MANIFEST}: not a zslabel manifest (no 'counts' key)")
    return manifest


def read_profile(folder: str | Path) -> Profile:
    """Read an output folder (manifest.json and labeled.parquet) into a :class:`Profile`.

    Raises InputError when the folder, its manifest or labeled.parquet is missing or unreadable,
    or labeled.parquet lacks a ``zs_*`` column.
    """
    path = Path(folder).expanduser().resolve()
    manifest = read_manifest(path)
    labels = [str(label["name"]) for label in manifest.get("labels", [])]
    profile = Profile(path, labels, centroids=_recorded_centroids(path))
    text_column = manifest.get("config", {}).get("input", {}).get("text_column")
    try:
        parquet = pq.ParquetFile(path / LABELED)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path / LABELED}: cannot read ({exc})") from None
    needed = [columns.LABEL, columns.CONFIDENCE, columns.MARGIN, columns.STATUS, columns.REASON]
    absent = [name for name in needed if name not in parquet.schema_arrow.names]
    if absent:
        raise InputError(f"{path / LABELED}: column(s) {absent} missing; not a zslabel output")
    has_text = bool(text_column) and text_column in parquet.schema_arrow.names
    abstained = int(manifest["counts"].get("status", {}).get("abstained", 0) or 0)
    stride = max(1, -(-abstained // TERM_ROWS))  # ceiling division
    reader = _Reader(profile, text_column if has_text else None, stride)
    for batch in parquet.iter_batches(BATCH_ROWS, columns=[*needed, *([text_column] * has_text)]):
        reader.add(batch)
    reader.finish()
    return profile


class _Reader:
    """Accumulates a profile batch by batch."""

    def __init__(self, profile: Profile, text_column: str | None, term_stride: int) -> None:
        self.profile = profile
        self.text_column = text_column
        self.term_stride = term_stride
        self.abstained_seen = 0
        self.confidence: list[np.ndarray] = []
        self.margin: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.hashes: list[np.ndarray] = []
        # scikit-learn's CountVectorizer word analyzer with this pattern, lowercase and no
        # n-grams, is exactly this; written out, a run does not import scikit-learn for it
        # (about 1 s, and 4 s on a loaded machine, paid by every scheduled run's process).
        pattern = re.compile(TOKEN_PATTERN)
        self.analyze: Callable[[str], Iterable[str]] = lambda text: pattern.findall(text.lower())
        if text_column is not None:
            profile.terms = Counter()

    def add(self, batch: pa.RecordBatch) -> None:
        profile = self.profile
        profile.rows += batch.num_rows
        status = batch.column(columns.STATUS)
        profile.status.update(_counts(status))
        invalid = pc.equal(status, "invalid")
        profile.reasons.update(_counts(pc.filter(batch.column(columns.REASON), invalid)))
        profile.classes.update(_counts(batch.column(columns.LABEL)))
        for name, kept in ((columns.CONFIDENCE, self.confidence), (columns.MARGIN, self.margin)):
            values = batch.column(name).drop_null().to_numpy(zero_copy_only=False)
            kept.append(values.astype(np.float32))
        if self.text_column is not None:
            self._add_texts(batch.column(self.text_column), status)

    def _add_texts(self, texts: pa.Array, status: pa.Array) -> None:
        texts = _as_text(texts)
        self.lengths.append(pc.utf8_length(texts.drop_null()).to_numpy().astype(np.int32))
        # Duplicates among the valid rows only: blank texts are counted as invalid already.
        valid = pc.filter(texts, pc.not_equal(status, "invalid")).drop_null().to_pylist()
        self.profile.valid_texts += len(valid)
        self.hashes.append(np.fromiter((_hash(t) for t in valid), np.uint64, len(valid)))
        abstained = pc.filter(texts, pc.equal(status, "abstained")).drop_null()
        offset = (-self.abstained_seen) % self.term_stride  # the next k-th row in this batch
        self.abstained_seen += len(abstained)
        sampled = abstained.to_pylist()[offset :: self.term_stride]
        self.profile.abstained_texts += len(sampled)
        assert self.profile.terms is not None
        for text in sampled:
            # Document frequency: a term counts once per row, however often the row repeats it.
            self.profile.terms.update(set(self.analyze(text)))

    def finish(self) -> None:
        profile = self.profile
        profile.confidence = _joined(self.confidence, np.float32)
        profile.margin = _joined(self.margin, np.float32)
        if self.text_column is not None:
            profile.lengths = _joined(self.lengths, np.int32)
            hashes = _joined(self.hashes, np.uint64)
            profile.duplicates = len(hashes) - len(np.unique(hashes))


def _as_text(texts: pa.Array) -> pa.Array:
    """The text column as a large_string array, whatever type the input gave it (an output
    keeps the input's own: dictionary-encoded, string_view, binary)."""
    if pa.types.is_dictionary(texts.type):
        texts = texts.dictionary_decode()
    kind = texts.type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        # A binary text column may hold undecodable bytes (invalid rows): replaced, not fatal.
        decoded = [None if b is None else b.decode("utf-8", "replace") for b in texts.to_pylist()]
        return pa.array(decoded, pa.large_string())
    return texts.cast(pa.large_string())


def _counts(array: pa.Array) -> dict[str, int]:
    counted = pc.value_counts(array.drop_null()).to_pylist()
    return {str(item["values"]): int(item["counts"]) for item in counted}


def _hash(text: str) -> int:
    # 64 bits: the chance that two of a million different texts collide is about 3e-8.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)


def _recorded_centroids(folder: Path) -> dict[str, np.ndarray] | None:
    """The class centroids an earlier drift.json of this folder recorded, if any."""
    try:
        recorded = json.loads((folder / DRIFT).read_text(encoding="utf-8"))
        centroids = recorded["profile"]["centroids"]
        return {str(k): np.asarray(v, dtype=np.float64) for k, v in centroids.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
