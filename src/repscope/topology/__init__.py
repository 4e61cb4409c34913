"""repscope.topology."""
