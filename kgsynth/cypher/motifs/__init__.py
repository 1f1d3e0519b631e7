"""Builtin motif definitions (YAML), loaded by :func:`kgsynth.cypher.motif.builtin_motifs`."""
