"""Image column values: encoded bytes, file paths, or Hugging Face ``{bytes, path}`` structs.

A shard's images are fingerprinted without decoding them (bytes by content, files by path, size
and modification time) and decoded only when a source scores them; a value that is null or cannot
be decoded makes its row invalid with a reason, never a dropped row.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

NULL_IMAGE = "null_image"
UNREADABLE_IMAGE = "unreadable_image"

ImageRef = bytes | Path


@dataclass(frozen=True)
class ShardImages:
    """One shard's image column: what can be decoded later, and which rows are null."""

    images: list[ImageRef]  # the non-null values, in row order
    valid_rows: list[int]  # their positions within the shard
    invalid: dict[int, str]  # position -> reason
    fingerprint: str


def is_image_type(dtype: pa.DataType) -> bool:
    """Binary (encoded image), string (a path), or a struct with a bytes or path field."""
    if pa.types.is_struct(dtype):
        names = {dtype.field(i).name for i in range(dtype.num_fields)}
        return bool(names & {"bytes", "path"})
    return bool(
        pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
    )


def image_ref(value: Any, base_dir: Path | None) -> ImageRef | None:
    """The bytes or the file behind one column value; None for a null value."""
    if isinstance(value, dict):  # datasets' Image feature: bytes win, path is a fallback
        value = value.get("bytes") or value.get("path")
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def read_shard_images(values: Iterable[Any], base_dir: Path | None) -> ShardImages:
    digest = hashlib.blake2b(digest_size=16)
    images: list[ImageRef] = []
    valid_rows: list[int] = []
    invalid: dict[int, str] = {}
    for position, value in enumerate(values):
        ref = image_ref(value, base_dir)
        digest.update(_stamp(ref))
        if ref is None:
            invalid[position] = NULL_IMAGE
        else:
            images.append(ref)
            valid_rows.append(position)
    return ShardImages(images, valid_rows, invalid, digest.hexdigest())


def _stamp(ref: ImageRef | None) -> bytes:
    """Length-prefixed content (bytes) or identity (files: path, size, mtime) of one value."""
    if ref is None:
        return b"\xff" * 8
    if isinstance(ref, bytes):
        raw = b"b" + ref
    else:
        try:
            stat = os.stat(ref)
            raw = f"p{ref}\x00{stat.st_size}\x00{stat.st_mtime_ns}".encode()
        except OSError:
            raw = f"p{ref}\x00missing".encode()
    return len(raw).to_bytes(8, "little") + raw


def load_image(ref: ImageRef) -> Any | None:
    """A decoded RGB ``PIL.Image``, or None when the file is missing or not a readable image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(ref) if isinstance(ref, bytes) else ref) as opened:
            return opened.convert("RGB")
    # Pillow reports corrupt or truncated data with many exception types (OSError, ValueError,
    # SyntaxError, struct.error, DecompressionBombError, ...): any of them means "unreadable".
    except Exception:
        return None


def require_pillow() -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise ImportError(
            "image sources need Pillow: pip install 'zslabel[clip]' (or pip install pillow)"
        ) from None
