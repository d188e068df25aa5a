"""Passages that many texts share: e-mail footers, disclaimers, signatures, templates.

A passage repeated across rows pulls their embeddings together whatever else the rows say: in a
new user's trial, 60 of 1,200 help-desk e-mails ended in a confidentiality footer that made up
most of their text, the prompts gave them ``security``, and refinement (which moves a label's
reference toward its most confident rows) made that footer the label's prototype: 59 footer
rows labeled ``security`` at 0.997 or more, 47 accepted, 1 of them right. ``zslabel check``
looks for such passages on its sample so that they can be removed before a long run.

Whole texts repeated (``refund pls`` written by 21 customers, a record sent twice) are counted
apart, as copies: a sentence shorter than :data:`MIN_CHARS` is no passage, and a trial's 540 of
858 rows that were copies of another were reported as 38. Passages are looked for among the
distinct texts, so that copies of one text are not mistaken for a passage.

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
    the number of distinct texts that hold it; ``rows``: distinct texts holding any of them;
    ``text_share``: in those texts, the mean share of characters the repeated sentences take
    (every occurrence counted), 0 to 1; ``texts``: the distinct texts looked at.

    ``sampled``: all texts looked at, copies included; ``copies``: texts equal (white space
    collapsed) to at least one other; ``copied``: those texts, most repeated first, each with
    its number of copies."""

    passages: list[tuple[str, int]]
    rows: int
    text_share: float
    texts: int
    sampled: int = 0
    copies: int = 0
    copied: tuple[tuple[str, int], ...] = ()

    @property
    def extra_copies(self) -> int:
        """Rows beyond the first of each repeated text: what deduplicating would remove."""
        return self.copies - len(self.copied)


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
    ``min_share`` of the distinct ``texts`` hold (a text holding one several times counts
    once), and the texts that are copies of one another."""
    keys = [_SPACES.sub(" ", text).strip() for text in texts]
    collapsed = Counter(keys)
    repeated = sorted(
        ((text, n) for text, n in collapsed.items() if n > 1 and text),
        key=lambda item: (-item[1], item[0]),
    )
    # Each distinct text once, as first written: its line ends still end sentences.
    first: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        first.setdefault(key, text)
    texts = list(first.values())
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
        sampled=sum(collapsed.values()),
        copies=sum(n for _, n in repeated),
        copied=tuple(repeated),
    )


def _shares(split: Iterable[list[str]], frequent: dict[str, int]) -> Iterable[float]:
    """Per text holding a frequent sentence, the share of its characters they take."""
    for parts in split:
        repeated = sum(len(part) for part in parts if part in frequent)
        if repeated:
            yield repeated / sum(len(part) for part in parts)


def describe(found: RepeatedPassages, shown: int = 70, *, sampled: bool = True) -> str | None:
    """One line for ``zslabel check`` and the run's summary (None when nothing is repeated):
    the most shared passage, how many texts hold repeated passages and how much of their text
    they are. ``sampled``: the texts are a sample of the input, not all of it."""
    if not found.passages:
        return None
    top, rows = found.passages[0]
    others = len(found.passages) - 1
    more = f" and {others:,} other repeated sentence(s)" if others else ""
    distinct = " distinct" if found.copies else ""
    return (
        f"Repeated passages: {found.rows:,} of {found.texts:,}{distinct} "
        f"{_texts(sampled)} share sentences such as {_quote(top, shown)} ({rows:,} texts){more}, "
        f"{100 * found.text_share:.0f} % of their text. A passage many rows share pulls their "
        "embeddings together, and refinement can make it a label's prototype: remove footers, "
        "disclaimers and templates from the text column, and label again "
        "(docs/label-quality.md, 'Repeated passages')"
    )


def describe_copies(
    found: RepeatedPassages,
    shown: int = 40,
    *,
    sampled: bool = True,
    min_rows: int = MIN_ROWS,
    min_share: float = MIN_SHARE,
) -> str | None:
    """One line on texts that are copies of one another, when deduplicating would remove at
    least ``min_rows`` and ``min_share`` of the texts (None otherwise: BANKING77's test set
    holds one pair, AG News and SST-2 none)."""
    if found.extra_copies < max(min_rows, math.ceil(min_share * found.sampled)):
        return None
    examples = ", ".join(f"{_quote(text, shown)} x{n}" for text, n in found.copied[:3])
    return (
        f"Repeated texts: {found.copies:,} of {found.sampled:,} {_texts(sampled)} are copies of "
        f"another ({len(found.copied):,} distinct texts repeated), such as {examples}. Copies "
        "weigh as many rows wherever rows are counted (label prototypes, class quotas, splits, "
        "review files): deduplicate the input unless each copy is a row of its own"
    )


def _texts(sampled: bool) -> str:
    return "sampled texts" if sampled else "texts"


def _quote(text: str, shown: int) -> str:
    return repr(text if len(text) <= shown else text[: shown - 3] + "...")
