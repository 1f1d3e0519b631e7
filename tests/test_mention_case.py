"""A corpus mention capitalized only by its place names its concept in mid-sentence case."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgsynth.graph.memory import MemoryStore
from kgsynth.loaders.biored import CorpusLoader
from kgsynth.loaders.corpus import CorpusDocument, CorpusMention
from kgsynth.loaders.mention_case import written_case
from kgsynth.loaders.runner import run_load


def _doc(title: str, abstract: str) -> CorpusDocument:
    return CorpusDocument(id="1", title=title, text=f"{title} {abstract}")


def _case(doc: CorpusDocument, text: str, group: str = "Chemical", nth: int = 0) -> str:
    start = -1
    for _ in range(nth + 1):
        start = doc.text.index(text, start + 1)
    return written_case(doc, CorpusMention(start=start, end=start + len(text), text=text, type="x"), group)


@pytest.mark.parametrize(("title", "abstract", "mention", "group", "expected"), [
    ("Histamine in gastric secretion", "We gave histamine to rats.", "Histamine", "Chemical", "histamine"),
    ("Cisplatin nephrotoxicity", "It was severe.", "Cisplatin", "Chemical", "cisplatin"),  # no evidence: a word
    ("Akt signalling", "It was studied.", "Akt", "Gene", "Akt"),  # a gene symbol without evidence: kept
    ("Wilson disease in children", "It was rare.", "Wilson disease", "Disease", "Wilson disease"),
    ("Sal protects neurons", "We found that Sal was safe.", "Sal", "Chemical", "Sal"),  # written so mid-sentence
    ("Parkinson's disease and sleep", "It was rare.", "Parkinson's disease", "Disease", "Parkinson's disease"),
    ("IL-6 in sepsis", "It was high.", "IL-6", "Gene", "IL-6"),
    ("Dynein motors", "Cargo moved on dynein tracks.", "Dynein", "Gene", "dynein"),  # evidence beats the symbol rule
    ("Effects Of Histamine On Gastric Secretion", "Rats got histamine.", "Histamine", "Chemical", "histamine"),
    ("Nitric oxide in shock", "Levels rose.", "Nitric oxide", "Chemical", "nitric oxide"),
    ("Adenoid Cystic Carcinoma Of The Breast", "It is rare: one adenoid cystic carcinoma was seen.",
     "Adenoid Cystic Carcinoma", "Disease", "adenoid cystic carcinoma"),  # Title Case: every word
    ("Sulfonylurea Receptor Gene Variants", "The sulfonylurea receptor was cloned.", "Sulfonylurea Receptor",
     "Gene", "sulfonylurea receptor"),
    ("Keratitis-ichthyosis-deafness syndrome", "It is rare.", "Keratitis-ichthyosis-deafness syndrome", "Disease",
     "keratitis-ichthyosis-deafness syndrome"),
    ("Tumors and Akt", "Tumors grew. We saw tumors shrink.", "Tumors", "Disease", "tumors"),
])
def test_written_case(title: str, abstract: str, mention: str, group: str, expected: str) -> None:
    assert _case(_doc(title, abstract), mention, group) == expected


def test_a_mention_mid_sentence_keeps_its_capital() -> None:
    doc = _doc("Drugs and the heart", "We gave Histamine to rats. Histamine was safe.")
    assert _case(doc, "Histamine", nth=0) == "Histamine"  # mid-sentence: as written
    assert _case(doc, "Histamine", nth=1) == "Histamine"  # at a start, but written so mid-sentence elsewhere


def test_the_loader_names_concepts_in_mid_sentence_case(tmp_path: Path) -> None:
    title = "Histamine and Akt in rats."
    abstract = "Levels of histamine rose. Akt was active."
    text = f"{title} {abstract}"
    rows = [("Histamine", "D006632", "ChemicalEntity", 0), ("histamine", "D006632", "ChemicalEntity", 1),
            ("Akt", "207", "GeneOrGeneProduct", 0)]
    lines = []
    for word, cid, kind, nth in rows:
        start = -1
        for _ in range(nth + 1):
            start = text.lower().index(word.lower(), start + 1)
        lines.append(f"1\t{start}\t{start + len(word)}\t{text[start:start + len(word)]}\t{kind}\t{cid}\n")
    path = tmp_path / "case.PubTator"
    path.write_text(f"1|t|{title}\n1|a|{abstract}\n" + "".join(lines) + "\n")
    store = MemoryStore(None)
    run_load(CorpusLoader([path]), store, show_progress=False)
    histamine = store.get_concept("MESH:D006632")
    assert (histamine.name, histamine.synonyms) == ("histamine", [])
    assert store.get_concept("NCBIGene:207").name == "Akt"
