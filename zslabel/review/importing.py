"""``zslabel import-reviews``: human labels from review exports into the job's review store.

Every review is checked against the rows of the output folder it was exported from before it is
stored. A review is stored only when its key names exactly one row there and, where the export
carries the text, a row with that text; the others are counted and named, never stored (a review
of no row is never applied, and it would still have been calibration gold). Keys are compared in
their :func:`~zslabel.rowkeys.row_key` form and labels in their
:func:`~zslabel.labelnames.canonical_label` form.

Records of one file that share a key are one row exported twice when their texts agree (their
answers are counted together, like several annotators of one task), and no single row when they
do not (keys that were JSON numbers above 2**53 and came back rounded from a browser).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zslabel.review.fields import same_text
from zslabel.review.labeled_rows import find_rows, labeled_files, row_texts
from zslabel.review.reading import invalid_records, read_review_file
from zslabel.review.store import Review, store_path, store_reviews
from zslabel.review.summary import (
    NO_ROW_WITH_KEY,
    OTHER_TEXT,
    SEVERAL_ROWS_WITH_KEY,
    ImportSummary,
)


def import_reviews(
    files: Sequence[str | Path],
    store: str | Path,
    label_names: Sequence[str],
    *,
    output_dir: str | Path,
    skip_invalid: bool = False,
) -> ImportSummary:
    """Read review exports, check them against ``output_dir``'s labeled rows, and merge the
    labels of the reviews that name exactly one row into the store: ``store`` itself when it
    is a ``.parquet`` file (the job's ``review.store``), else ``store/reviews.parquet`` (an
    output's work folder, the quick form's place).

    A row reviewed again takes the newer label (files later in ``files`` win). Reviews that name
    no row, or several, or a row with another text are not stored: ``unmatched`` says which and
    why.

    Raises InputError listing a file's invalid records (:func:`read_review_file`) before
    anything is stored; with ``skip_invalid`` the other records are stored and
    ``summary.invalid`` lists those left out.
    """
    summary = ImportSummary(path=store_path(store))
    new: list[tuple[Review, str]] = []
    for path in files:
        # Every file is read before the invalid records of all of them are reported at once.
        read = read_review_file(path, label_names, summary, skip_invalid=True)
        new.extend((review, str(path)) for review in read)
    if summary.invalid and not skip_invalid:
        raise invalid_records("", summary.invalid)
    labeled = labeled_files(Path(output_dir))
    summary.checked = tuple(part.path for part in labeled)
    summary.rows = sum(part.rows for part in labeled)
    found = find_rows(labeled, list(dict.fromkeys(review.key for review, _ in new)))
    rows_of: dict[int, list[int]] = defaultdict(list)
    for f, row in (where for hits in found.values() for where in hits):
        if row >= 0:
            rows_of[f].append(row)
    texts = {f: row_texts(labeled[f], sorted(rows)) for f, rows in rows_of.items()}
    kept: dict[str, dict[str, Any]] = {}
    for review, origin in new:
        hits = found.get(review.key, [])
        # Where the key names rows of several versions, the one with the review's text is it.
        same = [
            (f, row)
            for f, row in hits
            if row >= 0
            and (labeled[f].text_column is None or same_text(review.text, texts[f][row]))
        ]
        if not hits:
            summary.set_apart(NO_ROW_WITH_KEY, review.key)
        elif len(same) > 1 or (not same and any(row < 0 for _, row in hits)):
            summary.set_apart(SEVERAL_ROWS_WITH_KEY, review.key)
        elif not same:
            summary.set_apart(OTHER_TEXT, review.key)
        else:
            summary.matched += 1
            kept.pop(review.key, None)
            kept[review.key] = {
                "key": review.key,
                "text": review.text,
                "label": review.label,
                "file": origin,
            }
    summary.stored = len(kept)
    summary.total = store_reviews(summary.path, kept)
    return summary
