"""Validation errors as one line a person can act on: each names its key
(``selection.min_confidence``, ``labels[2].examples[0]``) and, for a job file, its line; a
value that came from a command-line flag names the flag instead (``--per-class-top-fraction
1.5: must be <= 1``), and a mistyped key gets the closest real key of its section.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from zslabel.config.labels import LabelError
from zslabel.config.sources import SOURCE_KINDS
from zslabel.jobyaml import line_of


def describe_validation_error(
    exc: ValidationError,
    origin: str,
    root: yaml.Node | None,
    flags: Mapping[str, str] | None = None,
) -> str:
    """``exc`` as one line: ``ORIGIN: KEY, line N: MESSAGE; ...``. ``flags`` maps a dotted key
    that a command-line flag set to the flag as typed (``--min-margin 2``); an error at or
    under such a key is worded ``FLAG: MESSAGE``, without the origin, since the file did not
    say it."""
    in_file, from_flags = [], []
    for error in exc.errors():
        path = yaml_path(error)
        key = _dotted(path)
        flag = _flag_for(key, flags or {})
        if flag is not None:
            from_flags.append(f"{flag}: {_constraint(error) or _message(error)}")
            continue
        line = line_of(root, path) if root is not None else None
        where = f", line {line}" if line else ""
        # Whole-job checks name their keys in the message itself.
        in_file.append(f"{key}{where}: {_message(error)}" if key else _message(error))
    parts = [f"{origin}: " + "; ".join(in_file)] if in_file else []
    return "; ".join(parts + from_flags)


def yaml_path(error: Any) -> list[Any]:
    """Where in the job file an error is: pydantic's location less the source kind it adds for
    the discriminated union, plus the label or item a labels check names."""
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "sources" and isinstance(loc[1], int) and loc[2] in SOURCE_KINDS:
        del loc[2]
    loc = [part for part in loc if part != "[key]"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, LabelError):
        loc += list(cause.at)
    return loc


def known_keys(loc: Sequence[Any]) -> list[str]:
    """The keys the job file allows beside the last part of pydantic's location ``loc``
    (``("selection", "min_confidance")`` -> the fields of the selection section); empty where
    the location does not lead through the job's models."""
    from zslabel.config.job import JobConfig  # job imports this module

    models: list[type[BaseModel]] = [JobConfig]
    for part in loc[:-1]:
        if isinstance(part, int) or part == "[key]":
            continue
        # A discriminated union's tag (sources[0].embedding): keep the member of that kind.
        tagged = [m for m in models if _kind_of(m) == part]
        if tagged and not any(part in m.model_fields for m in models):
            models = tagged
            continue
        models = [
            inner
            for model in models
            if part in model.model_fields
            for inner in _models_in(model.model_fields[part].annotation)
        ]
    return sorted({key for model in models for key in model.model_fields})


def _message(error: Any) -> str:
    kind = error["type"]
    if kind in ("union_tag_not_found", "union_tag_invalid") or _is_bare_source(error):
        return _source_kind_message(error)
    if kind in ("model_type", "dict_type") and error.get("input", "") is None:
        # `selection:` with nothing after it: its keys were typed at the wrong indent.
        return "has no value; indent its keys under it, or remove it"
    if kind != "extra_forbidden":
        return str(error["msg"]).removeprefix("Value error, ")
    typed = str(error["loc"][-1])
    # A key typed at the wrong indent (`model:` dedented out of its source) is a real key of
    # another section: name that section, before any look-alike of this one (a top-level
    # `device` is no misspelt `review`).
    here = _section(yaml_path(error)[:-1])
    homes = sections_with(typed)
    if here in homes:  # a key of another kind of source: `model` on a rules source
        kinds = [kind for kind, keys in _source_keys().items() if typed in keys]
        return f"unknown key for this kind of source; {typed} is a key of {', '.join(kinds)}"
    if homes:
        return f"unknown key here; {typed} is a key of {' or '.join(homes)} (check its indent)"
    match = difflib.get_close_matches(typed, known_keys(error["loc"]), n=1)
    return f"unknown key; did you mean {match[0]}?" if match else "unknown key"


