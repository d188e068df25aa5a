"""Language check: are most texts, or a sizeable minority of them, in languages the job's models
do not cover?

A model's languages come from a small table of known models, else from the ``language:`` field
of its model card (``README.md`` front matter); a model with neither is unknown and never
warned about, and a job with no known model detects nothing. Detection (py3langid, offline,
deterministic) reads valid texts spread over the shards (:meth:`InputDataset.sample_texts`), at
most :data:`SAMPLE_ROWS` of them.

Embedding sources with per-language templates are checked too: a ``language_column`` must be a
column of the input, and where most texts are in a language the model covers but the source
detects rows' languages and has no template for it, the warning says those rows fall back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zslabel.errors import InputError
from zslabel.models import ResolvedModel
from zslabel.pipeline.plan import JobPlan
from zslabel.sources import EmbeddingSource
from zslabel.sources.languages import detect_languages

SAMPLE_ROWS = 500
# Warn when more than this share of the sample is in one language no model covers.
MAJORITY = 0.5
# ... or when more than this share is in languages a model does not cover, together. An English
# model puts such rows in one class, confidently: in a trial of support tickets with 8 % German,
# Spanish and French rows, those accepted were 0.28 accurate at a mean confidence of 0.83 (0.10
# in another week). On the English public sets py3langid calls 0.0 % (AG News, BANKING77) to
# 0.8 % (SST-2, short sentences) of a 500-text sample another language, well under 5 %.
MINORITY = 0.05
# ... counting only texts of at least MIN_CHARS characters, and at least MINORITY_ROWS of them:
# py3langid's guess on a word or two is noise ('ok' is Afrikaans, 'thanks' Xhosa).
MIN_CHARS = 20
MINORITY_ROWS = 3
MULTILINGUAL_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
# In the warning about a language without a per-language template (the others are about models).
NO_TEMPLATE = "has no template of its own"
# Languages of models whose cards say too little (or that are packaged): ISO 639-1 codes.
KNOWN_MODELS: dict[str, tuple[str, ...]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("en",),
    "sentence-transformers/all-MiniLM-L12-v2": ("en",),
    "sentence-transformers/all-mpnet-base-v2": ("en",),
    "BAAI/bge-small-en-v1.5": ("en",),
    "BAAI/bge-base-en-v1.5": ("en",),
    "cross-encoder/nli-deberta-v3-small": ("en",),
    "cross-encoder/nli-deberta-v3-base": ("en",),
    "cross-encoder/nli-MiniLM2-L6-H768": ("en",),
    MULTILINGUAL_MODEL: ("multilingual",),
    "sentence-transformers/paraphrase-multilingual-mpnet-base-v2": ("multilingual",),
    "intfloat/multilingual-e5-small": ("multilingual",),
}
_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "it": "Italian", "ja": "Japanese", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "ru": "Russian", "tr": "Turkish", "zh": "Chinese",
}  # fmt: skip


def check_language(plan: JobPlan) -> dict[str, Any] | None:
    """The manifest's ``language`` record, or None when there is nothing to warn about (no model
    with known languages and no detected per-language templates, no texts, a majority language
    that every model covers and every such source has a template for, and at most
    :data:`MINORITY` of the sample in languages a model does not cover).

    Raises InputError when a source's ``language_column`` is not a column of the input.
    """
    check_language_columns(plan)
    models = text_models(plan)
    detecting = [
        source
        for source in plan.sources
        if isinstance(source, EmbeddingSource) and source.languages and not source.languages.column
    ]
    if not models and not detecting:
        return None
    sample = plan.dataset.sample_texts(SAMPLE_ROWS)
    detected = detect_languages(sample) if sample else []
    shares = _shares(Counter(detected), len(sample))
    if not shares:
        return None
    top, share = next(iter(shares.items()))
    uncovered = [name for name, languages in models.items() if not _covers(languages, top)]
    untemplated = [s for s in detecting if s.languages and top not in s.languages.keys]
    if share > MAJORITY and uncovered:
        warning: str | None = language_warning(top, share, uncovered)
    elif share > MAJORITY and untemplated:
        warning = template_warning(top, share, untemplated)
    else:
        readable = [code for text, code in zip(sample, detected, strict=True) if _long(text)]
        warning = minority_warning(Counter(readable), len(sample), models)
    if warning is None:
        return None
    return {
        "sample_rows": len(sample),
        "detected": dict(list(shares.items())[:5]),
        "models": {name: list(languages) for name, languages in models.items()},
        "warning": warning,
    }


def check_language_columns(plan: JobPlan) -> None:
    """Raise InputError naming the column and the input when a source's ``language_column``
    is not one of the input's columns."""
    for source in plan.sources:
        if not isinstance(source, EmbeddingSource) or source.languages is None:
            continue
        column = source.languages.column
        if column is not None and column not in plan.dataset.column_names:
            raise InputError(
                f"{plan.config.input.path}: source {source.name!r}: language_column {column!r} "
                f"is not a column of the input (columns: {', '.join(plan.dataset.column_names)})"
            )


