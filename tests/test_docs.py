"""The documentation site: it builds with warnings as errors, documents the whole public API and every CLI
command, and each gallery example runs.

Fast form of ``make docs``: the site is built without executing the gallery (``-D plot_gallery=0``) while,
in parallel, a second process runs every gallery script as a script (``__main__``, in a temporary
directory) — the same code sphinx-gallery executes in the full build. The docs extra (sphinx,
sphinx-gallery, myst-parser, furo) is installed by ``make test``'s set-up.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
sys.path.insert(0, str(DOCS / "_ext"))

RUN_EXAMPLES = r"""
import runpy, sys, tempfile, time, traceback, os
import matplotlib.pyplot as plt
failed = []
for path in sys.argv[1:]:
    os.chdir(tempfile.mkdtemp(prefix="repscope-example-"))
    t0 = time.perf_counter()
    try:
        runpy.run_path(path, run_name="__main__")
    except BaseException:
        failed.append(path)
        print(f"FAILED {path}", file=sys.stderr)
        traceback.print_exc()
    plt.close("all")
    print(f"example {os.path.basename(path)}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               DASK_LOGGING__DISTRIBUTED="warning")
    return env


@pytest.fixture(scope="module")
def examples_process():
    """Every gallery script, run in one background process while the site builds (2 cores on CI)."""
    assert len(EXAMPLES) >= 7, EXAMPLES
    proc = subprocess.Popen([sys.executable, "-c", RUN_EXAMPLES, *map(str, EXAMPLES)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def site(tmp_path_factory, examples_process):
    import sphinx  # noqa: F401  (an ImportError here means: pip install -e ".[docs]")

    out = tmp_path_factory.mktemp("site")
    res = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                          "-D", "plot_gallery=0", "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
                         env=_env(), capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, f"sphinx -W failed:\n{res.stderr[-6000:]}"
    return out / "html"


API = ["capture", "store", "metrics", "ranges", "topology", "dynamics", "descramble", "report", "results",
       "errors", "lenses", "parallel", "scale"]


def test_site_builds_and_documents_every_public_callable(site):
    for page in ["index", "getting-started", "cli", "architecture", "scale-out", "api/index",
                 "auto_examples/index"]:
        assert (site / f"{page}.html").exists(), page
    for name in API:
        mod = importlib.import_module(f"repscope.{name}")
        own = [n for n, v in vars(mod).items() if n[0] != "_" and getattr(v, "__module__", "") == mod.__name__]
        names = getattr(mod, "__all__", None) or own
        html = (site / "api" / f"{name}.html").read_text()
        for attr in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # moved names keep their entry
                value = getattr(mod, attr)
            if isinstance(value, type) or callable(value) and not isinstance(value, types.ModuleType):
                assert f'id="repscope.{name}.{attr}"' in html, f"repscope.{name}.{attr} is not in the API reference"
    for example in EXAMPLES:
        assert (site / "auto_examples" / f"{example.stem}.html").exists(), example.name


def test_cli_page_shows_every_command_help(site):
    from cli_help import cli_help

    html = (site / "cli.html").read_text()
    helps = cli_help()
    names = {" ".join(path) for path, _ in helps}
    assert {"repscope", "repscope capture", "repscope report", "repscope dynamics compare"} <= names
    for path, text in helps:
        assert f"$ {' '.join(path)} --help" in html
        assert text.splitlines()[0].split()[0] == "Usage:"


def test_every_gallery_example_runs(examples_process):
    out, _ = examples_process.communicate(timeout=600)
    assert examples_process.returncode == 0, out[-8000:]
    assert out.count("example plot_") == len(EXAMPLES), out[-4000:]


def test_docstring_text_escapes_prose_but_not_markup():
    from docstring_text import _escape, close_sections, process

    assert _escape("|x − y| over cost_ and ``|a|`` :class:`A_`") == r"\|x − y\| over cost\_ and ``|a|`` :class:`A_`"
    lines = [":param w: norm |v| of P_", "  continued |v|", "Returns a :class:`X`."]
    process(None, "function", "f", None, None, lines)
    assert lines == [r":param w: norm \|v\| of P\_", r"  continued \|v\|", "", "Returns a :class:`X`."]
    lines = ["Parameters", "----------", "a, b : ints", "    values.", "", "Returns a :class:`X`; more.", "y"]
    close_sections(None, "function", "f", None, None, lines)
    assert lines[4:7] == ["", "", "Returns a :class:`X`; more."]  # two blank lines end napoleon's section
    lines = ["Parameters", "----------", "a:", "    one.", "", "b : int", "    two."]
    close_sections(None, "function", "f", None, None, lines)
    assert lines.count("") == 1  # a second parameter after a blank line stays in the section
