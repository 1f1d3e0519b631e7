"""Regressions found by the independent bad-input run (bench/fuzz_independent.py), one test per fix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import ConfigError, InputError
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.training.data import read_notes

ROOT = Path(__file__).resolve().parents[1]
OBO = ROOT / "tests" / "data" / "obo"
TITLE = "Metformin treats type 2 diabetes."
PUBTATOR = (
    f"100|t|{TITLE}\n100|a|No abstract.\n"
    "100\t0\t9\tMetformin\tChemical\tD008687\n"
    "100\t17\t32\ttype 2 diabetes\tDisease\tD003924\n"
    "100\tCID\tD008687\tD003924\n\n"
)


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)


def _cli(*argv: str):
    result = CliRunner().invoke(app, list(argv))
    assert "Traceback" not in result.output + result.stderr
    return result


def _note(**changes: object) -> dict:
    note = {
        "id": "n1", "text": TITLE,
        "entities": [
            {"id": "T1", "start": 0, "end": 9, "text": "Metformin", "type": "Chemical", "concept_id": "MESH:D008687"},
            {"id": "T2", "start": 17, "end": 32, "text": "type 2 diabetes", "type": "Disease",
             "concept_id": "MESH:D003924"},
        ],
        "relations": [{"subject": "T1", "type": "TREATS", "object": "T2"}],
    }
    note.update(changes)
    return note


def _jsonl(path: Path, *notes: dict) -> Path:
    path.write_text("".join(json.dumps(n) + "\n" for n in notes), encoding="utf-8")
    return path


def test_bioc_xml_in_utf16_without_a_byte_order_mark_is_refused(tmp_path: Path) -> None:
    xml = ("<?xml version='1.0' encoding='UTF-8'?><collection><source>x</source><document><id>1</id><passage>"
           f"<offset>0</offset><text>{TITLE}</text></passage></document></collection>")
    path = tmp_path / "c.BioC.XML"
    path.write_bytes(xml.encode("utf-16-le"))  # lxml would decode it by itself; every reader takes UTF-8 only
    result = _cli("load", "biored", str(path), "--store", str(tmp_path / "g.json"), "--no-progress")
    assert result.exit_code == InputError.exit_code
    assert "c.BioC.XML, line 1: NUL byte" in result.stderr and "UTF-16" in result.stderr


@pytest.mark.parametrize("bad_id", ["D008687'", "D008687\"}) DETACH DELETE n //"])
def test_a_corpus_id_with_a_quote_or_space_is_refused_by_load_and_evaluate(tmp_path: Path, bad_id: str) -> None:
    good = tmp_path / "gold.PubTator"
    good.write_text(PUBTATOR, encoding="utf-8")
    bad = tmp_path / "pred.PubTator"
    bad.write_text(PUBTATOR.replace("Chemical\tD008687", f"Chemical\t{bad_id}"), encoding="utf-8")
    load = _cli("load", "biored", str(bad), "--store", str(tmp_path / "g.json"), "--no-progress")
    assert load.exit_code == InputError.exit_code
    assert "pred.PubTator" in load.stderr and "bad id" in load.stderr
    evaluate = _cli("evaluate", "--gold", str(good), "--pred", str(bad), "--bootstrap", "0")
    assert evaluate.exit_code == InputError.exit_code
    assert "pred.PubTator:1: document 100" in evaluate.stderr and "bad id" in evaluate.stderr
    rejects = tmp_path / "rejects.tsv"
    lenient = _cli("load", "biored", str(bad), "--store", str(tmp_path / "g2.json"), "--no-progress", "--json",
                   "--skip-bad", "--rejects", str(rejects))
    assert lenient.exit_code == 0, lenient.stderr
    assert sum(json.loads(lenient.stdout)["skipped_by_reason"].values()) >= 1
    assert "pred.PubTator, line 1" in rejects.read_text(encoding="utf-8")


@pytest.mark.parametrize(("field", "value"), [("xrefs", ["UMLS:C1"]), ("name", 5), ("synonyms", [3])])
def test_indra_fields_of_the_wrong_type_are_bad_records(tmp_path: Path, field: str, value: object) -> None:
    terms = json.loads((OBO / "mini-indra.json").read_text(encoding="utf-8"))
    terms[0][field] = value
    path = tmp_path / "onto.json"
    path.write_text(json.dumps(terms), encoding="utf-8")
    strict = _cli("load", "obo", str(path), "--store", str(tmp_path / "g.json"), "--no-progress")
    assert strict.exit_code == InputError.exit_code
    assert "onto.json" in strict.stderr and "term #0" in strict.stderr
    rejects = tmp_path / "rejects.tsv"
    lenient = _cli("load", "obo", str(path), "--store", str(tmp_path / "g2.json"), "--no-progress", "--json",
                   "--skip-bad", "--rejects", str(rejects))
    assert lenient.exit_code == 0, lenient.stderr
    assert json.loads(lenient.stdout)["skipped_by_reason"]["bad record"] == 1
    rows = rejects.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 and rows[0].startswith(f"{path}, term #0\tbad record")


def test_lenient_rejects_of_json_readers_name_the_record(tmp_path: Path, shared_data: Path) -> None:
    """Records of a whole JSON file have no line of their own: the rejects row names the record instead."""
    graph = json.loads((OBO / "mini-obograph.json").read_text(encoding="utf-8"))
    graph["graphs"][0]["nodes"][1]["lbl"] = 5
    onto = tmp_path / "graph.json"
    onto.write_text(json.dumps(graph), encoding="utf-8")
    bioc = json.loads((shared_data / "biored" / "Dev.BioC.JSON").read_text(encoding="utf-8"))
    bioc["documents"] = bioc["documents"][:3]
    bioc["documents"][1]["passages"][0].pop("offset")
    corpus = tmp_path / "c.BioC.JSON"
    corpus.write_text(json.dumps(bioc), encoding="utf-8")
    for command, path, where, reason in (("obo", onto, "graphs[0].nodes[1]", "bad record"),
                                         ("biored", corpus, "documents[1]", "malformed document")):
        rejects = tmp_path / f"{command}.tsv"
        result = _cli("load", command, str(path), "--store", str(tmp_path / f"{command}.json"), "--no-progress",
                      "--json", "--skip-bad", "--rejects", str(rejects))
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["skipped_by_reason"][reason] == 1
        rows = rejects.read_text(encoding="utf-8").splitlines()
        assert rows and all(r.startswith(f"{path}, {where}\t{reason}") for r in rows), rows
        # the reason column carries the reader's message, without a second location
        assert all(r.split("\t")[1].startswith(f"{reason}: ") and str(path) not in r.split("\t")[1]
                   for r in rows), rows


def test_a_lexicon_file_is_read_through_the_one_input_path(tmp_path: Path) -> None:
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b'TREATS:\n  - "{subject} is used\0 for {object}"\n')
    with pytest.raises(ConfigError, match=r"nul\.yaml, line 2: NUL byte"):
        load_lexicon(nul)
    deep = tmp_path / "deep.yaml"
    deep.write_text("TREATS: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_lexicon(deep)
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_lexicon(tmp_path / "folder.yaml")
    ctrl = tmp_path / "ctrl.yaml"
    ctrl.write_bytes(b'TREATS:\n  - "{subject} is \x07used for {object}"\n')
    with pytest.raises(ConfigError, match=r"ctrl\.yaml:2: not valid YAML"):
        load_lexicon(ctrl)


def test_check_flags_an_annotated_relation_of_no_graph_type_or_to_no_entity(tmp_path: Path) -> None:
    notes = _jsonl(tmp_path / "notes.jsonl",
                   _note(id="a", relations=[{"subject": "T1", "type": "TREATS]->() DELETE n//", "object": "T2"}]),
                   _note(id="b", relations=[{"subject": "T1", "type": "TREATS", "object": "T9"}]))
    result = _cli("check", str(notes), "--store", str(tmp_path / "g.json"), "--json")
    assert result.exit_code == 0, result.stderr
    by_id = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    assert not by_id["a"]["passed"] and "unknown_relation_type" in by_id["a"]["flags"]
    assert not by_id["b"]["passed"] and "dangling_relation" in by_id["b"]["flags"]


@pytest.mark.parametrize("broken", [
    {"entities": [{"id": "T1", "start": 10**15, "end": 10**15 + 9, "text": "Metformin", "type": "Chemical",
                   "concept_id": "MESH:D008687"}], "relations": []},
    {"entities": [{"id": "T1", "start": 0, "end": 9, "text": "Aspirin!!", "type": "Chemical",
                   "concept_id": "MESH:D008687"}], "relations": []},
    {"relations": [{"subject": "T1", "type": "TREATS", "object": "T7"}]},
])
def test_train_refuses_notes_with_broken_annotations_evaluate_counts_them(tmp_path: Path, broken: dict) -> None:
    gold = _jsonl(tmp_path / "gold.jsonl", _note(id="x"), _note())
    pred = _jsonl(tmp_path / "pred.jsonl", _note(id="x"), _note(**broken))
    result = _cli("evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "0", "--json")
    assert result.exit_code == 0, result.stderr
    issues = json.loads(result.stdout)["issues"]
    assert issues["out_of_range_entities"] + issues["text_mismatch_entities"] + issues["dangling_relations"] >= 1
    with pytest.raises(InputError, match=r"pred\.jsonl:2: broken annotation"):
        read_notes([pred])


def test_train_refuses_bad_data_before_importing_torch(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jsonl"
    bad.write_bytes(b'{"text": 5}\n')
    code = (
        "import sys\nfrom kgsynth.errors import InputError\nfrom kgsynth.training.config import TrainConfig\n"
        "from kgsynth.training.trainer import train\n"
        f"try:\n    train(TrainConfig.build({{'data': [{str(bad)!r}], 'out': {str(tmp_path / 'run')!r}}}))\n"
        "except InputError as exc:\n    print('refused:', exc)\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert "refused:" in run.stdout and "notes.jsonl:1" in run.stdout, run.stdout + run.stderr
    assert "torch imported: False" in run.stdout


def test_an_output_that_is_a_folder_or_cannot_be_written_is_an_input_error(tmp_path: Path) -> None:
    from kgsynth.atomic import write_text_atomic

    with pytest.raises(InputError, match="is a folder; give a file name"):
        write_text_atomic(tmp_path, "x")
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"plain/out\.json: cannot write here"):  # its folder is a file
        write_text_atomic(tmp_path / "plain" / "out.json", "x")
    store = tmp_path / "g.json"
    assert _cli("graph", "load-sample", "--store", str(store)).exit_code == 0
    folder = tmp_path / "o.jsonl"
    folder.mkdir()
    result = _cli("sample", "--motif", "single_edge", "--n", "2", "--out", str(folder), "--store", str(store))
    assert result.exit_code == InputError.exit_code
    assert "o.jsonl: is a folder" in result.stderr


@pytest.mark.parametrize(("where", "value", "says"), [
    ("type", "TREATS]->() DELETE n//", "relation type 'TREATS]->() DELETE n//' is not in the graph's schema"),
    ("group", "Spaceship", "group 'Spaceship' of MESH:D008687 is not in the graph's schema"),
])
def test_an_instance_outside_the_schema_is_refused(tmp_path: Path, where: str, value: str, says: str) -> None:
    from kgsynth.generation.instances import read_instances

    instance = {
        "id": "i1", "motif": "single_edge",
        "concepts": [{"slot": "subject", "id": "MESH:D008687", "name": "Metformin", "group": "Chemical"},
                     {"slot": "object", "id": "MESH:D003924", "name": "Type 2 diabetes", "group": "Disease"}],
        "relations": [{"subject": "MESH:D008687", "type": "TREATS", "object": "MESH:D003924"}],
    }
    if where == "type":
        instance["relations"][0]["type"] = value
    else:
        instance["concepts"][0]["group"] = value
    path = tmp_path / "inst.jsonl"
    path.write_text(json.dumps(instance) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"inst\.jsonl:1: instance i1: {re.escape(says)}"):
        read_instances(path)
