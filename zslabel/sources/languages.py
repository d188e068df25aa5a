"""Per-language templates of an embedding source: which template scores each row, by the row's
language (a column of the input, or detected offline by py3langid)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np

from zslabel.config.sources import DEFAULT_LANGUAGE_KEY
from zslabel.sources.distinct import label_cosines


@dataclass(frozen=True)
class TemplateLanguages:
    """Per-language templates: ``keys`` (language codes, maybe ``default``) in job-file order,
    each row's language from ``column`` or detected, and ``slot[j]``: the key index whose
    template made reference column j, -1 for columns every row meets (example prototypes).

    A row's features end with its language slot: its language's index in ``keys``, or
    ``len(keys)`` for another language (or none), scored with the fallback template (``default``
    if a key, else the first). Rows are grouped by template: a row's scores depend on it alone.
    """

    keys: tuple[str, ...]
    column: str | None
    slot: np.ndarray

    @property
    def fallback(self) -> str:
        return DEFAULT_LANGUAGE_KEY if DEFAULT_LANGUAGE_KEY in self.keys else self.keys[0]

    @property
    def by(self) -> str:
        """How rows' languages are found: ``column <name>`` or ``py3langid <version>``."""
        return f"column {self.column}" if self.column else f"py3langid {version('py3langid')}"

    def describe(self) -> dict[str, str]:
        return {"by": self.by, "fallback": self.fallback}

    def with_slots(
        self, embeddings: np.ndarray, texts: Sequence[str], codes: Sequence[object] | None
    ) -> np.ndarray:
        """(n, [windows,] dim + 1): ``embeddings`` with each row's language slot appended; the
        row's language is ``codes[i]`` (required with a column) or detected from ``texts[i]``."""
        if self.column is not None and codes is None:
            raise ValueError(f"per-language templates need the {self.column!r} values")
        found = detect_languages(texts) if codes is None else codes
        slots = language_slots(found, self.keys).astype(embeddings.dtype)
        per_row = slots.reshape((-1,) + (1,) * (embeddings.ndim - 1))
        tail = np.broadcast_to(per_row, (*embeddings.shape[:-1], 1))
        return np.concatenate([embeddings, tail], axis=-1)

    def template_slots(self, features: np.ndarray) -> np.ndarray:
        """(n,) index into ``keys`` of the template each row is scored with: its language's,
        else the fallback's (rows of other languages, rows without features: NaN)."""
        slots = features.reshape(len(features), -1)[:, -1]
        own = ~np.isnan(slots) & (slots < len(self.keys))
        fallback = self.keys.index(self.fallback)
        return np.where(own, np.nan_to_num(slots), fallback).astype(np.int64)

    def per_template(
        self,
        features: np.ndarray,
        references: np.ndarray,
        owner: np.ndarray,
        score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """(n, [windows,] labels): ``score(rows, references, owner)`` of each group of rows
        with one template against that template's columns of ``references``."""
        # Contiguous: a strided matrix takes another BLAS path, rounding in other last bits.
        slots, embeddings = self.template_slots(features), np.ascontiguousarray(features[..., :-1])
        result = np.full((*features.shape[:-1], int(owner.max(initial=-1)) + 1), np.nan)
        for slot in np.unique(slots):
            rows, columns = slots == slot, (self.slot == slot) | (self.slot < 0)
            result[rows] = score(embeddings[rows], references[columns], owner[columns])
        return result

    def label_cosines(self, references: np.ndarray, owner: np.ndarray, labels: int) -> np.ndarray:
        """(labels, labels): the largest over the templates of :func:`label_cosines` among one
        template's columns. A row meets one template's prompts, so an English prompt near a
        Spanish one confuses no row, while labels close in one language confuse its rows."""
        per_template = [
            label_cosines(references[columns], owner[columns], labels)
            for columns in ((self.slot == k) | (self.slot < 0) for k in range(len(self.keys)))
        ]
        closest: np.ndarray = np.max(per_template, axis=0)
        return closest


def detect_languages(texts: Iterable[str]) -> list[str]:
    """Each text's language, an ISO 639-1 code, by py3langid (offline, deterministic, its model
    in the wheel; Lui and Baldwin, ACL 2012): about 2,000 texts a second on one CPU core."""
    import py3langid  # type: ignore[import-untyped]

    return [py3langid.classify(text)[0] for text in texts]


# py3langid's codes that are not ISO 639-1 (0.4.0 has 26), mapped to the ISO 639-1 code a model
# card would name: Chinese and Arabic varieties, Northern Uzbek, Southern Kurdish, the historic
# forms of Hebrew and Greek, and Nigerian Pidgin, which is English-based (py3langid calls a few
# informal English rows of BANKING77 Pidgin). ``zxx``, no linguistic content (hex dumps, ids,
# keyboard mashing), is no language at all: "".
CODE_ALIASES = {
    "yue": "zh", "wuu": "zh", "arz": "ar", "ary": "ar", "uzs": "uz", "sdh": "ku", "hbo": "he",
    "grc": "el", "pcm": "en", "zxx": "",
}  # fmt: skip
# Characters of a text that detection reads: py3langid's time grows with the length (about 350
# texts a second at 7,800 characters, 3,300 at 300), and a paragraph tells the language.
DETECT_CHARS = 1_000


def confident_languages(texts: Iterable[str], min_chars: int, min_probability: float) -> list[str]:
    """Each text's language, a lower-case code (ISO 639-1 where py3langid's has one, via
    :data:`CODE_ALIASES`), or "" where py3langid cannot tell: a text of fewer than
    ``min_chars`` characters (stripped), one whose top language holds less than
    ``min_probability`` of py3langid's normalised probability, or one with no linguistic
    content. Reads the first :data:`DETECT_CHARS` characters of each text."""
    identifier = _normalised_identifier()
    found = []
    for text in texts:
        if len(text.strip()) < min_chars:
            found.append("")
            continue
        code, probability = identifier.classify(text[:DETECT_CHARS])
        found.append(CODE_ALIASES.get(code, code) if probability >= min_probability else "")
    return found


@functools.cache
def _normalised_identifier() -> Any:
    """py3langid's model with probabilities that sum to 1 (its default ranks by raw scores)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_slots(codes: Iterable[object], keys: Sequence[str]) -> np.ndarray:
    """(n,) int64: the index in ``keys`` of each row's language code, ``len(keys)`` for a code
    that is not a key (or missing: None, empty). Codes are compared lower-case, without a region
    (``es-MX``, ``pt_BR``: ``es``, ``pt``), so a language column may hold locale tags."""
    index = {key: i for i, key in enumerate(keys)}
    found = (
        code.strip().lower().replace("_", "-").split("-")[0] if isinstance(code, str) else ""
        for code in codes
    )
    return np.asarray([index.get(code, len(keys)) for code in found], dtype=np.int64)
