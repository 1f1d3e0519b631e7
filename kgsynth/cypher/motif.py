"""Motifs declared as data: typed slots, typed edges and a shape.

A motif is what a note is written from (one fact, a path, a patient bundle...).
It is validated against the schema allowlist when it is built, so a typo in a
YAML file fails with a clear :class:`ConfigError` before any query runs, and
nothing user-written can reach query text: groups and types only travel as
query parameters, except the anchor type, which is filled from the allowlist.

Every motif has an *anchor* edge (its first edge): sampling draws anchors of
one relation type at a time, which is what makes per-relation-type balance and
graph-size-independent cost possible (see :mod:`kgsynth.cypher.sampling`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from kgsynth.errors import ConfigError, validation_detail
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS, check_group, check_relation_type
from kgsynth.inputs import YamlPath, line_at, load_yaml, read_text, yaml_lines

Shape = Literal["edge", "path", "star", "triangle", "bundle"]

#: Relation types that are structure, not facts: a motif uses them only when it says so.
STRUCTURAL_TYPES: tuple[str, ...] = ("IS_A", "SAME_AS")
#: Every fact type: the default of an edge that names no types.
FACT_TYPES: tuple[str, ...] = tuple(t for t in RELATION_TYPES if t not in STRUCTURAL_TYPES)


class MotifError(ConfigError):
    """A motif that breaks a rule; ``loc`` is the YAML path of what is wrong, so the error can name its line."""

    def __init__(self, message: str, loc: YamlPath = ()) -> None:
        super().__init__(message)
        self.loc = loc


class Slot(BaseModel):
    """A node variable; ``min``/``max`` > 1 make it a set (star leaves, symptoms)."""

    groups: list[str] = Field(default_factory=list, description="Allowed semantic groups; empty = any.")
    min: int = Field(default=1, ge=0)
    max: int = Field(default=1, ge=1)

    def allowed_groups(self) -> list[str]:
        return list(self.groups) if self.groups else list(SEMANTIC_GROUPS)


class MotifEdge(BaseModel):
    """A typed edge between two slots, ``subject -> object``."""

    subject: str
    object: str
    types: list[str] = Field(default_factory=lambda: list(FACT_TYPES))
    directed: bool = True


class Motif(BaseModel):
    """A small typed graph pattern; ``edges[0]`` is the anchor edge."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    description: str = ""
    shape: Shape
    slots: dict[str, Slot]
    edges: list[MotifEdge] = Field(min_length=1)
    #: Allow IS_A / SAME_AS edges to be sampled as facts.
    allow_structural: bool = False

    @model_validator(mode="after")
    def _check(self) -> Motif:
        for slot_name, slot in self.slots.items():
            for group in slot.groups:
                try:
                    check_group(group)
                except ConfigError as exc:
                    raise MotifError(f"motif {self.name}: slots[{slot_name}]: {exc}", ("slots", slot_name)) from None
            if slot.min > slot.max:
                raise MotifError(f"motif {self.name}: slots[{slot_name}] has min > max", ("slots", slot_name))
        for i, edge in enumerate(self.edges):
            where = f"motif {self.name}: edges[{i}]"
            for end in (edge.subject, edge.object):
                if end not in self.slots:
                    raise MotifError(f"{where} names unknown slot {end!r}", ("edges", i))
            if not edge.types:
                raise MotifError(f"{where} ({edge.subject}->{edge.object}) has no types", ("edges", i, "types"))
            for type_ in edge.types:
                try:
                    check_relation_type(type_)
                except ConfigError as exc:
                    raise MotifError(f"{where}: {exc}", ("edges", i, "types")) from None
                if type_ in STRUCTURAL_TYPES and not self.allow_structural:
                    raise MotifError(
                        f"{where}: {type_} is structure, not a fact; set allow_structural: true to sample it",
                        ("edges", i, "types"),
                    )
        _SHAPE_CHECKS[self.shape](self)
        return self

    @property
    def anchor(self) -> MotifEdge:
        return self.edges[0]


def _fail(motif: Motif, why: str, loc: YamlPath = ("shape",)) -> None:
    raise MotifError(f"motif {motif.name} (shape {motif.shape}): {why}", loc)


def _check_anchor(motif: Motif) -> None:
    anchor = motif.anchor
    if not anchor.directed:
        _fail(motif, "the first (anchor) edge must be directed", ("edges", 0))
    if anchor.subject == anchor.object:
        _fail(motif, "the anchor edge must join two different slots", ("edges", 0))
    for end in (anchor.subject, anchor.object):
        if motif.slots[end].max != 1 and motif.shape != "star":
            _fail(motif, f"anchor slot {end} must hold exactly one concept", ("slots", end))


def _check_edge(motif: Motif) -> None:
    _check_anchor(motif)
    if len(motif.edges) != 1 or len(motif.slots) != 2:
        _fail(motif, "needs exactly two slots and one edge")


