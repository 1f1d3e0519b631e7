"""Loaders: sources -> streams of Concept/Relation records -> the graph store.

``base`` (the Loader interface, LoadContext, LoadReport), ``runner`` (batching into a
store), ``mapping`` (the one relation-label table), ``identity`` (id prefixes, SAME_AS,
equivalence sets), one module per source (``umls``, ``snomed``, ``obo``, ``biored``;
``corpus`` reads annotated documents for both BioRED and evaluation), ``demo`` (the
open-ontology demo KG) and ``cli``.
"""
