"""repscope.ranges."""