def language_warnings(manifest: Mapping[str, Any]) -> list[str]:
    """The manifest's language warning, as a list of zero or one line."""
    warning = (manifest.get("language") or {}).get("warning")
    return [warning] if warning else []


def language_warning(language: str, share: float, models: list[str]) -> str:
    named = _NAMES.get(language, language)
    return (
        f"{share:.0%} of sampled texts are in {named} ({language}), which "
        f"{', '.join(models)} does not cover: labels will be poor; use a multilingual "
        f"model instead, e.g. model: {MULTILINGUAL_MODEL}"
    )


def minority_warning(
    counts: Counter[str], sample_rows: int, models: dict[str, tuple[str, ...]]
) -> str | None:
    """A warning when more than :data:`MINORITY` of the ``sample_rows`` sampled texts, and at
    least :data:`MINORITY_ROWS`, are in languages a model does not cover (``counts``: the
    detected languages of the texts long enough to detect, :data:`MIN_CHARS`); None otherwise.
    Models that miss the same languages share one warning; of others, the one missing most.
    Shown only where rows are not checked one by one (:mod:`.row_languages`, whose warning
    replaces it): so it says the rows are labeled."""
    worst: tuple[int, list[str], dict[str, int]] | None = None
    for name, languages in models.items():
        missed = {code: n for code, n in counts.most_common() if not _covers(languages, code)}
        total = sum(missed.values())
        if total <= max(MINORITY * sample_rows, MINORITY_ROWS - 1):
            continue
        if worst is None or total > worst[0]:
            worst = (total, [name], missed)
        elif missed == worst[2]:
            worst[1].append(name)
    if worst is None:
        return None
    total, names, missed = worst
    listed = listed_languages(missed)
    return (
        f"{total} of {sample_rows} sampled texts ({total / sample_rows:.0%}) are in languages "
        f"that {', '.join(names)} does not cover ({listed}): such rows tend to land in "
        f"one class with a high confidence; review them, or use a multilingual model, e.g. "
        f"model: {MULTILINGUAL_MODEL}"
    )


def template_warning(language: str, share: float, sources: list[EmbeddingSource]) -> str:
    """Most texts are in a language that sources with per-language templates have no key for."""
    named = _NAMES.get(language, language)
    fallbacks = ", ".join(
        f"{s.languages.fallback!r} of source {s.name!r}" for s in sources if s.languages
    )
    return (
        f"{share:.0%} of sampled texts are in {named} ({language}), which {NO_TEMPLATE}: "
        f"they are scored with the fallback template ({fallbacks}); add a template "
        f"for {language!r}"
    )


def detect_shares(texts: list[str], top: int = 5) -> dict[str, float]:
    """The ``top`` most frequent languages of ``texts`` and their shares, largest first."""
    if not texts:
        return {}
    return dict(list(_shares(Counter(detect_languages(texts)), len(texts)).items())[:top])


def listed_languages(counts: Mapping[str, int]) -> str:
    """``German 18, Spanish 12, French 8 and others``: the first three of ``counts`` (most
    first), named."""
    named = ", ".join(f"{language_name(code)} {n:,}" for code, n in list(counts.items())[:3])
    return named + (" and others" if len(counts) > 3 else "")


def language_name(code: str) -> str:
    """``German`` for ``de``; the code itself for a language not in the short table."""
    return _NAMES.get(code, code)


def _shares(counts: Counter[str], total: int) -> dict[str, float]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {language: round(n / total, 3) for language, n in ranked}


def _long(text: str) -> bool:
    return len(text.strip()) >= MIN_CHARS


def model_languages(model: ResolvedModel) -> tuple[str, ...] | None:
    """A model's languages (lower-case codes, or "multilingual"), or None when unknown."""
    known = KNOWN_MODELS.get(model.name.split("@")[0])
    if known:
        return known
    card = Path(model.path) / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    try:
        front = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return None
    value = front.get("language") if isinstance(front, dict) else None
    codes = [value] if isinstance(value, str) else value
    if not isinstance(codes, list) or not codes:
        return None
    return tuple(str(code).lower() for code in codes)


def _covers(languages: tuple[str, ...], language: str) -> bool:
    return "multilingual" in languages or language in languages


def text_models(plan: JobPlan, *, unknown: bool = False) -> dict[str, tuple[str, ...]]:
    """Source name -> languages, for sources that read the text column with a known model;
    ``unknown``: with models whose languages are unknown too, as ``()``."""
    found = {}
    for source, column in zip(plan.sources, plan.columns, strict=True):
        model = getattr(source, "model", None)
        if column != plan.config.input.text_column or not isinstance(model, ResolvedModel):
            continue
        languages = model_languages(model)
        if languages or unknown:
            found[f"{source.name} ({model.name})"] = languages or ()
    return found
