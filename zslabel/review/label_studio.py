"""Label Studio: the task written for each row to review, and the answers read from an export."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from zslabel import columns
from zslabel.errors import InputError
from zslabel.review.fields import (
    KEY_FIELD,
    PRIORITY_FIELD,
    QUESTION,
    TEXT_FIELD,
    optional_text,
    rounded_score,
)


def labeling_config(labels: Sequence[str]) -> str:
    """The Label Studio labeling config for the tasks :func:`label_studio_task` writes: the text
    and one single-choice ``Choice`` per label, each name XML-escaped (``R&D`` is
    ``R&amp;D``; a hand-typed config with a bare ``&`` is refused by Label Studio)."""
    choices = "".join(f"\n    <Choice value={quoteattr(label)}/>" for label in labels)
    return (
        f'<View>\n  <Text name="{TEXT_FIELD}" value="${TEXT_FIELD}"/>\n'
        f'  <Choices name="{QUESTION}" toName="{TEXT_FIELD}" choice="single">{choices}\n'
        "  </Choices>\n</View>\n"
    )


def label_studio_task(
    row: Mapping[str, Any],
    key: str,
    text: str,
    sources: list[tuple[str, str, str]],
    method: str,
    priority: float | None = None,
) -> dict[str, Any]:
    """A Label Studio task: ``data`` for a ``<Text name="text" value="$text"/>`` and a
    ``<Choices name="label" toName="text">`` control, with one prediction per verdict.

    ``priority`` (:func:`zslabel.review.export.review_priority`) goes into ``data`` as
    ``zs_priority``: Label Studio keeps data fields the labeling config does not use, and its
    Data Manager can sort the tasks by them."""

    def prediction(version: str, label: str, score: object) -> dict[str, Any]:
        return {
            "model_version": version,
            "score": rounded_score(score),
            "result": [
                {
                    "from_name": QUESTION,
                    "to_name": TEXT_FIELD,
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ],
        }

    predictions = []
    if row[columns.LABEL] is not None:
        predictions.append(
            prediction(f"zslabel-{method}", row[columns.LABEL], row[columns.CONFIDENCE])
        )
    for name, label_col, conf_col in sources:
        if row[label_col] is not None:
            predictions.append(prediction(f"zslabel-{name}", row[label_col], row[conf_col]))
    return {
        "data": {
            TEXT_FIELD: text,
            KEY_FIELD: key,
            "zs_row": row[columns.ROW],
            "zs_status": row[columns.STATUS],
            "zs_reason": row[columns.REASON],
            **({PRIORITY_FIELD: priority} if priority is not None else {}),
        },
        "predictions": predictions,
    }


def from_label_studio(
    task: Mapping[str, Any], path: Path, where: str
) -> tuple[object, str | None, list[str]]:
    """The key, text and answers of one task of a Label Studio export."""
    data = task.get("data") or {}
    answers: list[str] = []
    for annotation in task.get("annotations") or []:
        if not isinstance(annotation, Mapping) or annotation.get("was_cancelled"):
            continue
        choices = [
            result
            for result in annotation.get("result") or []
            if isinstance(result, Mapping) and result.get("type") == "choices"
        ]
        # Our control is "label"; a project set up with another name has one choices control.
        named = [r for r in choices if r.get("from_name") == QUESTION] or choices[:1]
        for result in named:
            picked = (result.get("value") or {}).get("choices") or []
            if len(picked) > 1:
                raise InputError(
                    f"{path}: {where} (row key {str(data.get(KEY_FIELD))!r}): expected one choice "
                    f"per annotation, got {picked!r} "
                    "(a multi-choice control: the labeling config zslabel writes is "
                    'choice="single")'
                )
            # No choice is no answer, as an annotation without a result is.
            answers.extend(str(choice) for choice in picked)
    return data.get(KEY_FIELD), optional_text(data.get(TEXT_FIELD)), answers
