"""The side environment with the review tools (Label Studio, the Argilla SDK) for the slow tests.

They pin their own dependencies, so they live in a virtual environment of their own that
``make labelstudio`` creates (``.ci/run`` runs it when missing); the tests install nothing.
Without it a test fails, naming that command, unless ``ZSLABEL_SKIP_LABEL_STUDIO=1`` says to skip.
``ZSLABEL_LABEL_STUDIO_VENV`` points the tests at another environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("ZSLABEL_LABEL_STUDIO_VENV", ROOT / ".venv-labelstudio"))
MAKE_IT = "make labelstudio"
SKIP_VARIABLE = "ZSLABEL_SKIP_LABEL_STUDIO"


def side_program(name: str) -> Path:
    """``VENV/bin/name``; fails the test (or skips it, when asked to) when it is missing."""
    program = VENV / "bin" / name
    if not program.exists():
        message = (
            f"the review tools are not installed ({program} is missing): run `{MAKE_IT}` "
            "(or point ZSLABEL_LABEL_STUDIO_VENV at an environment with label-studio and argilla)"
        )
        if os.environ.get(SKIP_VARIABLE) == "1":
            pytest.skip(f"{message}; skipped because {SKIP_VARIABLE}=1")
        pytest.fail(f"{message}; set {SKIP_VARIABLE}=1 to skip this test instead")
    return program
