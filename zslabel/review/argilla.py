"""Argilla 2.x: the record written for each row to review, and the answers read from an export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel import columns
from zslabel.review.fields import (
    KEY_FIELD,
    PRIORITY_FIELD,
    QUESTION,
    TEXT_FIELD,
    optional_text,
    rounded_score,
)


def argilla_record(
    row: Mapping[str, Any], key: str, text: str, method: str, priority: float | None = None
) -> dict[str, Any]:
    """An Argilla 2.x record as ``Record.to_dict`` writes it (``Record.from_dict`` reads it) for
    a dataset with a text field ``text`` and a label question ``label``; ``priority``
    (:func:`zslabel.review.export.review_priority`) is the metadata ``zs_priority``, a
    ``FloatMetadataProperty`` the Argilla UI can sort and filter by."""
    suggestions = {}
    if row[columns.LABEL] is not None:
        suggestions[QUESTION] = {
            "value": row[columns.LABEL],
            "score": rounded_score(row[columns.CONFIDENCE]),
            "agent": f"zslabel-{method}",
        }
    return {
        "id": key,
        "fields": {TEXT_FIELD: text},
        # Argilla metadata values are terms or numbers: a missing reason is left out.
        "metadata": {
            name: value
            for name, value in (
                (KEY_FIELD, key),
                ("zs_row", row[columns.ROW]),
                ("zs_status", row[columns.STATUS]),
                ("zs_reason", row[columns.REASON]),
                (PRIORITY_FIELD, priority),
            )
            if value is not None
        },
        "suggestions": suggestions,
        "responses": {},
        "vectors": {},
    }


def from_argilla(record: Mapping[str, Any]) -> tuple[object, str | None, list[str]]:
    """The key, text and answers of one record of an Argilla export; ValueError for a response
    with several choices."""
    metadata = record.get("metadata") or {}
    key = metadata.get(KEY_FIELD, record.get("id"))
    responses = (record.get("responses") or {}).get(QUESTION) or []
    # Drafts and discards are no answer. The SDK's own export (Record.to_dict, which
    # dataset.records.to_json writes) drops each response's status but keeps the record's: there
    # a response counts only on a completed record (one with its submitted responses).
    status = "submitted" if record.get("status", "completed") == "completed" else None
    answers = []
    for response in responses:
        if not isinstance(response, Mapping) or response.get("value") is None:
            continue
        if response.get("status", status) != "submitted":
            continue
        value = response["value"]
        if not isinstance(value, list):
            answers.append(str(value))
        elif len(value) > 1:
            raise ValueError(
                f"expected one choice per response, got {value!r} (a multi-label question: "
                "the dataset zslabel writes asks for one label)"
            )
        else:  # an empty list is no answer, as in a Label Studio export
            answers.extend(str(choice) for choice in value)
    return key, optional_text((record.get("fields") or {}).get(TEXT_FIELD)), answers
