"""Labels a model cannot tell apart, found before any row is scored.

Two labels whose prompts are the same once the model's tokenizer has normalised them (``Billing``
and ``billing`` for an uncased model, ``card_arrival`` and ``card arrival``, ``envío`` and
``envio`` where the tokenizer strips accents) get identical scores on every row: the second is
never predicted and every row is accepted with margin 0. That is refused. Labels whose prompts
are merely close are allowed with a warning that the manifest, the summary and the report show.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from zslabel.errors import ConfigError, ModelError

# Prompt cosine (all-MiniLM-L6-v2, the default template) above which two labels are reported as
# nearly the same. Measured (README, "Errors"): the closest distinct labels of AG News, SST-2
# and BANKING77 reach 0.52, 0.88 and 0.88; plural, reordered or reworded variants of one label
# ("refund"/"refunds", "late delivery"/"delivery late", "Sci/Tech"/"sci tech") 0.95-0.99.
SIMILAR_PROMPT_COSINE = 0.95


@functools.cache
def load_tokenizer(path: str) -> Any:
    """The model's own tokenizer (cheap to load: no weights), once per path."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the tokenizer of {path!r}: {exc}") from None


def check_distinct_prompts(
    source: str,
    label_names: Sequence[str],
    prompts: Sequence[str],
    owner: np.ndarray,
    tokenizer: Any,
    template: str | None = None,
) -> None:
    """Raise ConfigError when two labels' prompts (``prompts[j]`` belongs to label
    ``owner[j]``) are token for token the same to ``tokenizer``; one line naming the pair (and
    ``template``, the key of a per-language template, when given)."""
    ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    seen: dict[frozenset[tuple[int, ...]], int] = {}
    for k, name in enumerate(label_names):
        mine = frozenset(tuple(ids[j]) for j in np.flatnonzero(owner == k))
        if mine in seen:
            first = label_names[seen[mine]]
            shown = prompts[int(np.flatnonzero(owner == k)[0])]
            which = "" if template is None else f" (template {template!r})"
            raise ConfigError(
                f"source {source!r}{which}: labels {first!r} and {name!r} give the model the same "
                f"prompt ({shown!r} once its tokenizer has normalised it), so every row would "
                "score them alike; merge them, or give one of them its own descriptions"
            )
        seen[mine] = k


def label_cosines(references: np.ndarray, owner: np.ndarray, n_labels: int) -> np.ndarray:
    """(k, k) cosine of each pair of labels: the closest of their references (prompts, example
    prototypes); 1 on the diagonal. ``references``: (n_prompts, dim) unit vectors, row j
    belonging to label ``owner[j]``."""
    cosine = references @ references.T
    closest = np.full((n_labels, n_labels), -np.inf)
    for a in range(n_labels):
        # Label a's best cosine to each prompt, then to each label: one pass per label.
        best = cosine[owner == a].max(axis=0, initial=-np.inf)
        np.maximum.at(closest[a], owner, best)
    np.fill_diagonal(closest, 1.0)
    return closest


def closest_label_pairs(
    cosines: np.ndarray, label_names: Sequence[str], bound: float = -np.inf
) -> list[dict[str, Any]]:
    """Each pair of labels once with its cosine (``label_cosines``) of at least ``bound``,
    closest first: ``[{"labels": [a, b], "cosine": c}, ...]`` with c rounded to 4 places."""
    upper = np.where(np.triu(np.ones_like(cosines, dtype=bool), k=1), cosines, -np.inf)
    pairs = [
        {"labels": [label_names[a], label_names[b]], "cosine": round(float(upper[a, b]), 4)}
        for a, b in zip(*np.nonzero((upper >= bound) & np.isfinite(upper)), strict=True)
    ]
    return sorted(pairs, key=lambda pair: -float(pair["cosine"]))


def similar_label_pairs(
    references: np.ndarray,
    owner: np.ndarray,
    label_names: Sequence[str],
    bound: float = SIMILAR_PROMPT_COSINE,
) -> list[dict[str, Any]]:
    """Pairs of labels with a prompt each whose cosine is at least ``bound``, closest first.

    ``references``: (n_prompts, dim) unit vectors, row j belonging to label ``owner[j]``.
    Returns ``[{"labels": [a, b], "cosine": c}, ...]`` with c rounded to 4 places.
    """
    cosines = label_cosines(references, owner, len(label_names))
    return closest_label_pairs(cosines, label_names, bound)


def similar_label_warnings(manifest: dict[str, Any]) -> list[str]:
    """One line per pair of nearly identical labels that a source recorded in the manifest."""
    return [
        f"labels {pair['labels'][0]!r} and {pair['labels'][1]!r} are nearly the same to source "
        f"{source['name']!r} (prompt cosine {pair['cosine']:.3f} >= {SIMILAR_PROMPT_COSINE}): "
        "it will often confuse them; merge them or describe them apart"
        for source in manifest.get("sources", [])
        for pair in source.get("similar_labels", [])
    ]
