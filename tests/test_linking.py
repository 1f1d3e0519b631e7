"""Entity linking on a tiny KB: linkers, constrained decoding, errors, Recall@k and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import ConfigError, InputError
from kgsynth.evaluation.linking import link_scores, recall_difference
from kgsynth.generation.record import Entity, NoteRecord
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept
from kgsynth.linking.generative import GenerativeLinker, TokenTrie, trie_timing
from kgsynth.linking.kb import build_index, normalize
from kgsynth.linking.linkers import BiEncoderLinker, DictionaryLinker
from kgsynth.linking.mentions import LinkMention, LinkPrediction, mentions_of
from tests.test_backends import tiny_model  # noqa: F401 - the fixture, shared

CONCEPTS = [
    Concept(id="MESH:D001943", name="Breast Neoplasms", synonyms=["Breast Cancer", "Neoplasms, Breast"],
            group="Disease"),
    Concept(id="MESH:D006973", name="Hypertension", synonyms=["High Blood Pressure"], group="Disease"),
    Concept(id="MESH:D003920", name="Diabetes Mellitus", group="Disease"),
    Concept(id="MESH:D000082", name="Acetaminophen", synonyms=["Paracetamol"], group="Chemical"),
    Concept(id="MESH:D008687", name="Metformin", group="Chemical"),
    Concept(id="HP:0002315", name="Headache", group="Phenotype"),
]

TEXT = "Paracetamol was given. She had breast cancer and high-blood pressure."


@pytest.fixture
def kb(tmp_path: Path) -> MemoryStore:
    store = MemoryStore(tmp_path / "kb.json.gz")
    store.upsert_concepts(CONCEPTS)
    store.checkpoint()
    return store


def mention(text: str, group: str, gold: str = "", doc: str = "d1", start: int = 0) -> LinkMention:
    return LinkMention(doc=doc, start=start, end=start + len(text), text=text, group=group,
                       gold=[gold] if gold else [], context=text)


def test_index_and_dictionary_linker(kb: MemoryStore):
    index = build_index(kb, "Disease")
    assert index.concepts == 3 and "Neoplasms, Breast" not in index.names  # inversion with a plain twin
    assert normalize("High-Blood  Pressure") == "high blood pressure"
    linker = DictionaryLinker({"Disease": index, "Chemical": build_index(kb, "Chemical")})
    ranked = linker.rank([mention("breast cancer", "Disease"), mention("high-blood pressure", "Disease"),
                          mention("PARACETAMOL", "Chemical"), mention("aspirin", "Chemical")])
    assert ranked == [["MESH:D001943"], ["MESH:D006973"], ["MESH:D000082"], []]


def test_abbreviations_a_document_defines() -> None:
    from kgsynth.linking.abbreviations import abbreviations

    text = ("Familial Mediterranean fever (FMF) and ataxia-telangiectasia (A-T) were studied in rats (n = 5) "
            "(see Table 2). Breast or ovarian cancer cases and markers on chromosomes 17q (BRCA1). "
            "Valproic acid (VPA) and later (VPA) again.")
    assert abbreviations(text) == {"FMF": "Familial Mediterranean fever", "A-T": "ataxia-telangiectasia",
                                   "VPA": "Valproic acid"}  # no lowercase "(see ...)", no loose 9-word match


def test_a_defined_short_form_is_linked_by_its_long_form(kb: MemoryStore) -> None:
    text = "Breast cancer (BC) is common. BC was treated; HBP too."
    record = NoteRecord(id="d", text=text, entities=[
        Entity(id="T1", start=30, end=32, text="BC", type="Disease", concept_id="MESH:D001943"),
        Entity(id="T2", start=46, end=49, text="HBP", type="Disease", concept_id="MESH:D006973")])
    first, second = mentions_of([record])
    assert (first.expansion, first.lookup) == ("Breast cancer", "Breast cancer")
    assert (second.expansion, second.lookup) == ("", "HBP")  # never defined in the document
    assert mentions_of([record], resolve_abbreviations=False)[0].expansion == ""
    linker = DictionaryLinker({"Disease": build_index(kb, "Disease")})
    assert linker.rank([first, second]) == [["MESH:D001943"], []]


def test_unknown_group_empty_kb_and_unindexed_mentions_are_clear_errors(kb: MemoryStore, tmp_path: Path):
    with pytest.raises(ConfigError, match="unknown semantic group 'Drug'"):
        build_index(kb, "Drug")
    with pytest.raises(ConfigError, match="no named Gene concepts"):
        build_index(kb, "Gene")
    with pytest.raises(ConfigError, match="no named Disease concepts with ids starting 'UMLS:'"):
        build_index(kb, "Disease", prefix="UMLS:")
    with pytest.raises(ConfigError, match="no name index"):
        DictionaryLinker({})
    linker = DictionaryLinker({"Disease": build_index(kb, "Disease")})
    with pytest.raises(ConfigError, match="group 'Chemical', which has no index"):
        linker.rank([mention("paracetamol", "Chemical")])
    outside = NoteRecord(id="doc9", text="short", entities=[
        Entity(id="T1", start=2, end=40, text="hort and more", type="Disease", concept_id="MESH:D1")])
    with pytest.raises(InputError, match="document doc9: .*does not give"):
        mentions_of([outside])


@pytest.mark.slow
def test_biencoder_ranks_only_ids_of_the_group(kb: MemoryStore):
    indexes = {"Disease": build_index(kb, "Disease"), "Chemical": build_index(kb, "Chemical")}
    linker = BiEncoderLinker(indexes)
    ranked = linker.rank([mention("mammary carcinoma", "Disease"), mention("elevated blood pressure", "Disease"),
                          mention("metformin hydrochloride", "Chemical")], k=5)
    assert ranked[0][0] == "MESH:D001943" and ranked[1][0] == "MESH:D006973" and ranked[2][0] == "MESH:D008687"
    assert sorted(ranked[0]) == sorted(indexes["Disease"].preferred)  # k=5 > 3 concepts: all, each once
    assert set(ranked[2]) <= set(indexes["Chemical"].preferred)


def test_token_trie_and_timing():
    trie = TokenTrie([[1, 2, 9], [1, 3, 9], [4, 9], [1, 2, 9]])
    assert sorted(trie.allowed(0)) == [1, 4]
    node = trie.children[trie.children[0][1]][2]
    assert trie.allowed(node) == [9] and trie.names[trie.children[node][9]] == [0, 3]


@pytest.mark.slow
def test_generative_linker_constrained_output_is_always_a_valid_id(kb: MemoryStore, tiny_model):  # noqa: F811
    model, tokenizer = tiny_model  # random weights: any output is possible, only the constraint holds
    indexes = {"Disease": build_index(kb, "Disease"), "Chemical": build_index(kb, "Chemical")}
    linker = GenerativeLinker(indexes, model=model, tokenizer=tokenizer, constrained=True)
    mentions = [mention(t, g) for t, g in (("tumour of the breast", "Disease"), ("BP", "Disease"),
                                           ("tylenol", "Chemical"), ("xyz", "Chemical"))]
    ranked = linker.rank(mentions, k=3)
    for m, ids in zip(mentions, ranked, strict=True):
        assert 1 <= len(ids) <= 3 and len(set(ids)) == len(ids)
        assert set(ids) <= set(indexes[m.group].preferred)
    free = GenerativeLinker(indexes, model=model, tokenizer=tokenizer, constrained=False, max_new_tokens=4)
    for ids in free.rank(mentions, k=3):
        assert len(ids) <= 1 and set(ids) <= set(indexes["Disease"].preferred) | set(indexes["Chemical"].preferred)
    timing = trie_timing(tokenizer, indexes["Disease"].names, vocab=len(tokenizer), steps=5)
    assert timing["names"] == len(indexes["Disease"]) and timing["trie_nodes"] > timing["names"]


def test_recall_at_k_against_hand_computed_cases():
    gold = [mention("a", "Disease", "MESH:D1", doc="d1", start=0),       # hit@1
            mention("b", "Disease", "MESH:D2", doc="d1", start=5),       # hit@5 only (3rd)
            mention("c", "Chemical", "MESH:C1", doc="d2", start=0),      # miss
            mention("d", "Chemical", "MESH:C2", doc="d2", start=9),      # no prediction: miss
            mention("e", "Chemical", "", doc="d2", start=20),            # no gold id: not scored
            LinkMention(doc="d3", start=0, end=1, text="f", group="Disease", gold=["MESH:D3", "MESH:D4"])]  # hit@1
    preds = [LinkPrediction(**gold[0].model_dump(), candidates=["MESH:D1", "MESH:D9"]),
             LinkPrediction(**gold[1].model_dump(), candidates=["MESH:D8", "MESH:D9", "MESH:D2"]),
             LinkPrediction(**gold[2].model_dump(), candidates=["MESH:C9"]),
             LinkPrediction(**gold[4].model_dump(), candidates=["MESH:C2"]),
             LinkPrediction(**gold[5].model_dump(), candidates=["MESH:D4"]),
             LinkPrediction(doc="d9", start=0, end=1, text="z", group="Disease", candidates=["MESH:D1"])]
    report = link_scores(gold, preds, bootstrap_samples=200, seed=1)
    assert (report.scored, report.without_gold_id, report.without_prediction, report.predictions_not_in_gold) == (
        5, 1, 1, 1)
    r1, r5 = report.at["recall@1"], report.at["recall@5"]
    assert (r1.micro.hits, r1.micro.mentions, r1.micro.recall) == (2, 5, 0.4)
    assert (r5.micro.hits, r5.micro.recall) == (3, 0.6)
    assert r1.per_type["Disease"].recall == round(2 / 3, 4) and r1.per_type["Chemical"].recall == 0.0
    assert r5.per_type["Disease"].recall == 1.0
    assert r1.micro.ci.low <= 0.4 <= r1.micro.ci.high
    assert report.answered == 0.8


def test_paired_recall_difference_against_hand_computed_cases():
    """Two linkers on the same four scored mentions: a hits 3 at 1, b hits 1; a alone gets 2 right, b alone 0."""
    gold = [mention("a", "Disease", "MESH:D1", doc="d1", start=0),
            mention("b", "Disease", "MESH:D2", doc="d1", start=5),
            mention("c", "Chemical", "MESH:C1", doc="d2", start=0),
            mention("d", "Chemical", "MESH:C2", doc="d3", start=0),
            mention("e", "Chemical", "", doc="d3", start=9)]  # no gold id: not scored
    a_ids = ["MESH:D1", "MESH:D2", "MESH:C1", "MESH:C9", "MESH:C2"]
    a = [LinkPrediction(**g.model_dump(), candidates=[c]) for g, c in zip(gold, a_ids, strict=True)]
    b_ids = ["MESH:D1", "MESH:D9", "MESH:C9"]  # d and e unanswered
    b = [LinkPrediction(**g.model_dump(), candidates=[c]) for g, c in zip(gold[:3], b_ids, strict=True)]
    diff = recall_difference(gold, a, b, k=1, bootstrap_samples=500, seed=0)
    assert (diff.mentions, diff.difference, diff.only_a, diff.only_b) == (4, 0.5, 2, 0)
    assert 0.0 <= diff.ci.low <= 0.5 <= diff.ci.high <= 1.0  # b never beats a on any document
    same = recall_difference(gold, a, a, k=1, bootstrap_samples=100, seed=0)
    assert (same.difference, same.ci.low, same.ci.high, same.only_a, same.only_b) == (0.0, 0.0, 0.0, 0, 0)
    assert recall_difference(gold, b, a, k=1, bootstrap_samples=500, seed=0).difference == -0.5


def test_cli_link_and_evaluate(kb: MemoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    gold = tmp_path / "gold.pubtator"
    start = TEXT.index("breast cancer")
    bp = TEXT.index("high-blood pressure")
    gold.write_text(f"1|t|{TEXT}\n1|a|\n1\t0\t11\tParacetamol\tChemical\tD000082\n"
                    f"1\t{start}\t{start + 13}\tbreast cancer\tDisease\tD001943\n"
                    f"1\t{bp}\t{bp + 19}\thigh-blood pressure\tDisease\tD003920\n\n")
    pred = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(app, ["link", str(gold), "--linker", "dictionary", "--out", str(pred),
                                      "--store", str(kb.path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answered"] == 3
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json",
                                      "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["at"]["recall@1"]["micro"]["recall"] == round(2 / 3, 4)  # the gold says D003920 for "bp"
    assert report["at"]["recall@1"]["per_type"]["Chemical"]["recall"] == 1.0
    result = CliRunner().invoke(app, ["link", str(gold), "--group", "Gene", "--out", str(pred),
                                      "--store", str(kb.path)])
    assert result.exit_code != 0 and "no named Gene concepts" in " ".join(result.stderr.split())


@pytest.mark.slow
def test_link_train_learns_from_note_pairs(kb: MemoryStore, tmp_path: Path):
    from kgsynth.linking.train import train_biencoder, training_pairs

    indexes = {"Disease": build_index(kb, "Disease"), "Chemical": build_index(kb, "Chemical")}
    notes = [NoteRecord(id=f"n{i}", text=f"She took {name} daily.", entities=[
        Entity(id="T1", start=9, end=9 + len(name), text=name, type=group, concept_id=cid)])
        for i, (name, group, cid) in enumerate([("tylenol", "Chemical", "MESH:D000082"),
                                                ("mammary cancer", "Disease", "MESH:D001943"),
                                                ("glucophage", "Chemical", "MESH:D008687"),
                                                ("aspirin", "Chemical", "MESH:D001241")])]
    pairs, unknown = training_pairs(notes, indexes, with_context=False)
    assert unknown == 1 and pairs[0] == ("tylenol", "Acetaminophen", "MESH:D000082")
    named = [NoteRecord(id="p", text="She took Acetaminophen.", entities=[
        Entity(id="T1", start=9, end=22, text="Acetaminophen", type="Chemical", concept_id="MESH:D000082")])]
    assert training_pairs(named, indexes, with_context=False)[0] == [("Acetaminophen", "Paracetamol", "MESH:D000082")]
    report = train_biencoder(notes * 4, indexes, tmp_path / "model", batch_size=4, epochs=2, lr=1e-4)
    assert report.pairs == 12 and report.steps == 6 and (tmp_path / "model" / "config.json").is_file()
    linker = BiEncoderLinker(indexes, model=tmp_path / "model")
    assert linker.rank([mention("tylenol", "Chemical")], k=1) == [["MESH:D000082"]]


@pytest.mark.slow
def test_mined_negatives_are_other_concepts_of_the_group(kb: MemoryStore, tmp_path: Path):
    from kgsynth.linking.linkers import load_encoder
    from kgsynth.linking.train import mine_negatives, train_biencoder

    indexes = {"Disease": build_index(kb, "Disease"), "Chemical": build_index(kb, "Chemical")}
    pairs = [("tylenol", "Acetaminophen", "MESH:D000082"), ("mammary cancer", "Breast Neoplasms", "MESH:D001943")]
    mined = mine_negatives(load_encoder(), pairs, indexes)
    assert set(mined) == {("tylenol", "MESH:D000082"), ("mammary cancer", "MESH:D001943")}
    for (_, gold), (name, cid) in mined.items():
        group = "Chemical" if gold in indexes["Chemical"].preferred else "Disease"
        assert cid != gold and cid in indexes[group].preferred and name in indexes[group].names_by_id[cid]
    notes = [NoteRecord(id=f"n{i}", text=f"She took {name} daily.", entities=[
        Entity(id="T1", start=9, end=9 + len(name), text=name, type=group, concept_id=cid)])
        for i, (name, group, cid) in enumerate([("tylenol", "Chemical", "MESH:D000082"),
                                                ("glucophage", "Chemical", "MESH:D008687")])]
    report = train_biencoder(notes * 2, indexes, tmp_path / "hn", batch_size=4, lr=1e-4, hard_negatives=True)
    assert report.pairs == 4 and report.hard_negatives == 2 and report.steps == 1


def test_generated_mention_naming_another_concept_is_not_a_training_pair(kb: MemoryStore):
    """A written form that is exactly another concept's name would teach the wrong id."""
    from kgsynth.cypher.cover import mention_instance
    from kgsynth.linking.train import training_pairs

    indexes = {"Disease": build_index(kb, "Disease"), "Chemical": build_index(kb, "Chemical")}

    def note(instance=None):  # noqa: ANN001, ANN202
        return NoteRecord(id="g" if instance else "c", text="She took Paracetamol.", instance=instance, entities=[
            Entity(id="T1", start=9, end=20, text="Paracetamol", type="Chemical", concept_id="MESH:D008687")])

    generated = note(mention_instance(["MESH:D008687", "Metformin", "Chemical", [], []], "Metformin", 0))
    assert training_pairs([generated], indexes, with_context=False) == ([], 1)
    pairs, unknown = training_pairs([note()], indexes, with_context=False)  # a corpus's gold is kept as gold
    assert unknown == 0 and [p[2] for p in pairs] == ["MESH:D008687"]
