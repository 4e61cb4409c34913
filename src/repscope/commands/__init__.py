"""CLI commands, one module per lens; each defines ``register(app)``. Glue only: parse → call → print."""

from __future__ import annotations

import importlib
import importlib.util

# Explicit list: every lens's command module. Order = order in `repscope --help`.
COMMAND_MODULES = ["core", "store", "compare", "rsa", "estimate", "ranges", "topology", "dynamics", "descramble",
                   "scale"]


def register_all(app) -> None:
    for name in COMMAND_MODULES:
        spec = importlib.util.find_spec(f"repscope.commands.{name}")
        if spec is None:  # lens not merged yet
            continue
        importlib.import_module(f"repscope.commands.{name}").register(app)
