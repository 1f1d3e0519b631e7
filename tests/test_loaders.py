"""Loaders on hand-made fixtures (UMLS, OBO) and the real shared data (SNOMED CT, BioRED, BC5CDR)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.schema import RELATION_TYPES
from kgsynth.loaders.base import LoadContext
from kgsynth.loaders.biored import CorpusLoader
from kgsynth.loaders.identity import equivalence_set, normalize_curie, normalize_xref
from kgsynth.loaders.mapping import MAPPINGS, lookup, map_relation
from kgsynth.loaders.obo import HpoaLoader, OboLoader, OntologyJsonLoader, loader_for
from kgsynth.loaders.runner import run_load
from kgsynth.loaders.snomed import SnomedLoader, split_fsn
from kgsynth.loaders.umls import UmlsLoader, group_for

DATA = Path(__file__).parent / "data"
UMLS = DATA / "umls"
OBO = DATA / "obo"


def load(loader, store=None, **kwargs):
    store = store if store is not None else MemoryStore(None)
    return store, run_load(loader, store, show_progress=False, **kwargs)


# -- mapping table --------------------------------------------------------------
def test_mapping_table_targets_only_allowed_types_and_has_no_duplicates():
    assert all(m.type in RELATION_TYPES for m in MAPPINGS)
    keys = [(m.scheme, m.label.lower()) for m in MAPPINGS]
    assert len(keys) == len(set(keys))


def test_mapping_flips_direction_and_counts_unknown_labels():
    from kgsynth.graph.model import Provenance

    ctx = LoadContext()
    prov = Provenance(source="T")
    caused = map_relation("SNOMEDCT", "246075003", "SNOMEDCT:1", "SNOMEDCT:2", prov, ctx)
    assert (caused.subject, caused.type, caused.object) == ("SNOMEDCT:2", "CAUSES", "SNOMEDCT:1")
    unknown = map_relation("RELA", "never_heard_of", "A:1", "B:2", prov, ctx)
    assert unknown.type == "RELATED_TO" and unknown.source_labels == ["RELA:never_heard_of"]
    assert ctx.unknown_labels == {"RELA:never_heard_of": 1}
    assert lookup("BioRED", "bind").type == "BINDS"


# -- UMLS -------------------------------------------------------------------------
def test_umls_concepts_names_groups_and_filters():
    store, report = load(UmlsLoader(UMLS))
    sugar = store.get_concept("UMLS:C9000001")
    assert sugar.name == "Sugar sickness"
    assert sugar.synonyms == ["Sugar sickness disorder", "Glycaemic sickness"]  # FRE row and suppressed row left out
    assert sugar.group == "Disease" and sugar.semantic_types == ["Disease or Syndrome"]
    assert sugar.xrefs == ["MESH:D900001", "SNOMEDCT:90000001"]
    assert {p.release for p in sugar.provenance} == {"2099ZZ-TEST"}
    assert store.get_concept("UMLS:C9000002").group == "Chemical"
    assert store.get_concept("UMLS:C9000005").xrefs == ["NCBITaxon:9000005"]
    assert store.get_concept("UMLS:C9000099") is None
    assert report.skipped_by_reason["language filtered"] == 1
    assert report.skipped_by_reason["suppressed"] == 2
    assert report.skipped_by_reason["endpoint not loaded"] == 1


def test_umls_types_read_beside_concepts_give_the_graph_of_a_separate_pass(tmp_path):
    """NLM's CUI-ordered MRCONSO/MRSTY are joined (one write per concept); any other order takes a second pass."""
    import shutil

    shuffled = tmp_path / "umls"
    shutil.copytree(UMLS, shuffled)
    by_cui: dict[str, list[str]] = {}
    for row in (UMLS / "MRSTY.RRF").read_text(encoding="utf-8").splitlines(keepends=True):
        by_cui.setdefault(row.split("|")[0], []).append(row)
    # CUIs in reverse order, each CUI's rows (and so its type order) as they were.
    (shuffled / "MRSTY.RRF").write_text("".join(r for cui in reversed(by_cui) for r in by_cui[cui]), encoding="utf-8")
    joined_store, joined = load(UmlsLoader(UMLS), batch_size=2)
    separate_store, separate = load(UmlsLoader(shuffled), batch_size=2)
    assert list(joined_store.iter_concepts()) == list(separate_store.iter_concepts())
    assert list(joined_store.iter_relations()) == list(separate_store.iter_relations())
    assert joined.rows_read == separate.rows_read
    assert joined.skipped_by_reason == separate.skipped_by_reason
    assert joined.skipped_by_reason["semantic type of a concept not loaded"] == 1  # C9000099
    assert joined.concepts_loaded < separate.concepts_loaded


