"""Compile the shipped MJML layout into the committed HTML (run at build and checked by a test).

mjml is a build/test dependency only: the running site reads the committed HTML.
The layout is fixed and ours: officers never write HTML or tables. `[[name]]` slots are filled by
`piazza.outreach.render` (escaped text, or the sanitised Markdown body).
"""

from __future__ import annotations

import io
from pathlib import Path

from mjml import mjml_to_html

from piazza.outreach.render import COMPILED

SOURCE = COMPILED.with_suffix(".mjml")


def compile_layout() -> str:
    result = mjml_to_html(io.StringIO(SOURCE.read_text()))
    if result.errors:
        raise ValueError(f"MJML errors: {result.errors}")
    return str(result.html)


def write_layout() -> Path:
    COMPILED.write_text(compile_layout())
    return COMPILED
