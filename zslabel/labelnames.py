"""One form of a label name wherever a label from outside the job meets the job's labels.

Label names arrive from job files, the CLI's ``--labels``, gold columns, calibration files and
imported reviews. The same visible name can be different code points: ``envío`` typed on one
machine is NFC (``í`` as one code point), exported by another tool or file system it may be NFD
(``i`` plus a combining accent). Every edge compares :func:`canonical_label` forms (Unicode
NFC, outer whitespace removed); where a name still matches no label, :func:`describe_mismatch`
says what differs instead of printing two strings that look the same.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence


def canonical_label(name: str) -> str:
    """``name`` in Unicode NFC without surrounding whitespace (UAX #15, "Canonical Composition")."""
    return unicodedata.normalize("NFC", name).strip()


def case_folded_label(name: str) -> str:
    """``name`` as it compares letter case aside: :func:`canonical_label`, case-folded."""
    return canonical_label(name).casefold()


def label_index(label_names: Sequence[str]) -> dict[str, int]:
    """Canonical label name -> class index, for looking up names that come from outside."""
    return {canonical_label(name): k for k, name in enumerate(label_names)}


def lookup(value: object, index: Mapping[str, int]) -> int | None:
    """The class index of ``value`` (any scalar; compared as canonical text), None if unknown."""
    if value is None:
        return None
    return index.get(canonical_label(str(value)))


def describe_mismatch(unknown: str, label_names: Iterable[str]) -> str:
    """Why ``unknown`` is no label of the job, when it nearly is one; else ``""``.

    Names a job label that differs only in letter case, in accents, in spaces versus
    underscores, or in invisible characters (zero-width spaces, non-breaking spaces, control
    characters), so that a message never lists two names that look identical and says nothing
    else. Otherwise names the closest label by spelling (difflib), if one is close:
    ``did you mean 'account'?``.
    """
    folded = _loose(unknown)
    label_names = list(label_names)
    for name in label_names:
        if _loose(name) != folded:
            continue
        if case_folded_label(name) == case_folded_label(unknown):
            return f"{unknown!r} differs from the job's label {name!r} only in letter case"
        if _unaccented(name) == _unaccented(unknown):
            return f"{unknown!r} differs from the job's label {name!r} only in accents"
        return (
            f"{unknown!r} differs from the job's label {name!r} only in spaces, underscores or "
            f"invisible characters ({visible(unknown)} against {visible(name)})"
        )
    loose = {_loose(name): name for name in label_names}
    close = difflib.get_close_matches(folded, list(loose), n=1, cutoff=0.75)
    return f"did you mean {loose[close[0]]!r}?" if close else ""


def _loose(name: str) -> str:
    """``name`` without case, accents, separators or invisible characters."""
    kept = "".join(
        c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c)[0] not in "CZM"
    )
    return kept.replace("_", "").replace("-", "").casefold()


def _unaccented(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", canonical_label(name))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").casefold()


def visible(name: str) -> str:
    """Non-ASCII and invisible characters as U+XXXX, so a message shows what the eye cannot."""
    return "".join(c if c.isascii() and c.isprintable() else f"<U+{ord(c):04X}>" for c in name)
