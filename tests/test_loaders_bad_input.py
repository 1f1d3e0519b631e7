"""Bad input: strict mode stops at the first bad row naming file and line; --skip-bad counts and keeps it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import InputError
from kgsynth.graph.memory import MemoryStore
from kgsynth.loaders.obo import OboLoader, OntologyJsonLoader
from kgsynth.loaders.runner import run_load
from kgsynth.loaders.snomed import SnomedLoader
from kgsynth.loaders.umls import UmlsLoader

UMLS = Path(__file__).parent / "data" / "umls"
OBO = Path(__file__).parent / "data" / "obo"


@pytest.fixture
def umls_copy(tmp_path: Path) -> Path:
    target = tmp_path / "umls"
    shutil.copytree(UMLS, target)
    return target


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the embedded store file back, so no NEO4J_URI may redirect the CLI."""
    monkeypatch.delenv("NEO4J_URI", raising=False)


def _replace_line(path: Path, number: int, new: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[number - 1] = new
    path.write_bytes(b"".join(lines))


def _load(loader, **kwargs):
    return run_load(loader, MemoryStore(None), show_progress=False, **kwargs)


def test_wrong_column_count_strict_names_file_and_line(umls_copy: Path):
    _replace_line(umls_copy / "MRREL.RRF", 3, b"C9000001||CUI|RO|C9000003|manifestation_of|\n")
    with pytest.raises(InputError, match=r"MRREL\.RRF, line 3: wrong column count: expected 17"):
        _load(UmlsLoader(umls_copy))


def test_wrong_column_count_lenient_skips_counts_and_keeps_the_line(umls_copy: Path, tmp_path: Path):
    bad = b"C9000001||CUI|RO|C9000003|manifestation_of|\n"
    _replace_line(umls_copy / "MRREL.RRF", 3, bad)
    rejects = tmp_path / "rejects.tsv"
    report = _load(UmlsLoader(umls_copy), strict=False, rejects=rejects)
    assert report.skipped_by_reason["wrong column count"] == 1
    assert report.relations_by_type.get("HAS_PHENOTYPE") is None  # the bad row was that fact
    assert report.rejects_file == str(rejects)
    kept = rejects.read_text(encoding="utf-8")
    assert ("MRREL.RRF, line 3\twrong column count: expected 17 '|'-separated fields, found 7\t"
            "C9000001||CUI|RO|C9000003|manifestation_of|") in kept


def test_bad_id(umls_copy: Path):
    _replace_line(
        umls_copy / "MRCONSO.RRF",
        6,
        b"X900002|ENG|P|L9000010|PF|S9000010|Y|A90000010|||D900002|MSH|MH|D900002|Glucoflux|0|N||\n",
    )
    with pytest.raises(InputError, match=r"MRCONSO\.RRF, line 6: bad id: CUI 'X900002'"):
        _load(UmlsLoader(umls_copy))
    report = _load(UmlsLoader(umls_copy), strict=False)
    assert report.skipped_by_reason["bad id"] == 1


def test_bad_sctid(tmp_path: Path, shared_data: Path):
    source = shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot"
    target = tmp_path / "rf2"
    shutil.copytree(source, target)
    rel = next(target.rglob("sct2_Relationship_Snapshot*.txt"))
    text = rel.read_text(encoding="utf-8").replace("\t21927003\t", "\tNOT-AN-ID\t", 1)
    rel.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"sct2_Relationship_Snapshot_INT_20180731\.txt, line \d+: bad id"):
        _load(SnomedLoader(target))


def test_unknown_file_layout(umls_copy: Path, tmp_path: Path):
    conso = umls_copy / "MRCONSO.RRF"
    conso.write_text(conso.read_text(encoding="utf-8").replace("|", "\t"), encoding="utf-8")
    with pytest.raises(InputError, match=r"MRCONSO\.RRF, line 1: unknown file layout"):
        _load(UmlsLoader(umls_copy), strict=False)  # a wrong layout is never skipped row by row
    not_obo = tmp_path / "x.obo"
    not_obo.write_text("<html>not an ontology</html>\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown file layout"):
        _load(OboLoader(not_obo))
    not_graph = tmp_path / "x.json"
    not_graph.write_text('{"nodes": []}', encoding="utf-8")
    with pytest.raises(InputError, match="unknown file layout"):
        _load(OntologyJsonLoader(not_graph))


