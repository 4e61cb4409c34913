"""repscope.metrics."""
