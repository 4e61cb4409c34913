"""Demo section, reproductions and built-in experiments of the dynamics lens (see :mod:`repscope.dynamics`)."""
