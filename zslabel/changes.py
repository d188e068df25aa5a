"""What a rerun changed against the manifest it replaces: counts by status, accepted rows per
class, and the settings that differ. Pure functions of two manifests (JSON-ready dicts).

A rerun into the same output folder replaces every output; these figures are what the summary
and the report show so that the replacement is never silent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Settings that say where a run wrote, not what it did: a rerun into another folder (a copy of
# the outputs, a moved job) is not a change of the labels.
_IGNORED_SETTINGS = ("output.dir", "output.work_dir")
# Longest value shown in a change line; longer ones (a label's descriptions) are cut with "...".
_SHOWN_CHARS = 60


def compare(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The changes from ``previous`` to ``current`` (manifests as written to manifest.json).

    Returns only what differs, empty when nothing compared did: ``status`` (status -> change
    in rows), ``accepted`` (class -> change in accepted rows; a class in one manifest only
    counts 0 in the other), ``settings`` (dotted key -> [old, new]; the job's config, each
    source's model, the zslabel version and the input's fingerprint; ``None`` for a key the
    other lacks). Raises nothing: a manifest written by another version may lack any part,
    which then compares as empty.
    """
    changes: dict[str, Any] = {}
    status = _delta(_counts(previous, "status"), _counts(current, "status"))
    if status:
        changes["status"] = status
    accepted = _delta(_accepted(previous), _accepted(current))
    if accepted:
        changes["accepted"] = accepted
    both = _source_names(previous) & _source_names(current)
    before, after = _settings(previous, both), _settings(current, both)
    settings = {
        key: [before.get(key), after.get(key)]
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key) and key not in _IGNORED_SETTINGS
    }
    if settings:
        changes["settings"] = settings
    return changes


def version_settings(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The settings (``compare``'s ``settings``) an incremental version changed against the
    version before it; each version reads other files, so the input's fingerprint is left out."""
    settings = dict(compare(previous, current).get("settings") or {})
    settings.pop("input.fingerprint", None)
    return settings


def change_lines(changes: Mapping[str, Any]) -> list[str]:
    """The summary's lines for ``compare``'s result (or ``{"unreadable": reason}`` when the
    previous manifest could not be read); one line per part, none when nothing changed."""
    if "unreadable" in changes:
        return [f"replaced outputs whose manifest.json could not be read ({changes['unreadable']})"]
    lines = []
    if changes.get("status"):
        lines.append("rows by status: " + _signed(changes["status"]))
    if changes.get("accepted"):
        lines.append("accepted per class: " + _signed(changes["accepted"]))
    for key, (old, new) in (changes.get("settings") or {}).items():
        lines.append(f"{key}: {_shown(old)} -> {_shown(new)}")
    return lines


def _counts(manifest: Mapping[str, Any], part: str) -> dict[str, int]:
    counted = (manifest.get("counts") or {}).get(part) or {}
    return {name: int(n) for name, n in counted.items() if isinstance(n, int)}


def _accepted(manifest: Mapping[str, Any]) -> dict[str, int]:
    classes = (manifest.get("counts") or {}).get("classes") or {}
    return {name: int(c.get("accepted", 0)) for name, c in classes.items() if isinstance(c, dict)}


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """``after - before`` per key, in ``after``'s order then ``before``'s; zeros left out."""
    keys = [*after, *(k for k in before if k not in after)]
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)
    }


def _source_names(manifest: Mapping[str, Any]) -> set[str]:
    sources = (manifest.get("config") or {}).get("sources") or []
    return {str(s.get("name")) for s in sources if isinstance(s, dict)}


def _settings(manifest: Mapping[str, Any], both: set[str]) -> dict[str, Any]:
    """The manifest's settings as dotted keys: the config (labels keyed by name, so that adding
    one label is one change; a source in ``both`` manifests by setting, so that its temperature
    is one change, not the whole list, and any other source whole, so that adding one is one
    change), each source's model, the zslabel version, the input's fingerprint."""
    config = dict(manifest.get("config") or {})
    labels = config.pop("labels", None) or []
    sources = config.pop("sources", None) or []
    flat = _flatten(config, "")
    for label in labels:
        if isinstance(label, dict) and "name" in label:
            described = {k: v for k, v in label.items() if k != "name"}
            flat[f"labels.{label['name']}"] = _compact(described)
    for source in sources:
        if isinstance(source, dict):
            settings = {k: v for k, v in source.items() if k != "name"}
            key = f"sources.{source.get('name')}"
            if str(source.get("name")) in both:
                flat.update(_flatten(settings, key))
            else:
                flat[key] = _compact(settings)
    for source in manifest.get("sources") or []:
        model = source.get("model") if isinstance(source, dict) else None
        if isinstance(model, dict):
            flat[f"model.{source.get('name')}"] = " ".join(
                str(model[k]) for k in ("name", "revision") if model.get(k)
            )
    if manifest.get("zslabel_version") is not None:
        flat["zslabel_version"] = manifest["zslabel_version"]
    fingerprint = (manifest.get("input") or {}).get("fingerprint")
    if fingerprint is not None:
        flat["input.fingerprint"] = fingerprint
    return flat


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Nested dicts as ``a.b.c`` keys; lists and scalars are leaves (compared whole)."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: _compact(value)}


def _compact(value: Any) -> Any:
    """Scalars as they are; containers as their JSON text, so that leaves compare by value."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def _signed(delta: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n:+,}" for name, n in delta.items())


def _shown(value: Any) -> str:
    text = "(absent)" if value is None else str(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
