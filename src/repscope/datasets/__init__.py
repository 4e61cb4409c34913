"""Deprecated: moved to :mod:`repscope.experiments.datasets`."""

import sys

from repscope._deprecated import alias_package

sys.modules[__name__] = alias_package(__name__, "repscope.experiments.datasets", ("digits", "dsprites", "spurious"))