def test_unknown_rf2_header(tmp_path: Path, shared_data: Path):
    target = tmp_path / "rf2"
    shutil.copytree(shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot", target)
    concept = next(target.rglob("sct2_Concept_Snapshot*.txt"))
    concept.write_text(concept.read_text(encoding="utf-8").replace("definitionStatusId", "status"), encoding="utf-8")
    with pytest.raises(InputError, match="unknown file layout: header"):
        _load(SnomedLoader(target))


def test_wrong_encoding(umls_copy: Path):
    _replace_line(
        umls_copy / "MRCONSO.RRF",
        7,
        "C9000002|ENG|S|L9000011|PF|S9000011|N|A90000011||||RXNORM|IN|9000011|glucoflux \u00e9ther|0|N||\n".encode(
            "latin-1"
        ),
    )
    with pytest.raises(InputError, match=r"MRCONSO\.RRF, line 7: not UTF-8 text"):
        _load(UmlsLoader(umls_copy))
    report = _load(UmlsLoader(umls_copy), strict=False)
    assert report.skipped_by_reason == {**report.skipped_by_reason, "not UTF-8 text": 1}


def test_truncated_file(umls_copy: Path, tmp_path: Path):
    rel = umls_copy / "MRREL.RRF"
    data = rel.read_bytes()
    rel.write_bytes(data[: len(data) - 20])  # cut inside the last row
    with pytest.raises(InputError, match=r"MRREL\.RRF, line 12: truncated row"):
        _load(UmlsLoader(umls_copy))
    cut_json = tmp_path / "cut.json"
    cut_json.write_bytes((OBO / "mini-indra.json").read_bytes()[:150])
    with pytest.raises(InputError, match=r"cut\.json, line 1: not valid JSON"):
        _load(OntologyJsonLoader(cut_json))


def test_empty_file(umls_copy: Path, tmp_path: Path):
    (umls_copy / "MRSTY.RRF").write_bytes(b"")
    with pytest.raises(InputError, match=r"MRSTY\.RRF: the file is empty"):
        _load(UmlsLoader(umls_copy))
    empty = tmp_path / "empty.obo"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        _load(OboLoader(empty))


def test_directory_with_the_wrong_files(tmp_path: Path, shared_data: Path):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "MRREL.RRF").write_text("x\n", encoding="utf-8")
    with pytest.raises(InputError, match="no MRCONSO.RRF here or in META/.*found: MRREL.RRF"):
        UmlsLoader(wrong)
    with pytest.raises(InputError, match="not an RF2 snapshot: missing sct2_Concept_Snapshot"):
        SnomedLoader(wrong)
    partial = tmp_path / "partial"
    shutil.copytree(shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot", partial)
    next(partial.rglob("sct2_Description_Snapshot*.txt")).unlink()
    with pytest.raises(InputError, match="missing sct2_Description_Snapshot-en"):
        SnomedLoader(partial)


# -- the CLI: one line, non-zero exit, no traceback; --skip-bad; --json -------------------
def test_cli_strict_error_is_one_line(umls_copy: Path, tmp_path: Path):
    _replace_line(umls_copy / "MRREL.RRF", 3, b"C9000001||CUI|RO|\n")
    result = CliRunner().invoke(
        app, ["load", "umls", str(umls_copy), "--store", str(tmp_path / "g.json.gz"), "--no-progress"]
    )
    assert result.exit_code == InputError.exit_code
    assert "MRREL.RRF, line 3: wrong column count" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_cli_skip_bad_json_report(umls_copy: Path, tmp_path: Path):
    _replace_line(umls_copy / "MRREL.RRF", 3, b"C9000001||CUI|RO|\n")
    rejects = tmp_path / "rejected.tsv"
    result = CliRunner().invoke(
        app,
        [
            "load",
            "umls",
            str(umls_copy),
            "--store",
            str(tmp_path / "g.json.gz"),
            "--skip-bad",
            "--rejects",
            str(rejects),
            "--json",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped_by_reason"]["wrong column count"] == 1
    assert report["relations_by_type"]["TREATS"] == 1
    assert rejects.read_text(encoding="utf-8").count("\n") == 1
    assert MemoryStore(tmp_path / "g.json.gz").get_concept("UMLS:C9000001").name == "Sugar sickness"


def _pubtator_with_a_bad_middle_document(tmp_path: Path) -> Path:
    path = tmp_path / "three.PubTator"
    path.write_text(
        "1|t|Aspirin and asthma.\n1|a|x\n1\t0\t7\tAspirin\tChemicalEntity\tD001241\n"
        "1\t12\t18\tasthma\tDiseaseOrPhenotypicFeature\tD001249\n1\tAssociation\tD001241\tD001249\tNovel\n\n"
        "2|t|Broken mention.\n2|a|x\n2\t9\t3\tmention\tChemicalEntity\tD000001\n\n"
        "3|t|Caffeine and migraine.\n3|a|x\n3\t0\t8\tCaffeine\tChemicalEntity\tD002110\n"
        "3\t13\t21\tmigraine\tDiseaseOrPhenotypicFeature\tD008881\n3\tAssociation\tD002110\tD008881\tNovel\n",
        encoding="utf-8",
    )
    return path


def test_corpus_strict_stops_at_the_bad_document_naming_file_and_line(tmp_path: Path):
    from kgsynth.loaders.biored import CorpusLoader

    path = _pubtator_with_a_bad_middle_document(tmp_path)
    with pytest.raises(InputError, match=r"three\.PubTator:9: mention end 3 is not after start 9"):
        _load(CorpusLoader([path]))


def test_corpus_skip_bad_skips_the_document_and_keeps_its_lines(tmp_path: Path):
    from kgsynth.loaders.biored import CorpusLoader

    path = _pubtator_with_a_bad_middle_document(tmp_path)
    rejects = tmp_path / "rejects.tsv"
    store = MemoryStore(None)
    report = run_load(CorpusLoader([path]), store, show_progress=False, strict=False, rejects=rejects)
    assert report.rows_read == 3
    assert report.skipped_by_reason == {"malformed document": 1}
    assert {c.id for c in store.iter_concepts()} == {"MESH:D001241", "MESH:D001249", "MESH:D002110", "MESH:D008881"}
    assert sorted(r.evidence[0] for r in store.iter_relations()) == ["PMID:1", "PMID:3"]
    kept = rejects.read_text(encoding="utf-8").splitlines()
    assert [line.split("\t", 2)[2] for line in kept] == ["2|t|Broken mention.", "2|a|x",
                                                         "2\t9\t3\tmention\tChemicalEntity\tD000001"]
    assert all(line.startswith(f"{path}, line 7\tmalformed document: ") for line in kept)
    assert all(str(path) not in line.split("\t")[1] for line in kept), kept


def test_corpus_skip_bad_skips_a_bad_bioc_json_line(tmp_path: Path):
    from kgsynth.loaders.biored import CorpusLoader

    good = {"id": "5", "passages": [{"offset": 0, "text": "Aspirin.", "annotations": [
        {"id": "T1", "infons": {"type": "ChemicalEntity", "identifier": "D001241"}, "text": "Aspirin",
         "locations": [{"offset": 0, "length": 7}]}]}]}
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "id": "6"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"docs\.json:2: malformed JSON"):
        _load(CorpusLoader([path]))
    report = _load(CorpusLoader([path]), strict=False)
    assert report.rows_read == 3 and report.skipped_by_reason == {"malformed document": 1}
    assert report.concepts_loaded >= 1
