"""repscope.models."""
