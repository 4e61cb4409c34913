"""Error hierarchy. Every error a user can cause is a :class:`RepscopeError` whose message names the
problem *and* the fix; the CLI prints it on one line and exits with status 2."""

from __future__ import annotations


class RepscopeError(Exception):
    """Base class for every error repscope raises on purpose."""

    exit_code = 2


class InputError(RepscopeError, ValueError):
    """Bad user input: wrong shapes, NaN/Inf, too few samples, unknown names, bad options."""


class StoreError(RepscopeError):
    """An activation store that is missing, corrupt, incomplete, or of an unsupported format."""


class CaptureError(RepscopeError):
    """Capturing activations failed (e.g. the model raised during its forward pass)."""


class ConvergenceError(RepscopeError):
    """An iterative solver did not reach its tolerance."""