def _check_star(motif: Motif) -> None:
    _check_anchor(motif)
    if len(motif.edges) != 1 or len(motif.slots) != 2:
        _fail(motif, "needs a hub slot, a leaf slot and one edge hub -> leaf")
    if motif.slots[motif.anchor.subject].max != 1:
        _fail(motif, "the hub slot must hold exactly one concept", ("slots", motif.anchor.subject))
    leaf = motif.slots[motif.anchor.object]
    if leaf.min != leaf.max or leaf.min < 2:
        _fail(motif, "the leaf slot needs min == max >= 2 (the number k of distinct neighbours)",
              ("slots", motif.anchor.object))


def _check_tree(motif: Motif, arms: int, exact: bool) -> None:
    """Anchor plus ``arms`` edges, each from an anchor slot to a new slot."""
    _check_anchor(motif)
    rest = motif.edges[1:]
    if (len(rest) != arms) if exact else not (1 <= len(rest) <= arms):
        _fail(motif, f"needs the anchor edge plus {arms} edge(s) from its slots to new slots")
    anchor_slots = {motif.anchor.subject, motif.anchor.object}
    seen = set(anchor_slots)
    for i, edge in enumerate(rest, 1):
        ends = {edge.subject, edge.object}
        inner, outer = ends & anchor_slots, ends - anchor_slots
        if len(inner) != 1 or len(outer) != 1 or outer & seen:
            _fail(motif, f"edge {edge.subject}->{edge.object} must join an anchor slot to a new slot", ("edges", i))
        seen |= outer
    if seen != set(motif.slots):
        _fail(motif, "every slot must be reached by an edge")


def _check_path(motif: Motif) -> None:
    _check_tree(motif, 1, exact=True)
    if motif.edges[1].subject != motif.anchor.object:
        _fail(motif, "the second edge must start where the first ends: (a)-[r1]->(b)-[r2]->(c)", ("edges", 1))


def _check_bundle(motif: Motif) -> None:
    _check_tree(motif, 2, exact=False)


def _check_triangle(motif: Motif) -> None:
    _check_anchor(motif)
    if len(motif.edges) != 3 or len(motif.slots) != 3:
        _fail(motif, "needs three slots and three edges")
    a, b = motif.anchor.subject, motif.anchor.object
    (c,) = set(motif.slots) - {a, b}
    pairs = [{e.subject, e.object} for e in motif.edges[1:]]
    if {a, c} not in pairs or {b, c} not in pairs:
        _fail(motif, f"edges 2 and 3 must join {a}-{c} and {b}-{c}")
    if motif.slots[c].max != 1:
        _fail(motif, f"slot {c} must hold exactly one concept", ("slots", c))


_SHAPE_CHECKS = {
    "edge": _check_edge,
    "path": _check_path,
    "star": _check_star,
    "triangle": _check_triangle,
    "bundle": _check_bundle,
}


# -- loading ------------------------------------------------------------------
def parse_motif(data: object, origin: str, lines: dict[YamlPath, int] | None = None) -> Motif:
    """Validate one motif mapping; ``origin`` (a file name) and, with ``lines`` (see
    :func:`kgsynth.inputs.yaml_lines`), the line of what is wrong go into the error."""

    def where(loc: YamlPath) -> str:
        line = line_at(lines, loc) if lines else None
        return f"{origin}, line {line}" if line is not None else origin

    try:
        return Motif.model_validate(data)
    except ValidationError as exc:
        loc = tuple(exc.errors()[0]["loc"])
        raise ConfigError(f"{where(loc)}: invalid motif at {validation_detail(exc, 'top level')}") from exc
    except MotifError as exc:
        raise ConfigError(f"{where(exc.loc)}: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def load_motif_file(path: Path) -> Motif:
    """A motif from a YAML file; a broken rule names the file and line."""
    data = load_yaml(path, ConfigError)
    return parse_motif(data, str(path), yaml_lines(read_text(path)))


def builtin_motifs() -> dict[str, Motif]:
    """The motifs shipped in ``kgsynth/cypher/motifs/*.yaml``, by name."""
    folder = resources.files("kgsynth.cypher.motifs")
    motifs = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            motif = parse_motif(yaml.safe_load(entry.read_text(encoding="utf-8")), f"builtin {entry.name}")
            motifs[motif.name] = motif
    return motifs


def resolve_motif(name_or_path: str) -> Motif:
    """A builtin motif by name, or a YAML file by path."""
    builtins = builtin_motifs()
    if name_or_path in builtins:
        return builtins[name_or_path]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and os.path.lexists(path):  # a dangling link is an error, not a name
        return load_motif_file(path)
    raise ConfigError(f"unknown motif {name_or_path!r}; builtin: {', '.join(builtins)} (or pass a .yaml file)")
