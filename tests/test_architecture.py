"""The package's shape: the import graph between repscope's parts follows the documented layers, with no
cycles, and the library never depends on the experiments (docs/architecture.md).

Every ``import`` / ``from … import`` statement is read from the source (module level and inside
functions alike), so a lazy import cannot hide a dependency. Run this file with ``-s`` to print the graph.
"""

from __future__ import annotations

import ast
import inspect
import pathlib

import repscope
from repscope.lenses import LENSES

SRC = pathlib.Path(repscope.__file__).parent

#: Layers, bottom to top. A part may import parts of its own or a lower layer only.
LAYERS: list[set[str]] = [
    {"errors", "results", "validation", "parallel", "_paths", "_version", "lenses"},
    {"store"},
    {"capture"},
    {"metrics", "scale"},
    {"ranges", "topology", "dynamics", "descramble"},
    {"report"},
    {"experiments"},
    {"commands", "cli"},
]
#: (importer, imported) pairs allowed despite the layers, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {}
#: Names the package root re-exports, by the part that defines them.
ROOT_NAMES = {"open_store": "store", "capture": "capture", "RepscopeError": "errors", "InputError": "errors",
              "StoreError": "errors", "CaptureError": "errors", "ConvergenceError": "errors", "__version__": "_version"}
LAYER_OF = {part: k for k, parts in enumerate(LAYERS) for part in parts}
#: The lens registry: the one table allowed to name modules above it (it is data; a lens is imported when it
#: is used). Its names are not counted as its imports; test_the_lens_registry_names_lenses checks them.
REGISTRY = "repscope.lenses"


def _part(module: str) -> str | None:
    bits = module.split(".")
    if bits[0] != "repscope":
        return None
    return bits[1] if len(bits) > 1 else ""


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(target: str, name: str | None = None) -> str | None:
    """The module file ``target`` (``from target import name``: ``target.name`` when that is a module) is,
    walking up to the nearest existing module; None outside repscope."""
    if not target.startswith("repscope"):
        return None
    if name and f"{target}.{name}" in MODULES:
        return f"{target}.{name}"
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _dynamic_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)) in ("import_module", "__import__")


