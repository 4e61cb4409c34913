"""Demo section, reproductions and built-in experiments of the descramble lens (see :mod:`repscope.descramble`)."""
