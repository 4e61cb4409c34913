"""Demo section, reproductions and built-in experiments of the topology lens (see :mod:`repscope.topology`)."""
