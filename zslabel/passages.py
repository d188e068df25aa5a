"""Passages that many texts share: e-mail footers, disclaimers, signatures, templates.

A passage repeated across rows pulls their embeddings together whatever else the rows say: in a
new user's trial, 60 of 1,200 help-desk e-mails ended in a confidentiality footer that made up
most of their text, the prompts gave them ``security``, and refinement (which moves a label's
reference toward its most confident rows) made that footer the label's prototype: 59 footer
rows labeled ``security`` at 0.997 or more, 47 accepted, 1 of them right. ``zslabel check``
looks for such passages on its sample so that they can be removed before a long run.

A passage is a sentence (text up to ``.``, ``!`` or ``?`` and a space, or a line end) of at
least :data:`MIN_CHARS` characters, compared with runs of white space collapsed; it is repeated
when at least :data:`MIN_ROWS` texts, and at least :data:`MIN_SHARE` of them, hold it. Short
sentences ("Thanks for your help.") are common to unrelated texts and say little, so they are
not counted. The thresholds are a judgement, not a measurement: on the full public sets (AG News
7,600 rows, SST-2 1,821, BANKING77 3,080) no sentence passes them (docs/label-quality.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIN_CHARS = 40
MIN_ROWS = 5
MIN_SHARE = 0.02

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[\r\n]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RepeatedPassages:
    """``passages``: the repeated sentences, most widely shared (then longest) first, each with
    the number of texts that hold it; ``rows``: texts holding any of them; ``text_share``: in
    those texts, the mean share of characters the repeated sentences take (every occurrence
    counted), 0 to 1; ``texts``: the texts looked at."""

    passages: list[tuple[str, int]]
    rows: int
    text_share: float
    texts: int


def sentences(text: str) -> list[str]:
    """``text``'s sentences with white space collapsed, empty ones left out."""
    parts = (_SPACES.sub(" ", part).strip() for part in _SENTENCE_END.split(text))
    return [part for part in parts if part]


def repeated_passages(
    texts: Sequence[str],
    *,
    min_chars: int = MIN_CHARS,
    min_rows: int = MIN_ROWS,
    min_share: float = MIN_SHARE,
) -> RepeatedPassages:
    """The sentences of at least ``min_chars`` characters that at least ``min_rows`` and
    ``min_share`` of ``texts`` hold (a text holding one several times counts once)."""
    split = [sentences(text) for text in texts]
    counts: Counter[str] = Counter()
    for parts in split:
        counts.update({part for part in parts if len(part) >= min_chars})
    floor = max(min_rows, math.ceil(min_share * len(texts)))
    frequent = {part: n for part, n in counts.items() if n >= floor}
    ranked = sorted(frequent.items(), key=lambda item: (-item[1], -len(item[0]), item[0]))
    shares = list(_shares(split, frequent))
    return RepeatedPassages(
        passages=ranked,
        rows=len(shares),
        text_share=sum(shares) / len(shares) if shares else 0.0,
        texts=len(texts),
    )


def _shares(split: Iterable[list[str]], frequent: dict[str, int]) -> Iterable[float]:
    """Per text holding a frequent sentence, the share of its characters they take."""
    for parts in split:
        repeated = sum(len(part) for part in parts if part in frequent)
        if repeated:
            yield repeated / sum(len(part) for part in parts)


def describe(found: RepeatedPassages, shown: int = 70) -> str | None:
    """One line for ``zslabel check`` and the run's summary (None when nothing is repeated):
    the most shared passage, how many texts hold repeated passages and how much of their text
    they are."""
    if not found.passages:
        return None
    top, rows = found.passages[0]
    quoted = top if len(top) <= shown else top[: shown - 3] + "..."
    if found.text_share > 0.98:  # whole texts, not a passage within them
        return (
            f"Repeated texts: {found.rows:,} of {found.texts:,} sampled texts are copies of "
            f"others, such as {quoted!r} ({rows:,} texts). Copies weigh as many rows wherever "
            "rows are counted (refinement's prototypes, class quotas, splits): deduplicate the "
            "input unless each copy is a row of its own"
        )
    others = len(found.passages) - 1
    more = f" and {others:,} other repeated sentence(s)" if others else ""
    return (
        f"Repeated passages: {found.rows:,} of {found.texts:,} sampled texts share sentences "
        f"such as {quoted!r} ({rows:,} texts){more}, {100 * found.text_share:.0f} % of their "
        "text. A passage many rows share pulls their embeddings together, and refinement can "
        "make it a label's prototype: remove footers, disclaimers and templates from the text "
        "column, and label again (docs/label-quality.md, 'Repeated passages')"
    )
