"""Self-contained HTML report (inline plotly.js, opens offline) + PNG figures + ``results.json``.

The report consumes result objects only (see :mod:`repscope.results`); it never runs analyses.
Every string that can come from a user (layer names, labels, attribute names, titles) is escaped:
text through Jinja2 autoescaping, plot data through JSON with ``<``, ``>``, ``&`` escaped.
"""

from repscope.report.html import Section, write_report

__all__ = ["Section", "write_report"]
