"""What ``zslabel import-reviews`` read, matched and stored, and why reviews were set apart."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Why a review is not stored (the keys of ImportSummary.unmatched).
NO_ROW_WITH_KEY = "no row has this key"
OTHER_TEXT = "the row with this key has another text"
SEVERAL_ROWS_WITH_KEY = "several rows have this key"
SHARED_KEY = "records with different texts share this key"


@dataclass
class ImportSummary:
    """What an import read, matched and stored."""

    path: Path = Path()  # the store
    checked: tuple[Path, ...] = ()  # the labeled files whose rows the keys were checked against
    rows: int = 0  # their rows
    matched: int = 0  # reviews whose key names exactly one row: stored
    stored: int = 0  # rows those reviews name (of two reviews of one row, the later file's wins)
    total: int = 0  # reviews in the store afterwards
    duplicate: int = 0  # records with the key of an earlier record of the same file
    skipped: Counter[str] = field(default_factory=Counter)  # why records gave no label
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # why -> keys not stored
    numeric_keys: set[str] = field(default_factory=set)  # keys read as JSON numbers >= 2**53
    invalid: list[str] = field(default_factory=list)  # records skipped as invalid, and why
    case_folded: Counter[str] = field(default_factory=Counter)  # "Answer -> label": answers

    @property
    def unmatched_count(self) -> int:
        return sum(len(keys) for keys in self.unmatched.values())

    @property
    def rounded_keys(self) -> int:
        """Unmatched reviews whose key a browser may have rounded (a JSON number >= 2**53)."""
        return sum(key in self.numeric_keys for keys in self.unmatched.values() for key in keys)

    def set_apart(self, why: str, key: str) -> None:
        self.unmatched.setdefault(why, []).append(key)
