"""mkdocs hooks: the site's home page is the repository's README.md; Sphinx roles in docstrings.

The README links to the pages as ``docs/NAME.md`` so that the links work on GitHub; on the site
the home page sits in ``docs/`` itself, so those links lose the prefix. Some docstrings name
objects the Sphinx way (``:class:`~zslabel.pipeline.plan.JobPlan` ``); mkdocstrings renders the
role's text as it is, so the API pages drop the role and the ``~``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):(<code>)~?")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Replace the placeholder ``index.md`` with the README, its ``docs/`` links made relative."""
    if page.file.src_uri != "index.md":
        return markdown
    return re.sub(r"\]\(docs/", "](", README.read_text(encoding="utf-8"))


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Drop Sphinx roles (``:func:``) before the code they mark, on the API pages."""
    if not page.file.src_uri.startswith("api/"):
        return html
    return ROLE.sub(r"\1", html)
