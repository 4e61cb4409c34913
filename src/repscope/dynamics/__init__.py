"""repscope.dynamics."""