def _section(loc: Sequence[Any]) -> str:
    """A location as :func:`sections_with` names sections: ``sources[0]`` as ``sources[]``."""
    out = ""
    for part in loc:
        out += "[]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _source_keys() -> dict[str, set[str]]:
    """Each source kind's keys."""
    from zslabel.config.job import JobConfig  # job imports this module

    members = _models_in(JobConfig.model_fields["sources"].annotation)
    return {str(_kind_of(model)): set(model.model_fields) for model in members}


def _source_kind_message(error: Any) -> str:
    """A source without a valid ``kind``: pydantic says "Unable to extract tag using
    discriminator 'kind'"; say which key is missing and what it may be."""
    kinds = ", ".join(SOURCE_KINDS)
    given = error.get("input")
    typed = (error.get("ctx") or {}).get("tag")
    if typed is not None:
        match = difflib.get_close_matches(str(typed), SOURCE_KINDS, n=1)
        hint = f"; did you mean {match[0]}?" if match else ""
        return f"kind {typed!r} is not a source kind ({kinds}){hint}"
    if not isinstance(given, Mapping):
        example = f" (- kind: {given})" if str(given) in SOURCE_KINDS else ""
        return f"a source is a mapping with a kind: one of {kinds}{example}; got {given!r:.60}"
    named = [key for key in ("type", "source", "name") if str(given.get(key)) in SOURCE_KINDS]
    hint = f"; {named[0]}: {given[named[0]]} should be kind: {given[named[0]]}" if named else ""
    return f"missing key kind: one of {kinds}{hint}"


def _is_bare_source(error: Any) -> bool:
    """A source written as a bare word or list (``- embedding``) instead of a mapping."""
    loc = error["loc"]
    return (
        error["type"] == "model_attributes_type"
        and len(loc) == 2
        and loc[0] == "sources"
        and isinstance(loc[1], int)
    )


def sections_with(key: str) -> list[str]:
    """The dotted sections of the job file where ``key`` is a key (``model`` ->
    ``sources[]``, ``student``), in the order the job's models declare them."""
    from zslabel.config.job import JobConfig  # job imports this module

    found: list[str] = []
    queue: list[tuple[str, type[BaseModel]]] = [("", JobConfig)]
    seen: set[type[BaseModel]] = set()
    while queue:
        section, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        if key in model.model_fields and section and section not in found:
            found.append(section)
        for name, field in model.model_fields.items():
            inner = _models_in(field.annotation)
            many = typing.get_origin(field.annotation) in (tuple, list)
            place = f"{section}.{name}" if section else name
            queue += [(place + ("[]" if many else ""), sub) for sub in inner]
    return found


# Pydantic's bound checks, worded as the bound: "must be <= 1".
_BOUNDS = {
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
}


def _constraint(error: Any) -> str | None:
    bound = _BOUNDS.get(error["type"])
    if bound is None:
        return None
    name, operator = bound
    limit = (error.get("ctx") or {}).get(name)
    return None if limit is None else f"must be {operator} {limit:g}"


def _flag_for(key: str, flags: Mapping[str, str]) -> str | None:
    """The flag that set ``key`` or a key it lies under (``labels[1]`` under ``labels``)."""
    for dotted, flag in flags.items():
        if key == dotted or key.startswith((f"{dotted}.", f"{dotted}[")):
            return flag
    return None


def _kind_of(model: type[BaseModel]) -> object:
    field = model.model_fields.get("kind")
    return None if field is None else field.default


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's annotation holds: ``LabelSpec | None``, ``tuple[X, ...]``,
    ``Annotated[Union[...], ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if not isinstance(annotation, types.UnionType) and typing.get_origin(annotation) is None:
        return []
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
