"""The corpus reader on the real shared files and on hand-made malformed ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgsynth.errors import InputError
from kgsynth.evaluation.convert import concept_ids, to_note_record
from kgsynth.loaders.corpus import detect_format, qualified_id, read_documents, semantic_group, split_ids


def _key(doc):
    return (
        doc.id,
        doc.text,
        doc.title,
        [m.model_dump() for m in doc.mentions],
        [r.model_dump() for r in doc.relations],
    )


def test_biored_three_formats_agree(shared_data: Path) -> None:
    biored = shared_data / "biored"
    pub = list(read_documents(biored / "Dev.PubTator"))
    xml = list(read_documents(biored / "Dev.BioC.XML"))
    js = list(read_documents(biored / "Dev.BioC.JSON"))
    assert len(pub) == len(xml) == len(js) == 100
    assert [_key(d) for d in pub] == [_key(d) for d in xml] == [_key(d) for d in js]
    assert sum(len(d.mentions) for d in pub) == 3533
    assert sum(len(d.relations) for d in pub) == 1162
    assert all(not d.span_errors() for d in pub)


def test_biored_first_document_details(shared_data: Path) -> None:
    doc = next(read_documents(shared_data / "biored" / "Dev.PubTator"))
    assert doc.id == "14510914"
    assert doc.text.startswith(doc.title + " OBJECTIVE:")
    first = doc.mentions[0]
    assert (first.start, first.end, first.text, first.type, first.ids) == (
        0,
        25,
        "Congenital hypothyroidism",
        "DiseaseOrPhenotypicFeature",
        ["D003409"],
    )
    rel = doc.relations[0]
    assert (rel.type, rel.id1, rel.id2, rel.novelty) == ("Positive_Correlation", "c|DEL|1314_1328|", "D003409", "Novel")


@pytest.mark.parametrize(
    ("name", "docs", "mentions", "relations"),
    [
        ("bc5cdr/CDR_DevelopmentSet.PubTator.txt", 500, 9591, 1012),
        ("ncbi-disease/NCBIdevelopset_corpus.txt", 100, 787, 0),
    ],
)
def test_other_pubtator_corpora(shared_data: Path, name: str, docs: int, mentions: int, relations: int) -> None:
    parsed = list(read_documents(shared_data / name))
    assert len(parsed) == docs
    assert sum(len(d.mentions) for d in parsed) == mentions
    assert sum(len(d.relations) for d in parsed) == relations
    assert sum(len(d.span_errors()) for d in parsed) == 0


def test_split_ids_handles_every_corpus_convention() -> None:
    assert split_ids("D001943,D010051") == ["D001943", "D010051"]  # BioRED
    assert split_ids("D014786|D006311") == ["D014786", "D006311"]  # BC5CDR / NCBI
    assert split_ids("c|DEL|4153|A") == ["c|DEL|4153|A"]  # tmVar id keeps its bars
    assert split_ids("-1") == []
    assert split_ids(" CVCL_1452") == ["CVCL_1452"]


def test_qualified_ids() -> None:
    assert qualified_id("D003924", "Disease") == "MESH:D003924"
    assert qualified_id("C564766", "Disease") == "MESH:C564766"
    assert qualified_id("3630", "Gene") == "NCBIGene:3630"
    assert qualified_id("9606", "Species") == "NCBITaxon:9606"
    assert qualified_id("OMIM:604370", "Disease") == "OMIM:604370"
    assert qualified_id("rs28897672", "Variant") == "dbSNP:rs28897672"
    assert qualified_id("c|DEL|4153|A", "Variant") == "tmVar:c|DEL|4153|A"
    assert qualified_id("CVCL_1452", "CellLine") == "Cellosaurus:CVCL_1452"
    assert semantic_group("GeneOrGeneProduct") == "Gene"
    assert semantic_group("SpecificDisease") == "Disease"


def test_to_note_record_maps_entities_and_relations(shared_data: Path) -> None:
    doc = next(read_documents(shared_data / "biored" / "Dev.PubTator"))
    record = to_note_record(doc)
    assert record.id == doc.id and record.text == doc.text
    assert not record.span_errors()
    assert [e.id for e in record.entities[:3]] == ["T1", "T2", "T3"]
    assert record.entities[0].concept_id == "MESH:D003409" and record.entities[0].type == "Disease"
    assert record.relations, "relations anchored on mentions"
    by_id = {e.id: e for e in record.entities}
    first = record.relations[0]
    assert concept_ids(by_id[first.subject]) == ["tmVar:c|DEL|1314_1328|"]
    assert concept_ids(by_id[first.object]) == ["MESH:D003409"]
    assert first.type == "POSITIVE_CORRELATION"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pubtator_without_blank_lines_and_detection(tmp_path: Path) -> None:
    text = (
        "1|t|Aspirin helps.\n1|a|It does.\n1\t0\t7\tAspirin\tChemical\tD001241\n"
        "2|t|Asthma.\n2|a|\n2\t0\t6\tAsthma\tDisease\tD001249\n"
    )
    path = _write(tmp_path, "x.txt", text)
    assert detect_format(path) == "pubtator"
    docs = list(read_documents(path))
    assert [d.id for d in docs] == ["1", "2"]
    assert docs[0].text == "Aspirin helps. It does."


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1|t|Title\n1\t0\tfive\tTitle\tDisease\tD1\n", "x.PubTator:2"),  # bad offset
        ("1|t|Title\n1\t0\t50\tTitle\tDisease\tD1\n", "ends at 50"),  # out of range
        ("1|t|Title\n1\t3\t2\tTi\tDisease\tD1\n", "x.PubTator:2"),  # end before start
        ("1|t|Title\n2\t0\t5\tTitle\tDisease\tD1\n", "x.PubTator:2"),  # foreign id
    ],
)
def test_malformed_pubtator_names_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, "x.PubTator", text)
    with pytest.raises(InputError, match=fragment.replace("|", r"\|")):
        list(read_documents(path))


def test_malformed_xml_and_json_and_empty(tmp_path: Path) -> None:
    bad_xml = _write(tmp_path, "x.xml", "<collection><document><id>1</id><passage>\n<oops></collection>")
    with pytest.raises(InputError, match="x.xml:"):
        list(read_documents(bad_xml))
    bad_json = _write(tmp_path, "x.json", '{"documents": [\n{"id": 1,,}]}')
    with pytest.raises(InputError, match=r"x.json:2"):
        list(read_documents(bad_json))
    with pytest.raises(InputError, match="empty"):
        list(read_documents(_write(tmp_path, "e.PubTator", "\n")))


def test_bioc_json_lines_with_missing_infons(tmp_path: Path) -> None:
    doc = {
        "id": "7",
        "passages": [
            {
                "offset": 0,
                "text": "Metformin treats diabetes.",
                "annotations": [
                    {
                        "id": "a",
                        "text": "Metformin",
                        "locations": [{"offset": 0, "length": 9}],
                        "infons": {"type": "ChemicalEntity", "identifier": "D008687"},
                    }
                ],
            }
        ],
        "relations": [{"id": "R0"}],
    }
    path = _write(tmp_path, "x.json", json.dumps(doc) + "\n")
    (parsed,) = list(read_documents(path))
    assert parsed.mentions[0].ids == ["D008687"] and parsed.relations == []
