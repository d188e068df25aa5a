"""Labeling sources behind one protocol, built from their job-file spec by kind."""

from __future__ import annotations

from collections.abc import Sequence

from zslabel.cache import FeatureCache
from zslabel.config import (
    ClipSourceSpec,
    EmbeddingSourceSpec,
    FakeSourceSpec,
    Label,
    NliSourceSpec,
    RulesSourceSpec,
    SourceSpec,
)
from zslabel.sources.base import Source
from zslabel.sources.embedding import EmbeddingSource
from zslabel.sources.fake import FakeSource
from zslabel.sources.nli import NliSource
from zslabel.sources.rules import RulesSource

__all__ = [
    "EmbeddingSource",
    "FakeSource",
    "NliSource",
    "RulesSource",
    "Source",
    "build_source",
]


def build_source(
    spec: SourceSpec, labels: Sequence[Label], cache: FeatureCache, *, multi_label: bool = False
) -> Source:
    if isinstance(spec, EmbeddingSourceSpec):
        return EmbeddingSource(spec, labels, cache, multi_label=multi_label)
    if isinstance(spec, NliSourceSpec):
        return NliSource(spec, labels, cache, multi_label=multi_label)
    if isinstance(spec, ClipSourceSpec):
        # Imported here: only image jobs need Pillow.
        from zslabel.sources.clip import ClipSource

        return ClipSource(spec, labels, cache, multi_label=multi_label)
    if isinstance(spec, FakeSourceSpec):
        return FakeSource(spec, labels, multi_label=multi_label)
    if isinstance(spec, RulesSourceSpec):
        return RulesSource(spec, labels, multi_label=multi_label)
    raise TypeError(f"no source for spec {type(spec).__name__}")  # pragma: no cover