def test_umls_relations_are_directed_and_merged():
    store, report = load(UmlsLoader(UMLS))
    treats = store.find_relations(type="TREATS")
    # may_treat and may_be_treated_by state one fact: one edge drug -> disease with both labels.
    assert [(r.subject, r.object) for r in treats] == [("UMLS:C9000002", "UMLS:C9000001")]
    assert treats[0].source_labels == ["RELA:may_treat", "RELA:may_be_treated_by"]
    assert store.find_relations(subject="UMLS:C9000007", type="IS_A")[0].object == "UMLS:C9000001"
    assert store.find_relations(subject="UMLS:C9000001", type="HAS_PHENOTYPE")[0].object == "UMLS:C9000003"
    assert store.find_relations(subject="UMLS:C9000001", type="FINDING_SITE")[0].object == "UMLS:C9000004"
    assert report.unknown_labels["RELA:gene_associated_with_disease"] == 1
    related = store.find_relations(subject="UMLS:C9000006", type="RELATED_TO")
    assert related[0].source_labels == ["RELA:gene_associated_with_disease"]


def test_umls_sab_filter_keeps_only_those_sources():
    store, _ = load(UmlsLoader(UMLS, sabs=("MSH",)))
    assert store.get_concept("UMLS:C9000001").synonyms == ["Glycaemic sickness"]
    assert store.get_concept("UMLS:C9000003") is None  # HPO only
    assert {r.type for r in store.iter_relations()} <= {"IS_A", "SAME_AS"}


def test_semantic_group_precedence():
    assert group_for(["T109", "T047"]) == "Disease"
    assert group_for(["T999"]) == "Other"


# -- SNOMED CT (real RF2 fixtures) ------------------------------------------------------
def test_snomed_anthrax_fixture(shared_data: Path):
    folder = shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot"
    store, report = load(SnomedLoader(folder))
    anthrax = store.get_concept("SNOMEDCT:409498004")
    assert anthrax.name == "Anthrax" and anthrax.group == "Disease"
    assert "Anthrax (disorder)" in anthrax.synonyms
    assert anthrax.provenance[0].release == "INT_20180731"
    # causative agent is flipped: the organism CAUSES the disorder
    assert store.find_relations(subject="SNOMEDCT:21927003", type="CAUSES")[0].object == "SNOMEDCT:409498004"
    assert store.find_relations(subject="SNOMEDCT:362969004", type="FINDING_SITE")[0].object == "SNOMEDCT:113331007"
    assert report.unknown_labels == {"SNOMEDCT:370135005": 1}  # pathological process: kept as RELATED_TO


def test_snomed_inactive_rows_are_left_out(shared_data: Path):
    folder = shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_some_Inactive_snapshot"
    store, report = load(SnomedLoader(folder))
    assert report.skipped_by_reason["inactive relationship"] == 3
    assert store.find_relations(subject="SNOMEDCT:362969004") == []


def test_snomed_latest_effective_time_wins(tmp_path: Path, shared_data: Path):
    source = shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot" / "Snapshot"
    target = tmp_path / "rf2"
    target.mkdir()
    for path in (source / "Terminology").iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name.startswith("sct2_Relationship"):
            # a later row for the causative-agent relationship makes it inactive
            rows = [x.split("\t") for x in text.splitlines() if x.count("\t") == 9]
            fields = next(f for f in rows if f[7] == "246075003")
            fields[1], fields[2] = "20990101", "0"
            text += "\n" + "\t".join(fields) + "\n"
        (target / path.name).write_text(text, encoding="utf-8")
    store, report = load(SnomedLoader(target))
    assert store.find_relations(type="CAUSES") == []
    assert report.skipped_by_reason["inactive relationship"] == 1


