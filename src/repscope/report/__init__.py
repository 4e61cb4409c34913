"""Self-contained HTML report (inline plotly.js, opens offline) + PNG figures + ``results.json``.

The report consumes result objects only (see :mod:`repscope.results`); it never runs analyses itself —
:mod:`repscope.report.job` runs each lens that applies to a store (``build_report(store, out_dir)``).
Every string that can come from a user (layer names, labels, attribute names, titles) is escaped:
text through Jinja2 autoescaping, plot data through JSON with ``<``, ``>``, ``&`` escaped.
"""

from repscope.report.html import Section, flatten, write_report
from repscope.report.job import LensSection, analyse_store, build_report, run_lens

__all__ = ["LensSection", "Section", "analyse_store", "build_report", "flatten", "run_lens", "write_report"]
