"""Sphinx configuration of the repscope documentation site (``make docs`` → docs/_build/html).

Built offline: no intersphinx, no downloads; the gallery (``examples/`` at the repository root) is
executed during the build and a failing example fails the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT / "src"))
# One BLAS thread per process while examples run (the build machine may be shared).
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # the scale-out example's cluster: no INFO lines

import importlib  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

from repscope._version import __version__  # noqa: E402

#: The public packages; docs/api/<name>.rst documents each one's ``__all__``.
API_MODULES = ["capture", "store", "metrics", "ranges", "topology", "dynamics", "descramble", "report",
               "results", "errors", "lenses", "parallel", "scale"]

# Some packages load parts of their API lazily (a module ``__getattr__``), which autodoc cannot list:
# bind every name of ``__all__`` on the module, in this process only, so that it is documented.
for _name in API_MODULES:
    _mod = importlib.import_module(f"repscope.{_name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated aliases still get their page
        for _attr in getattr(_mod, "__all__", ()):
            if _attr not in vars(_mod):
                _value = getattr(_mod, _attr)
                if not isinstance(_value, types.ModuleType):
                    setattr(_mod, _attr, _value)

project = "repscope"
author = "repscope developers"
copyright = "repscope developers, MIT licence"  # noqa: A001
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "cli_help",
    "docstring_text",
    "api_refs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.codeobj.json"]
root_doc = "index"

# -- autodoc: the public API is each module's __all__ ---------------------------------------------------
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = False  # True breaks on signatures built from another function (layer_matrix)
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # "Attributes" sections as fields: no duplicate of the attributes autodoc lists
# "name : text" fields: the text is shown as written (often a description, not a type), not cross-referenced
napoleon_use_param = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Fitted attributes", "params_style")]
autosummary_generate = False

# Broken references warn, and `make docs` builds with -W. Explicit roles in docstrings (:func:, :mod:,
# :meth:, …) must resolve; type annotations and NumPy "name : type" fields name third-party classes (numpy,
# collections.abc, torch) that an offline build (no intersphinx) cannot link, so py:class targets are not
# checked.
nitpicky = True
nitpick_ignore_regex = [("py:class", r".*")]
# Bare words in those type fields ("n", "labels") match attributes of several classes: not a broken link.
suppress_warnings = ["ref.python"]

# -- MyST (the existing markdown pages) ------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# -- gallery ---------------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|/_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": "True",
}

# -- HTML ------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"repscope {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