def imports_in(mod: str, source: str, *, is_pkg: bool = False) -> list[tuple[str, str]]:
    """[(imported repscope module, how)] of one source file, module level and inside functions alike.

    ``how`` is ``"import"`` (an import statement, or ``importlib.import_module("repscope.x")`` /
    ``__import__`` with a literal name), ``"root"`` (the package root: ``import repscope``, ``from repscope
    import x``) or ``"string"``: a module named in a string by a file that imports by name — a plug-in table
    such as the measure registry's providers. Dynamic imports are imports: they count for the layers and for
    cycles between parts. Within a part, a plug-in table naming the plug-ins that register into it is the
    plug-in pattern, not a cycle of code, so ``"string"`` edges do not count there."""
    tree = ast.parse(source)
    found: list[tuple[str, str]] = []
    calls = [n for n in ast.walk(tree) if _dynamic_call(n)]
    literal = {id(c.args[0]) for c in calls if c.args and isinstance(c.args[0], ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, "root" if a.name == "repscope" else "import") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = mod.split(".")[: len(mod.split(".")) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "repscope":
                found += [(f"repscope.{ROOT_NAMES.get(a.name, a.name)}", "root") for a in node.names]
            else:
                found += [(_resolve(target, a.name) or target, "import") for a in node.names]
        elif _dynamic_call(node) and node.args and isinstance(node.args[0], ast.Constant):
            found.append((str(node.args[0].value), "import"))  # import_module("repscope.x"): an import
        elif calls and isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in literal:
            if node.value.startswith("repscope.") and _resolve(node.value) not in (None, "repscope"):
                found.append((node.value, "string"))
    return [(t, how) for t, how in found if t.split(".")[0] == "repscope"]


def module_imports() -> dict[str, list[tuple[str, str]]]:
    """{module: imports_in(module)} over every source file."""
    return {mod: imports_in(mod, path.read_text(), is_pkg=path.name == "__init__.py")
            for mod, path in MODULES.items()}


def import_edges() -> dict[tuple[str, str], list[str]]:
    """{(importing part, imported part): [importing modules]} over every source file."""
    edges: dict[tuple[str, str], list[str]] = {}
    for mod, targets in module_imports().items():
        src_part = _part(mod)
        for t, how in targets:
            if mod == REGISTRY and how == "string":
                continue
            dst = _part(t)
            if dst is None or dst == src_part or src_part == "" or dst == "":
                continue
            edges.setdefault((src_part, dst), []).append(mod)
    return edges


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    unknown = sorted(parts - set(LAYER_OF))
    assert not unknown, f"parts without a layer in tests/test_architecture.py and docs/architecture.md: {unknown}"


def test_imports_follow_the_layers():
    edges = import_edges()
    bad = []
    for (a, b), where in sorted(edges.items()):
        if (a, b) in ALLOWED:
            continue
        if LAYER_OF[b] > LAYER_OF[a]:
            bad.append(f"{a} (layer {LAYER_OF[a]}) → {b} (layer {LAYER_OF[b]}) in {sorted(set(where))}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_library_never_imports_experiments():
    edges = import_edges()
    library = set(LAYER_OF) - {"experiments", "commands", "cli"}
    bad = {k: v for k, v in edges.items() if k[0] in library and k[1] == "experiments" and k not in ALLOWED}
    assert not bad, bad


def test_no_import_cycles_between_parts():
    edges = {e for e in import_edges() if e not in ALLOWED}
    assert _cycles(edges) == []


def test_the_import_reader_sees_root_and_dynamic_imports():
    """Known answers for the reader itself, on a made-up module of the metrics part."""
    src = (
        "import importlib\nimport repscope\nfrom repscope import capture\nfrom repscope.store import open_store\n"
        "def f():\n    importlib.import_module('repscope.topology')\n"
        "PLUGINS = ['repscope.ranges.entry', 'not.repscope']\n"
        "def g(m):\n    return __import__(m)\n"
    )
    assert sorted(imports_in("repscope.metrics.x", src)) == [
        ("repscope", "root"), ("repscope.capture", "root"), ("repscope.ranges.entry", "string"),
        ("repscope.store", "import"), ("repscope.topology", "import"),
    ]
    assert imports_in("repscope.metrics.x", "x = 'repscope.ranges'") == []  # no import by name: just text


def test_no_module_imports_the_package_root():
    """Inside the package, import what you use from where it lives (``from repscope.store import
    open_store``), never through the root: the root imports the parts lazily, so a root import hides the
    real dependency from this test and invites cycles (store → repscope → store)."""
    bad = sorted({f"{mod}: {t}" for mod, targets in module_imports().items() if mod != "repscope"
                  for t, how in targets if how == "root"})
    assert not bad, "root imports inside the package:\n" + "\n".join(bad)


def test_no_import_cycles_between_files_of_a_part():
    """Within a part (a package such as ``capture`` or ``store``) the files import each other one way
    too: shared helpers live in a lower file."""
    edges = {(mod, _resolve(t)) for mod, targets in module_imports().items() for t, how in targets
             if how != "string" and _resolve(t) not in (None, mod) and _part(mod) and _part(mod) == _part(t)}
    assert _cycles(edges) == []


def test_the_lens_registry_names_lenses():
    """Every lens the registry names is a package in the lens layers whose entry module defines
    ``applies(store, *, options…)`` and ``analyse(store, *, layers, seed, scheduler, n_workers, device, progress, …)``;
    its measures module lives in the same package; every layer-4 part is a registered lens."""
    packages = {lens.package for lens in LENSES}
    assert len({lens.key for lens in LENSES}) == len(LENSES) and [x.order for x in LENSES] == sorted(
        x.order for x in LENSES)
    assert LAYERS[4] <= packages and all(LAYER_OF[p] in (3, 4) for p in packages), packages
    for lens in LENSES:
        for name in filter(None, (lens.entry, lens.measures)):
            assert name in MODULES and _part(name) == lens.package, (lens.key, name)
        # applies(store, *, <the analyse options that can make it apply>): the report passes them through
        first, *rest = inspect.signature(lens.applies).parameters.values()
        assert first.name == "store", lens.key
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in rest), lens.key
        params = inspect.signature(lens.analyse).parameters
        assert {"layers", "seed", "scheduler", "n_workers", "device", "progress"} <= params.keys(), lens.key
    # the registry is the only place that names them: the report loads lenses through it alone
    assert not {b for (a, b) in import_edges() if a == "report"} & packages


def test_print_graph(capsys):
    """Not an assertion: the graph, for the architecture document (pytest -s tests/test_architecture.py)."""
    edges = import_edges()
    with capsys.disabled():
        print("\nimport graph (importer → imported parts):")
        for a in sorted({a for a, _ in edges}, key=lambda p: (LAYER_OF.get(p, -1), p)):
            outs = sorted({b for x, b in edges if x == a}, key=lambda p: (LAYER_OF.get(p, -1), p))
            print(f"  {a:12s} → {', '.join(outs)}")
    assert edges


def test_library_never_uses_pyplot():
    """Library figures are plain Figures (results.subplots): pyplot would switch a user's backend and keep
    every figure alive in its manager. Only the CLI and the experiments may use it."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        part = _part(_module_name(path))
        if part in {"commands", "cli", "experiments"}:
            continue
        text = path.read_text()
        if "matplotlib.pyplot" in text.replace('sys.modules.get("matplotlib.pyplot")', "") or "matplotlib.use(" in text:
            bad.append(str(path.relative_to(SRC)))
    assert not bad, f"library modules using pyplot or switching the backend: {bad}"
