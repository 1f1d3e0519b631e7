"""Style exemplars, one file per note type."""
