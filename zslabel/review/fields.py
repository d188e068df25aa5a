"""The names the review files share with Label Studio and Argilla, and how a cell becomes text.

Writers and readers of both tools use these, so an export and its import agree on them.
"""

from __future__ import annotations

import unicodedata

LABEL_STUDIO_FILE = "review.label_studio.json"
# The Label Studio labeling config the tasks file is written for.
LABEL_STUDIO_CONFIG_FILE = "review.label_studio.xml"
ARGILLA_FILE = "review.argilla.jsonl"
HUMAN_REVIEW = "human_review"
# Names in the review tools: the Label Studio control / Argilla question, and the text field.
QUESTION = "label"
TEXT_FIELD = "text"
KEY_FIELD = "zs_key"
# The row's review priority (zslabel.review.export.review_priority): Label Studio task data,
# Argilla record metadata.
PRIORITY_FIELD = "zs_priority"


def as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def rounded_score(value: object) -> float | None:
    return None if value is None else round(float(str(value)), 4)


def same_text(reviewed: str | None, value: object) -> bool:
    """Whether a review's text, as the review files wrote it, is a row's text ``value`` (compared
    in NFC); a review without a text is taken as of any."""
    if reviewed is None:
        return True
    return unicodedata.normalize("NFC", reviewed) == unicodedata.normalize("NFC", as_text(value))
