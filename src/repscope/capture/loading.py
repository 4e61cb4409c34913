"""Load a user model for the CLI: ``package.module:factory`` plus a state_dict file.

Weights are loaded with ``torch.load(..., weights_only=True)`` only: a file that needs arbitrary
unpickling is refused (it could run code).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from repscope.errors import InputError


def load_weights(path: str | Path) -> dict[str, Any]:
    """Read a ``state_dict`` safely (``weights_only=True``); raise InputError with the fix otherwise."""
    import pickle

    import torch

    p = Path(path)
    if not p.exists():
        raise InputError(f"weights file '{p}' does not exist")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        raise InputError(
            f"'{p}' is not a plain tensor/state_dict file (loading it would require unpickling arbitrary "
            f"objects, which repscope refuses for safety); save it with torch.save(model.state_dict(), path)"
        ) from exc
    except Exception as exc:
        raise InputError(f"cannot read weights file '{p}': {exc}") from exc
    if not isinstance(obj, dict):
        raise InputError(f"'{p}' holds a {type(obj).__name__}, not a state_dict; save model.state_dict()")
    return obj


def load_model_spec(
    spec: str,
    weights: str | Path | None = None,
    *,
    seed: int = 0,
    builtins: Mapping[str, Callable[[int], Any]] | None = None,
) -> Any:
    """A model from ``module:factory`` (+ ``weights``), or a name in ``builtins`` (``{name: f(seed) -> model}``;
    the CLI passes the embedded digits models there, so this module never depends on the experiments)."""
    builtins = dict(builtins or {})
    if spec in builtins:
        model = builtins[spec](seed)
    else:
        if ":" not in spec:
            raise InputError(
                f"model {spec!r} is neither a built-in ({', '.join(builtins) or 'none'}) nor "
                f"'package.module:factory'"
            )
        mod_name, fn_name = spec.split(":", 1)
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise InputError(f"cannot import module {mod_name!r} for --model ({exc}); check PYTHONPATH") from exc
        fn = getattr(mod, fn_name, None)
        if not callable(fn):
            raise InputError(f"{mod_name!r} has no callable {fn_name!r} to build the model")
        model = fn()
    if weights is not None:
        state = load_weights(weights)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(f"weights '{weights}' do not fit the model: {str(exc).splitlines()[0]}") from exc
    return model


def load_array(path: str | Path, what: str = "data") -> np.ndarray:
    """Load ``.npy`` (no pickles) or a tensor saved with torch.save (weights_only)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file '{p}' does not exist")
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"'{p}' needs pickle to load, which repscope refuses; save a numeric array") from exc
    if p.suffix in (".pt", ".pth"):
        import torch

        try:
            t = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"'{p}' is not a plain tensor file ({exc})") from exc
        if not hasattr(t, "numpy"):
            raise InputError(f"'{p}' holds a {type(t).__name__}, not a tensor")
        return t.numpy()
    raise InputError(f"{what} file '{p}' must be .npy or .pt")
