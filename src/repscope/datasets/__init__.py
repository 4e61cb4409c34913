"""repscope.datasets."""
