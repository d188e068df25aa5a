"""The ``labels`` section: the Label model and the checks that turn what a job file may write
(names, name -> description(s), name -> {descriptions, examples}) into canonical labels.

Label errors carry where in ``labels`` they are (:class:`LabelError`), so that the message names
the label and key, and the YAML line, rather than just ``labels``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from zslabel.config.base import StrictModel
from zslabel.labelnames import canonical_label, visible


class Label(StrictModel):
    """A class name, the descriptions a source may use to recognise it, and optional examples."""

    name: str
    descriptions: tuple[str, ...]
    examples: tuple[str, ...] = ()


class LabelError(ValueError):
    """A problem with one label, located at ``at`` under ``labels`` (an index or a name)."""

    def __init__(self, message: str, *at: int | str) -> None:
        super().__init__(message)
        self.at = at


class SettingError(LabelError):
    """A problem a whole-job check finds, located at ``at`` from the job's top
    (``"selection", "per_class_top_fraction"``), so that its message gets the key's line."""


def label_items(raw: Any) -> list[tuple[str, dict[str, list[str]]]]:
    """Names, name -> description(s), or name -> {descriptions, examples}, as
    (name, {"descriptions": [...], "examples": [...]}); names in Unicode NFC."""
    if isinstance(raw, str):
        raw = raw.split(",")
    if isinstance(raw, Mapping):
        pairs = [(name, name, described) for name, described in raw.items()]
    elif isinstance(raw, Sequence):
        # Names, or {name, descriptions, examples} records: what model_dump() gives back.
        pairs = [
            (i, item["name"], {k: v for k, v in item.items() if k != "name"})
            if isinstance(item, Mapping) and "name" in item
            else (i, item, None)
            for i, item in enumerate(raw)
        ]
    else:
        raise ValueError("labels must be a list of names or a mapping of name -> description(s)")
    items: list[tuple[str, dict[str, list[str]]]] = []
    seen: dict[str, object] = {}
    for at, name, described in pairs:
        if not isinstance(name, str) or not name.strip():
            raise LabelError(f"label names must be non-empty strings, got {name!r}", at)
        canonical = canonical_label(name)
        if canonical in seen:
            first = str(seen[canonical])
            written = "" if first == name else f" (written {visible(first)} and {visible(name)})"
            raise LabelError(f"duplicate label {canonical!r}{written}", at)
        seen[canonical] = name
        try:
            items.append((canonical, _described(canonical, described)))
        except LabelError as exc:  # located within the label: its key
            raise LabelError(str(exc), at, *exc.at) from None
        except ValueError as exc:
            raise LabelError(str(exc), at) from None
    if len(items) < 2:
        raise ValueError(f"at least 2 labels are needed, got {len(items)}")
    return items


def _described(name: str, described: Any) -> dict[str, list[str]]:
    if isinstance(described, Mapping):
        allowed = ["descriptions", "examples"]
        unknown = set(described) - set(allowed)
        if unknown:
            first = min(unknown, key=str)
            hint = difflib.get_close_matches(str(first), allowed, n=1)
            suggestion = f"; did you mean {hint[0]}?" if hint else f"; use {' or '.join(allowed)}"
            raise LabelError(f"label {name!r}: unknown key(s) {sorted(unknown)}{suggestion}", first)
        descriptions, examples = described.get("descriptions"), described.get("examples")
    else:
        descriptions, examples = described, None
    return {
        # Intent-style names ("card_arrival") read better to a text encoder as words.
        "descriptions": (
            [name.replace("_", " ")]
            if descriptions is None
            else _texts(name, descriptions, "descriptions", keyed=isinstance(described, Mapping))
        ),
        "examples": _texts(name, examples, "examples", keyed=True) if examples else [],
    }


def canonical_keys(keyed: Any) -> Any:
    """A mapping keyed by label names, its keys in the form labels have (NFC, stripped)."""
    if not isinstance(keyed, Mapping):
        return keyed
    return {canonical_label(k) if isinstance(k, str) else k: v for k, v in keyed.items()}


def _texts(name: str, given: Any, what: str, *, keyed: bool) -> list[str]:
    """``given`` as a list of non-empty texts; errors located at the item (under the ``what``
    key where the label is a mapping of keys)."""
    where = (what,) if keyed else ()
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, Sequence) or not given:
        raise LabelError(f"label {name!r}: give one text or a non-empty list of {what}", *where)
    for i, text in enumerate(given):
        if not isinstance(text, str) or not text.strip():
            raise LabelError(f"label {name!r}: {what} must be non-empty strings", *where, i)
    return [text.strip() for text in given]
