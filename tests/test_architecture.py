"""The package's shape: the import graph between repscope's parts follows the documented layers, with no
cycles, and the library never depends on the experiments (docs/architecture.md).

Every ``import`` / ``from … import`` statement is read from the source (module level and inside
functions alike), so a lazy import cannot hide a dependency. Run this file with ``-s`` to print the graph.
"""

from __future__ import annotations

import ast
import pathlib

import repscope

SRC = pathlib.Path(repscope.__file__).parent

#: Layers, bottom to top. A part may import parts of its own or a lower layer only.
LAYERS: list[set[str]] = [
    {"errors", "results", "validation", "parallel", "_paths", "_version"},
    {"store"},
    {"capture"},
    {"metrics", "scale"},
    {"ranges", "topology", "dynamics", "descramble"},
    {"report"},
    {"experiments"},
    {"commands", "cli"},
]
#: (importer, imported) pairs allowed despite the layers, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("ranges", "experiments"): "deprecated alias repscope.ranges.run_benchmark → repscope.experiments",
}
#: Names the package root re-exports, by the part that defines them.
ROOT_NAMES = {"open_store": "store", "capture": "capture", "RepscopeError": "errors", "InputError": "errors",
              "StoreError": "errors", "CaptureError": "errors", "ConvergenceError": "errors", "__version__": "_version"}
LAYER_OF = {part: k for k, parts in enumerate(LAYERS) for part in parts}


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


def import_edges() -> dict[tuple[str, str], list[str]]:
    """{(importing part, imported part): [importing modules]} over every source file."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        mod = _module_name(path)
        src_part = _part(mod)
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import
                    base = mod.split(".")[: len(mod.split(".")) - node.level + (1 if is_pkg else 0)]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                elif node.module:
                    targets = [node.module]
                    if node.module == "repscope":
                        targets = [f"repscope.{ROOT_NAMES.get(a.name, a.name)}" for a in node.names]
            for t in targets:
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
