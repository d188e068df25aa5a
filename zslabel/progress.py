"""A progress bar with rows/s on stderr, silent when disabled or not on a terminal."""

from __future__ import annotations

from types import TracebackType

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, description: str, *, enabled: bool = True) -> None:
        # disable=None lets tqdm stay quiet when stderr is not a terminal (CI logs, pipes).
        self._bar = tqdm(
            total=total,
            desc=description,
            unit="rows",
            unit_scale=True,
            disable=None if enabled else True,
            dynamic_ncols=True,
            leave=False,
        )

    def advance(self, rows: int) -> None:
        self._bar.update(rows)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.close()