def test_split_fsn():
    assert split_fsn("Structure of endocrine system (body structure)") == (
        "Structure of endocrine system",
        "body structure",
    )
    assert split_fsn("No tag") == ("No tag", "")


# -- OBO, ontology JSON, HPO annotations ---------------------------------------------
def test_obo_terms_synonyms_xrefs_and_edges():
    store, report = load(OboLoader(OBO / "mini.obo"))
    thirst = store.get_concept("HP:9000003")
    assert thirst.group == "Phenotype"
    assert thirst.synonyms == ["Polydipsia-like thirst", "Drinks a lot"]  # no BROAD, no obsolete synonym
    assert thirst.xrefs == ["UMLS:C9000003", "SNOMEDCT:90000003"]  # Fyler is not an identity namespace
    assert thirst.provenance[0].release == "mini/releases/2099-01-01"
    assert store.get_concept("HP:9000004") is None
    assert report.skipped_by_reason == {"obsolete term": 1}
    assert store.find_relations(subject="HP:9000003", type="IS_A")[0].object == "HP:9000001"
    assert store.find_relations(subject="DOID:9000001", type="HAS_PHENOTYPE")[0].object == "HP:9000003"
    assert report.unknown_labels == {"OBO:invented_predicate": 1}
    assert {r.object for r in store.find_relations(subject="DOID:9000001", type="SAME_AS")} == {
        "UMLS:C9000001",
        "MESH:D900001",
        "SNOMEDCT:90000001",
    }


def test_indra_and_obograph_json():
    store, report = load(OntologyJsonLoader(OBO / "mini-indra.json"))
    disease = store.get_concept("MONDO:0900001")
    assert disease.name == "invented disease" and disease.group == "Disease"
    assert set(disease.xrefs) >= {"DOID:9000001", "OMIM:900001", "UMLS:C9000001", "SNOMEDCT:90000001"}
    assert store.find_relations(subject="MONDO:0900001", type="IS_A")[0].object == "MONDO:0900000"
    assert store.find_relations(subject="MONDO:0900001", type="HAS_PHENOTYPE")[0].object == "MONDO:0900005"
    assert report.skipped_by_reason == {"excluded_subClassOf (a negative assertion)": 1}
    store, report = load(OntologyJsonLoader(OBO / "mini-obograph.json"))
    assert store.get_concept("HP:9000003").synonyms == ["Polydipsia-like thirst"]
    assert store.find_relations(subject="HP:9000003", type="IS_A")[0].object == "HP:9000001"
    assert report.skipped_by_reason == {"obsolete term": 1}


def test_hpoa_annotations_gather_pmids_and_skip_negations():
    store, report = load(HpoaLoader(OBO / "mini.hpoa"))
    rel = store.find_relations(subject="ORPHA:900002", type="HAS_PHENOTYPE")[0]
    assert rel.object == "HP:9000003" and rel.evidence == ["PMID:3", "PMID:4"]
    assert store.get_concept("OMIM:900001").group == "Disease"
    assert report.skipped_by_reason == {"negated annotation (NOT)": 1}
    assert store.find_relations(subject="OMIM:900001", object="HP:9000001") == []


def test_loader_for_picks_the_reader():
    assert isinstance(loader_for(OBO / "mini.obo"), OboLoader)
    assert isinstance(loader_for(OBO / "mini-indra.json"), OntologyJsonLoader)
    assert isinstance(loader_for(OBO / "mini.hpoa"), HpoaLoader)


# -- identity across vocabularies ------------------------------------------------------
def test_normalize_xrefs():
    assert normalize_xref("SNOMEDCT_US_2023_03_01", "64572001") == "SNOMEDCT:64572001"
    assert normalize_xref("HPO", "HP:0001250") == "HP:0001250"
    assert normalize_xref("mondo", "1") == "MONDO:0000001"
    assert normalize_curie("MSH:D003920") == "MESH:D003920"
    assert normalize_curie("Fyler:1234") is None


