"""kgsynth: knowledge-graph-grounded generation of annotated biomedical text."""

__version__ = "0.1.0"
