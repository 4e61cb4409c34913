"""Capture activations of any PyTorch model into an on-disk :class:`~repscope.store.ActivationStore`."""

from repscope.capture.core import capture
from repscope.capture.listing import LayerTable, list_layers
from repscope.capture.select import select_layers

# `repscope.capture` resolves to the function at package level; keep the helpers reachable from it.
capture.list_layers = list_layers  # type: ignore[attr-defined]
capture.select_layers = select_layers  # type: ignore[attr-defined]

__all__ = ["capture", "select_layers", "list_layers", "LayerTable"]
