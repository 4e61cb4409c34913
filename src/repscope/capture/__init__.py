"""Capture activations of any PyTorch model into an on-disk :class:`~repscope.store.ActivationStore`."""

from repscope.capture.core import capture
from repscope.capture.select import list_layers, select_layers

__all__ = ["capture", "select_layers", "list_layers"]
