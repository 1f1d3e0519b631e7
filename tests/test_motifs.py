"""Motifs as data: builtins load, bad motifs fail clearly, nothing user-written reaches Cypher text."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgsynth.cypher import query
from kgsynth.cypher.motif import Motif, builtin_motifs, load_motif_file, resolve_motif
from kgsynth.cypher.plan import compile_motif
from kgsynth.errors import ConfigError


def _edge_motif(**changes) -> dict:
    data = {
        "name": "m",
        "shape": "edge",
        "slots": {"a": {"groups": ["Chemical"]}, "b": {"groups": ["Disease"]}},
        "edges": [{"subject": "a", "object": "b", "types": ["TREATS"]}],
    }
    data.update(changes)
    return data


def test_builtins_cover_every_shape() -> None:
    motifs = builtin_motifs()
    assert {m.shape for m in motifs.values()} == {"edge", "path", "star", "triangle", "bundle"}
    assert {"single_edge", "two_hop", "star", "triangle", "patient_bundle"} <= set(motifs)
    # the default fact types leave structure out
    assert not {"SAME_AS", "IS_A"} & set(motifs["single_edge"].anchor.types)


def test_unknown_group_and_type_are_rejected_with_the_name() -> None:
    bad_group = _edge_motif(slots={"a": {"groups": ["Drugz"]}, "b": {}})
    with pytest.raises(ConfigError, match="Drugz"):
        Motif.model_validate(bad_group)
    bad_type = _edge_motif(edges=[{"subject": "a", "object": "b", "types": ["HEALS"]}])
    with pytest.raises(ConfigError, match="HEALS"):
        Motif.model_validate(bad_type)


def test_structural_types_need_opt_in() -> None:
    same_as = _edge_motif(edges=[{"subject": "a", "object": "b", "types": ["SAME_AS"]}])
    with pytest.raises(ConfigError, match="allow_structural"):
        Motif.model_validate(same_as)
    assert Motif.model_validate({**same_as, "allow_structural": True}).anchor.types == ["SAME_AS"]


def test_shape_rules_are_checked() -> None:
    broken_path = {
        "name": "p",
        "shape": "path",
        "slots": {"a": {}, "b": {}, "c": {}},
        "edges": [
            {"subject": "a", "object": "b", "types": ["TREATS"]},
            {"subject": "a", "object": "c", "types": ["CAUSES"]},
        ],
    }
    with pytest.raises(ConfigError, match="second edge must start"):
        Motif.model_validate(broken_path)
    with pytest.raises(ConfigError, match="unknown slot"):
        Motif.model_validate(_edge_motif(edges=[{"subject": "a", "object": "zz", "types": ["TREATS"]}]))


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nshape: edge\nslots: {a: {groups: [Nope]}, b: {}}\nedges: [{subject: a, object: b}]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*Nope"):
        load_motif_file(path)
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: mine\nshape: edge\nslots: {a: {}, b: {}}\nedges: [{subject: a, object: b, types: [BINDS]}]\n"
    )
    assert resolve_motif(str(good)).name == "mine"
    with pytest.raises(ConfigError, match="unknown motif"):
        resolve_motif("no_such_motif")


@pytest.mark.parametrize(
    ("yaml_text", "line", "says"),
    [
        # a star whose leaf slot has no k: the leaf slot's line
        ("name: s\nshape: star\nslots:\n  hub: {}\n  leaf: {}\nedges:\n  - {subject: hub, object: leaf}\n", 5,
         r"motif s \(shape star\): the leaf slot needs min == max"),
        # an edge shape with two edges: the shape line
        ("name: e\nshape: edge\nslots: {a: {}, b: {}}\nedges:\n  - {subject: a, object: b}\n"
         "  - {subject: b, object: a}\n", 2, r"motif e \(shape edge\): needs exactly two slots"),
        # a triangle's third slot that is a set
        ("name: t\nshape: triangle\nslots:\n  a: {}\n  b: {}\n  c: {max: 3}\nedges:\n  - {subject: a, object: b}\n"
         "  - {subject: a, object: c}\n  - {subject: b, object: c}\n", 6, r"slot c must hold exactly one"),
        # a second path edge that does not continue the first: that edge's line
        ("name: p\nshape: path\nslots: {a: {}, b: {}, c: {}}\nedges:\n  - {subject: a, object: b}\n"
         "  - {subject: a, object: c}\n", 6, r"second edge must start"),
        # an unknown relation type (a Cypher fragment): the edge's types line
        ("name: x\nshape: edge\nslots: {a: {}, b: {}}\nedges:\n  - subject: a\n    object: b\n"
         "    types: ['TREATS]->() DELETE n //']\n", 7, r"edges\[0\]"),
        # a mistyped field: pydantic's location mapped to its line
        ("name: m\nshape: edge\nslots:\n  a: {}\n  b: {min: many}\nedges: [{subject: a, object: b}]\n", 5,
         r"slots\.b\.min"),
    ],
)
def test_motif_rule_errors_name_file_and_line(tmp_path: Path, yaml_text: str, line: int, says: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"mine\.yaml, line {line}: .*{says}"):
        load_motif_file(path)


def test_query_text_holds_only_allowlisted_names() -> None:
    """Groups and types travel as parameters: two motifs differing only in groups share one text."""
    one = compile_motif(Motif.model_validate(_edge_motif()))
    other = compile_motif(Motif.model_validate(_edge_motif(slots={"a": {"groups": ["Gene"]}, "b": {}})))
    assert one.query == other.query == "match_edge"
    text = query("motifs", one.query, TYPE="TREATS")
    assert "Chemical" not in text and "Gene" not in text and "$groups_a" in text
    with pytest.raises(ConfigError):
        query("motifs", "match_edge", TYPE="TREATS]->() DETACH DELETE a //")


def test_every_builtin_compiles_to_an_existing_query() -> None:
    for motif in builtin_motifs().values():
        plan = compile_motif(motif)
        text = query("motifs", plan.query, TYPE=plan.anchor_types[0])
        assert f"MATCH (a:Concept)-[r:{plan.anchor_types[0]}]->(b:Concept)" in text