def test_equivalence_set_links_umls_snomed_mesh_and_ontologies():
    store = MemoryStore(None)
    for loader in (UmlsLoader(UMLS), OboLoader(OBO / "mini.obo"), OntologyJsonLoader(OBO / "mini-indra.json")):
        load(loader, store)
    same = equivalence_set(store, "UMLS:C9000001")
    assert {"UMLS:C9000001", "MESH:D900001", "SNOMEDCT:90000001", "DOID:9000001", "MONDO:0900001"} <= set(same)
    assert "UMLS:C9000002" not in same
    assert equivalence_set(store, "HP:9000003") == sorted({"HP:9000003", "UMLS:C9000003", "SNOMEDCT:90000003"})
    assert len(equivalence_set(store, "UMLS:C9000001", max_size=2)) == 2


# -- BioRED / BC5CDR (real corpora) ---------------------------------------------------
def test_biored_relations_carry_all_pmids_as_evidence(shared_data: Path):
    store, report = load(CorpusLoader([shared_data / "biored" / "Dev.PubTator"]))
    assert report.rows_read == 100
    relations = list(store.iter_relations())
    assert relations and all(r.evidence and all(e.startswith("PMID:") for e in r.evidence) for r in relations)
    assert any(len(r.evidence) > 1 for r in relations)  # one edge, evidence from several abstracts
    assert {r.novelty for r in relations} <= {"Novel", "No"}
    assert {"ASSOCIATED_WITH", "POSITIVE_CORRELATION", "NEGATIVE_CORRELATION", "BINDS"} <= set(report.relations_by_type)
    genes = [c for c in store.iter_concepts() if c.id.startswith("NCBIGene:")]
    assert genes and all(c.group == "Gene" and c.name for c in genes)
    assert all(c.provenance[0].source == "BioRED" for c in genes)


def test_composite_mention_text_names_a_concept_only_when_nothing_else_does(tmp_path: Path):
    title = "Breast or ovarian cancer in carriers."
    abstract = "Breast cancer was frequent."
    text = f"{title} {abstract}"
    path = tmp_path / "composite.PubTator"
    rows = [("0", "24", "Breast or ovarian cancer", "D001943,D010051"),
            (str(text.index("Breast cancer")), str(text.index("Breast cancer") + 13), "Breast cancer", "D001943")]
    path.write_text(f"1|t|{title}\n1|a|{abstract}\n"
                    + "".join(f"1\t{a}\t{b}\t{t}\tDiseaseOrPhenotypicFeature\t{ids}\n" for a, b, t, ids in rows)
                    + "\n")
    store, _ = load(CorpusLoader([path]))
    breast = store.get_concept("MESH:D001943")
    # the composite text names two concepts; a sentence's capital is not the name's
    assert breast.name == "breast cancer" and breast.synonyms == []
    ovarian = store.get_concept("MESH:D010051")
    assert ovarian.name == "breast or ovarian cancer"  # its only text in the document: kept, not nameless


@pytest.mark.slow
def test_biored_formats_agree(shared_data: Path):
    """PubTator, BioC XML and BioC JSON of the same split give the same graph (bar provenance)."""
    graphs = []
    for name in ("Dev.PubTator", "Dev.BioC.XML", "Dev.BioC.JSON"):
        store, _ = load(CorpusLoader([shared_data / "biored" / name]))
        graphs.append(sorted((r.subject, r.type, r.object, tuple(sorted(r.evidence))) for r in store.iter_relations()))
    assert graphs[0] == graphs[1] == graphs[2]


def test_bc5cdr_cid_is_chemical_causes_disease(shared_data: Path):
    store, report = load(CorpusLoader([shared_data / "bc5cdr" / "CDR_DevelopmentSet.PubTator.txt"]))
    assert report.source == "BC5CDR" and set(report.relations_by_type) == {"CAUSES"}
    for rel in store.find_relations(type="CAUSES")[:50]:
        assert store.get_concept(rel.subject).group == "Chemical"
        assert store.get_concept(rel.object).group == "Disease"
