"""Sphinx extension: read repscope's plain-text docstrings as the text they are.

The docstrings are written for ``help()`` as much as for Sphinx: they use ``|x|`` for absolute values and
cardinalities, sklearn-style fitted attributes ``cost_``, and end a NumPy "Parameters" section with a
"Returns a …" sentence. reStructuredText reads the first as substitutions, the second as hyperlink
references and the third as a field list without its closing blank line. This hook (run after napoleon)
escapes the first two outside inline literals and roles, and closes the field list, so the library's
docstrings need no markup written for the docs alone.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

# inline literals, roles (:class:`x`), interpreted text, math: left as they are
_PROTECTED = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]+`|`[^`]+`_{0,2})")
_FIELD = re.compile(r"^(\s*:[^:`\s][^:`]*:)(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\])([A-Za-z]\w*?)_(?=$|[\s.,;:)\]}])")


def _escape(text: str) -> str:
    parts = _PROTECTED.split(text)
    for i in range(0, len(parts), 2):  # even indices lie outside the protected spans
        parts[i] = _TRAILING_UNDERSCORE.sub(r"\1\\_", parts[i].replace("|", r"\|"))
    return "".join(parts)


def _is_markup_line(stripped: str) -> bool:
    """Lines whose ``|`` or ``_`` is markup: tables, line blocks, targets, directives, field names."""
    return stripped.startswith(("|", "+-", "+=", ".. ", "__ ", "=", ">>>"))


def process(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    out: list[str] = []
    in_fields = False
    in_literal = False
    literal_indent = 0
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if in_literal and stripped and indent <= literal_indent:
            in_literal = False
        if not in_literal:
            if stripped.startswith(":") and not stripped.startswith("::"):
                in_fields = True
            elif in_fields and stripped and indent == 0:
                out.append("")  # a field list must end with a blank line
                in_fields = False
            elif not stripped:
                in_fields = False
        field = _FIELD.match(line)
        if in_literal:
            out.append(line)
        elif field and not stripped.startswith("::"):
            out.append(field.group(1) + _escape(field.group(2)))
        elif _is_markup_line(stripped):
            out.append(line)
        else:
            out.append(_escape(line))
        if stripped.endswith("::") and not in_literal:
            in_literal, literal_indent = True, indent
    lines[:] = out


_PARAM_HEAD = re.compile(r"^\*{0,2}\w+(\s*,\s*\*{0,2}\w+)*\s*:(?=\s|$)")
_SECTION = re.compile(r"^(Parameters|Other Parameters|Attributes|Keyword Arguments|Fitted attributes)\s*$")


def close_sections(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Before napoleon: a paragraph after a NumPy parameter list ("Returns a …", not ``name : type``) ends
    the section (napoleon ends one at two blank lines), instead of being read as one more parameter."""
    out: list[str] = []
    in_params = False
    for i, line in enumerate(lines):
        if _SECTION.match(line) and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            in_params = True
        elif in_params and line and not line[0].isspace() and not set(line.strip()) <= {"-"}:
            if out and not out[-1].strip() and not _PARAM_HEAD.match(line):
                out.append("")
                in_params = False
        out.append(line)
    lines[:] = out


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", close_sections, priority=400)
    app.connect("autodoc-process-docstring", process, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
