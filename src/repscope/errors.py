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


class DependencyError(RepscopeError, ImportError):
    """An optional dependency is not installed; the message names the pip extra that provides it."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before its tolerance; the result carries ``converged=False``."""


#: What an iterative solver does when it stops short of its tolerance (the one policy of repscope):
#: ``"warn"`` (default) — return the result with ``converged=False`` and emit a :class:`ConvergenceWarning`;
#: ``"raise"`` — raise :class:`ConvergenceError`; ``"ignore"`` — only the flag.
ON_FAIL = ("warn", "raise", "ignore")


def not_converged(message: str, on_fail: str = "warn") -> None:
    """Apply the convergence policy for a solver that stopped short (``message`` names the fix)."""
    import warnings

    if on_fail not in ON_FAIL:
        raise InputError(f"on_fail={on_fail!r} is not one of {', '.join(ON_FAIL)}")
    if on_fail == "raise":
        raise ConvergenceError(message)
    if on_fail == "warn":
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
