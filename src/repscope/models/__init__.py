"""Deprecated: moved to :mod:`repscope.experiments.models` (user-model loading: :mod:`repscope.capture.loading`)."""

import importlib
import sys

from repscope._deprecated import alias_package

_pkg = alias_package(__name__, "repscope.experiments.models", ("digits", "text"))
sys.modules[__name__ + ".load"] = importlib.import_module("repscope.capture.loading")
sys.modules[__name__] = _pkg
