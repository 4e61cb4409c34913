"""Demo section, reproductions and built-in experiments of the similarity lens (see :mod:`repscope.metrics`)."""
