"""zslabel sets pyarrow's allocator to hand freed memory back at once, unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

# Prints the variable as it was when pyarrow (whose mimalloc reads it once) began to load.
SHOW = """
import os, sys
seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" and not seen:
            seen.append(os.environ.get("MIMALLOC_PURGE_DELAY"))
sys.meta_path.insert(0, Spy())
import zslabel
print(seen[0])
"""


def _purge_delay_after_import(environment: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_importing_zslabel_sets_the_purge_delay_before_pyarrow_loads() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    assert _purge_delay_after_import(environment) == "0"


def test_a_value_the_user_set_is_kept() -> None:
    assert _purge_delay_after_import({**os.environ, "MIMALLOC_PURGE_DELAY": "250"}) == "250"
