"""Demo section, reproductions and built-in experiments of the ranges lens (see :mod:`repscope.ranges`)."""
