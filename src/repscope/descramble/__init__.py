"""repscope.descramble."""
