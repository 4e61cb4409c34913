"""repscope.store."""
