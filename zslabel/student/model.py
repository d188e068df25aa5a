"""A saved student: a linear head, the encoder its features come from, and where it came from.

A student folder holds ``student.json`` (labels, the embedding model's identity, the training
set's manifest hash, the settings), ``head.npz`` and, for a fine-tuned student, ``encoder/``.
Loading re-resolves the embedding model and refuses one whose weights differ from those the
head was trained on: a head over another model's embeddings predicts garbage without an error.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.encoder import TextEncoder, shared_encoder
from zslabel.errors import InputError, ModelError, OutputError, ZslabelWarning
from zslabel.export import file_sha256
from zslabel.models import resolve_model
from zslabel.student.embed import embedding_identity
from zslabel.student.head import HEAD_FILE, LogisticHead
from zslabel.student.staleness import staleness
from zslabel.version import __version__

METADATA = "student.json"
ENCODER_DIR = "encoder"
FORMAT = "zslabel-student"
FORMAT_VERSION = 1
# Student kinds that train the encoder, so a saved student carries its own in ENCODER_DIR.
TUNED_KINDS = ("finetune", "setfit")


class StudentModel:
    """A fitted student ready to predict; ``metadata`` is what ``student.json`` records."""

    def __init__(
        self,
        head: LogisticHead,
        encoder: TextEncoder,
        *,
        labels: Sequence[str],
        kind: str,
        model_request: str,
        text_column: str,
        training: dict[str, Any],
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        adoption: dict[str, Any] | None = None,
    ) -> None:
        self.head = head
        self.encoder = encoder
        self.labels = tuple(labels)
        self.kind = kind
        self.model_request = model_request  # what to resolve the encoder from: default, path, id
        self.text_column = text_column
        self.training = training
        # How texts become features; training passes a cached embedder of the same encoder.
        self.embed = embed or encoder.encode
        # Whether training adopted it over the teacher (zslabel.student.adoption); None for a
        # student saved before adoption was decided.
        self.adoption = adoption

    @property
    def adopted(self) -> bool | None:
        return None if self.adoption is None else bool(self.adoption["adopted"])

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "zslabel_version": __version__,
            "kind": self.kind,
            "labels": list(self.labels),
            "text_column": self.text_column,
            "embedding": {**embedding_identity(self.encoder), "request": self.model_request},
            "training": self.training,
            **(
                {"adopted": self.adopted, "adoption": self.adoption}
                if self.adoption is not None
                else {}
            ),
        }

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) probabilities over ``labels``."""
        return self.head.predict_proba(self.embed(texts))

    def save(self, folder: str | Path) -> Path:
        """Write the student to ``folder`` atomically (a previous one there is replaced)."""
        target = Path(folder)
        staging = target.parent / f".{target.name}.staging-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
            self.head.save(staging)
            metadata = self.metadata
            if self.kind in TUNED_KINDS:
                shutil.copytree(self.encoder.model.path, staging / ENCODER_DIR)
                metadata["embedding"]["request"] = ENCODER_DIR
            metadata["head_sha256"] = file_sha256(staging / HEAD_FILE)
            text = json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False)
            (staging / METADATA).write_text(text + "\n", encoding="utf-8")
            _swap_into_place(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputError(f"{target}: cannot write the student model ({exc})") from None
        return target

    @classmethod
    def load(
        cls, folder: str | Path, *, embedding_model: str | None = None, device: str = "auto"
    ) -> StudentModel:
        """Load a saved student; ``embedding_model`` points at its embedding model elsewhere
        (a moved local folder). Either way the weights must be the ones it was trained on.

        Raises ModelError for other weights or a damaged head. Warns (:class:`ZslabelWarning`)
        when the output folder it was trained on has been labeled again since
        (:func:`zslabel.student.staleness.staleness`)."""
        folder = Path(folder)
        metadata = read_metadata(folder)
        recorded = metadata["embedding"]
        if metadata["kind"] in TUNED_KINDS:
            request = str(folder / ENCODER_DIR)
        else:
            request = embedding_model or str(recorded["request"])
        resolved = resolve_model(request)
        if resolved.weights_sha256 != recorded["weights_sha256"]:
            raise ModelError(
                f"{folder}: the student was trained on embeddings of {recorded['model']!r} "
                f"(weights sha256 {recorded['weights_sha256'][:12]}), but {request!r} has other "
                f"weights ({resolved.weights_sha256[:12]}); its predictions would be meaningless. "
                "Give the model it was trained with (--embedding-model)"
            )
        if file_sha256(folder / HEAD_FILE) != metadata.get("head_sha256"):
            raise ModelError(f"{folder / HEAD_FILE}: does not match {METADATA} (damaged or edited)")
        head = LogisticHead.load(folder)
        if head.coef_.shape[0] != len(metadata["labels"]):
            raise ModelError(f"{folder}: {HEAD_FILE} does not have one row per label")
        encoder = shared_encoder(
            resolved, None, int(recorded["max_length"]), str(recorded["pooling"]), device
        )
        stale = staleness(metadata["training"])
        if stale:
            warnings.warn(f"{folder}: {stale}", ZslabelWarning, stacklevel=2)
        return cls(
            head,
            encoder,
            labels=metadata["labels"],
            kind=str(metadata["kind"]),
            model_request=request,
            text_column=str(metadata["text_column"]),
            training=dict(metadata["training"]),
            adoption=metadata.get("adoption"),
        )


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA
    if not path.is_file():
        raise InputError(f"{path}: not found; {folder} is not a student saved by 'zslabel train'")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise InputError(f"{path}: not a zslabel student")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path}: format version {metadata.get('format_version')}, this zslabel reads "
            f"{FORMAT_VERSION}"
        )
    return metadata


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging``: a reader sees the old folder or the new one."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
