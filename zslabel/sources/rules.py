"""Keyword and regex labeling functions: cheap, precise, and silent where they do not fire.

A rule that matches votes for its label; a row's probabilities are its votes normalised, and a
row that no rule matches is abstained on (a NaN row), so other sources decide it. In multi-label
mode every label whose rules match gets probability 1 and the others are abstained on (NaN): a
rule for one label says nothing about the rest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zslabel.config import Label, RulesSourceSpec


class RulesSource:
    def __init__(
        self, spec: RulesSourceSpec, labels: Sequence[Label], *, multi_label: bool = False
    ) -> None:
        assert spec.name is not None  # JobConfig names every source
        self.name = spec.name
        self.weight = spec.weight
        self.spec = spec
        self.multi_label = multi_label
        self.label_names = [label.name for label in labels]
        flags = 0 if spec.case_sensitive else re.IGNORECASE
        self._patterns: list[list[re.Pattern[str]]] = []
        for name in self.label_names:
            rules = spec.rules.get(name)
            patterns = []
            if rules is not None:
                # Whole words only: "art" must not fire on "start".
                patterns += [
                    re.compile(rf"(?<!\w){re.escape(_nfc(k))}(?!\w)", flags) for k in rules.keywords
                ]
                patterns += [re.compile(_nfc(pattern), flags) for pattern in rules.regex]
            self._patterns.append(patterns)

    def cache_identity(self) -> dict[str, Any]:
        return {
            "kind": "rules",
            "labels": self.label_names,
            "rules": {k: v.model_dump(mode="json") for k, v in sorted(self.spec.rules.items())},
            "case_sensitive": self.spec.case_sensitive,
            "unicode": "NFC",  # texts and rules are matched composed (votes changed with it)
        }

    def featurize(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """(n, k) counts of the rules of each label that match each text.

        Texts and rules are compared in Unicode NFC: a keyword typed composed (``envío``) fires
        on a text stored decomposed, as some exports and file systems write it, and the reverse.
        """
        texts = [_nfc(text) for text in texts]
        votes = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        for k, patterns in enumerate(self._patterns):
            for pattern in patterns:
                votes[:, k] += [pattern.search(text) is not None for text in texts]
        if on_batch is not None:
            on_batch(len(texts))
        return votes

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        if self.multi_label:
            return np.where(features > 0, 1.0, np.nan)
        total = features.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            probs: np.ndarray = np.where(total > 0, features / total, np.nan)
        return probs

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "rules",
            "rules": {k: v.model_dump(mode="json") for k, v in self.spec.rules.items()},
            "case_sensitive": self.spec.case_sensitive,
            "weight": self.weight,
        }


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
