"""The fuzz corpus of bad input: small valid seeds per format, mutations, and one way to judge a run.

Used by ``tests/test_fuzz_inputs.py`` (hypothesis picks mutations) and by
``bench/fuzz_inputs.py`` (a fixed random corpus, counted). Every case is run through
the real command in-process (typer's ``CliRunner``) and judged by :func:`judge`:

- ``traceback``: an exception escaped, or the last-resort handler fired (exit 70);
- ``silent success``: exit 0 on input that is known to be wrong (``must_fail``);
- ``unnamed error``: non-zero exit whose message names no file, or no line/record;
- ``clean error``: non-zero exit, one message naming the file and the line or record;
- ``accepted``: exit 0 on a mutant that may well be valid (a changed name, a dropped line),
  or a run that got past reading its input and stopped on purpose later (``accepted_marker``).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import KgsynthError

DATA = Path(__file__).parent / "data"

PUBTATOR = (
    "1|t|Aspirin and asthma in café workers.\n"
    "1|a|Aspirin worsened asthma.\n"
    "1\t0\t7\tAspirin\tChemicalEntity\tD001241\n"
    "1\t12\t18\tasthma\tDiseaseOrPhenotypicFeature\tD001249\n"
    "1\tAssociation\tD001241\tD001249\tNovel\n"
    "\n"
    "2|t|Caffeine and migraine.\n"
    "2|a|Caffeine eased migraine.\n"
    "2\t0\t8\tCaffeine\tChemicalEntity\tD002110\n"
    "2\t13\t21\tmigraine\tDiseaseOrPhenotypicFeature\tD008881\n"
    "2\tNegative_Correlation\tD002110\tD008881\tNo\n"
)


def _bioc_doc(doc_id: str, title: str, a: tuple[str, str, str], b: tuple[str, str, str]) -> dict:
    def ann(i: str, text: str, kind: str, ident: str) -> dict:
        return {"id": i, "infons": {"identifier": ident, "type": kind}, "text": text,
                "locations": [{"offset": title.index(text), "length": len(text)}]}

    return {"id": doc_id, "passages": [{"offset": 0, "infons": {"type": "title"}, "text": title,
                                        "annotations": [ann("0", *a), ann("1", *b)]}],
            "relations": [{"id": "R0", "infons": {"entity1": a[2], "entity2": b[2], "type": "Association",
                                                  "novel": "Novel"}}]}


BIOC_DOCS = [
    _bioc_doc("1", "Aspirin and asthma in café workers.", ("Aspirin", "ChemicalEntity", "D001241"),
              ("asthma", "DiseaseOrPhenotypicFeature", "D001249")),
    _bioc_doc("2", "Caffeine and migraine.", ("Caffeine", "ChemicalEntity", "D002110"),
              ("migraine", "DiseaseOrPhenotypicFeature", "D008881")),
]
BIOC_JSON = json.dumps({"source": "fuzz", "documents": BIOC_DOCS}, ensure_ascii=False, indent=1)


def _bioc_xml() -> str:
    parts = ["<?xml version='1.0' encoding='UTF-8'?>\n<collection><source>fuzz</source>\n"]
    for doc in BIOC_DOCS:
        passage = doc["passages"][0]
        parts.append(f"<document><id>{doc['id']}</id>\n<passage><infon key=\"type\">title</infon>"
                     f"<offset>0</offset><text>{passage['text']}</text>\n")
        for ann in passage["annotations"]:
            loc = ann["locations"][0]
            parts.append(f"<annotation id=\"{ann['id']}\"><infon key=\"identifier\">{ann['infons']['identifier']}"
                         f"</infon><infon key=\"type\">{ann['infons']['type']}</infon>"
                         f"<location offset=\"{loc['offset']}\" length=\"{loc['length']}\"/>"
                         f"<text>{ann['text']}</text></annotation>\n")
        rel = doc["relations"][0]["infons"]
        parts.append(f"</passage>\n<relation id=\"R0\"><infon key=\"entity1\">{rel['entity1']}</infon>"
                     f"<infon key=\"entity2\">{rel['entity2']}</infon><infon key=\"type\">Association</infon>"
                     "</relation>\n</document>\n")
    parts.append("</collection>\n")
    return "".join(parts)


SNOMED = {
    "Snapshot/Terminology/sct2_Concept_Snapshot_INT_20990101.txt": (
        "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId\n"
        "404684003\t20990101\t1\t900000000000207008\t900000000000074008\n"
        "64572001\t20990101\t1\t900000000000207008\t900000000000074008\n"
        "22298006\t20990101\t1\t900000000000207008\t900000000000074008\n"
    ),
    "Snapshot/Terminology/sct2_Description_Snapshot-en_INT_20990101.txt": (
        "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId\n"
        "1001\t20990101\t1\t900000000000207008\t404684003\ten\t900000000000003001\tClinical finding (finding)"
        "\t900000000000448009\n"
        "1002\t20990101\t1\t900000000000207008\t64572001\ten\t900000000000003001\tDisease (disorder)"
        "\t900000000000448009\n"
        "1003\t20990101\t1\t900000000000207008\t22298006\ten\t900000000000003001\tInfarctus café (disorder)"
        "\t900000000000448009\n"
    ),
    "Snapshot/Terminology/sct2_Relationship_Snapshot_INT_20990101.txt": (
        "id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId"
        "\tcharacteristicTypeId\tmodifierId\n"
        "2001\t20990101\t1\t900000000000207008\t64572001\t404684003\t0\t116680003\t900000000000011006"
        "\t900000000000451002\n"
        "2002\t20990101\t1\t900000000000207008\t22298006\t64572001\t0\t116680003\t900000000000011006"
        "\t900000000000451002\n"
    ),
}

INSTANCE = {"motif": "single_edge", "concepts": [
    {"slot": "subject", "id": "MESH:D001241", "name": "Aspirin", "group": "Chemical", "synonyms": ["aspirine"]},
    {"slot": "object", "id": "MESH:D001249", "name": "Asthma", "group": "Disease", "synonyms": ["asthme café"]}],
    "relations": [{"subject": "MESH:D001241", "type": "TREATS", "object": "MESH:D001249"}]}
INSTANCES = json.dumps(INSTANCE, ensure_ascii=False) + "\n" + json.dumps(
    {**INSTANCE, "id": "fuzz-second", "stratum": "b"}, ensure_ascii=False) + "\n"

MOTIF = ("# fuzz seed\nname: fuzz_edge\ndescription: One fact, café.\nshape: edge\nslots:\n  subject: {}\n"
         "  object: {}\nedges:\n  - subject: subject\n    object: object\n")

TRAIN_CONFIG = ("lora_r: 4\nlora_alpha: 8\nepochs: 1\nmax_steps: 1\nbatch_tokens: 256\nthreads: 1\n"
                "base_model: missing-base-café.gguf\n")
#: What `train` says once the config and data were read: the base model does not exist (on purpose).
MISSING_BASE = ("model file", "cannot load tokenizer")


def _note(text: str, a: str, b: str, ids: tuple[str, str], types: tuple[str, str], rel: str) -> dict:
    ia, ib = text.index(a), text.index(b)
    return {"id": f"n-{ia}-{ib}-{len(text)}", "text": text, "entities": [
        {"id": "T1", "start": ia, "end": ia + len(a), "text": a, "type": types[0], "concept_id": ids[0]},
        {"id": "T2", "start": ib, "end": ib + len(b), "text": b, "type": types[1], "concept_id": ids[1]}],
        "relations": [{"subject": "T1", "type": rel, "object": "T2"}],
        "instance": {**INSTANCE, "concepts": [dict(INSTANCE["concepts"][0], id=ids[0], group=types[0]),
                                              dict(INSTANCE["concepts"][1], id=ids[1], group=types[1])],
                     "relations": [{"subject": ids[0], "type": rel, "object": ids[1]}]},
        "decoding": {"job": len(text)}}


NOTES = "".join(json.dumps(n, ensure_ascii=False) + "\n" for n in (
    _note("Started aspirin for asthma at the café.", "aspirin", "asthma", ("MESH:D001241", "MESH:D001249"),
          ("Chemical", "Disease"), "TREATS"),
    _note("Metformin was given for diabetes.", "Metformin", "diabetes", ("MESH:D008687", "MESH:D003920"),
          ("Chemical", "Disease"), "TREATS"),
))


@dataclass
class Target:
    """One format: its seed files, the file that gets mutated, and the commands that read it."""

    name: str
    files: dict[str, str]
    mutated: str  # key of ``files`` that mutations change ("" with a directory of files: one is picked)
    commands: list[Callable[[Path, Path], list[str]]]  # (case folder, mutated file) -> argv
    line_based: bool
    json_like: bool = False
    loads: bool = False  # a `kgsynth load`: the store must stay unchanged or the error must say what was written
    accepted_marker: tuple[str, ...] = ()  # stderr fragments meaning: input read fine, stopped later on purpose


def _store(case: Path) -> list[str]:
    return ["--store", str(case / "graph.json.gz")]


def _load(kind: str) -> Callable[[Path, Path], list[str]]:
    def argv(case: Path, file: Path) -> list[str]:
        arg = case / "in" if kind in ("umls", "snomed") else file
        return ["load", kind, str(arg), *_store(case), "--json", "--no-progress"]
    return argv


def _evaluate_against(seed_name: str) -> Callable[[Path, Path], list[str]]:
    def argv(case: Path, file: Path) -> list[str]:
        return ["evaluate", "--gold", str(case / "seed" / seed_name), "--pred", str(file), "--bootstrap", "0",
                "--json"]
    return argv


def _check(case: Path, file: Path) -> list[str]:
    return ["check", str(file), *_store(case), "--json"]


def _export(case: Path, file: Path) -> list[str]:
    return ["export", str(file.parent), "--out", str(case / "exported"), "--format", "conll", "--json"]


def _train_data(case: Path, file: Path) -> list[str]:
    return ["train", "--data", str(file), "--base-model", "missing-base.gguf", "--out", str(case / "run"),
            "--json"]


def _train_config(case: Path, file: Path) -> list[str]:
    return ["train", "--config", str(file), "--data", str(case / "seed" / "notes.jsonl"), "--out",
            str(case / "run"), "--base-model", "missing-base.gguf", "--json"]  # flags win: no model is loaded


def _generate(case: Path, file: Path) -> list[str]:
    return ["generate", "--instances", str(file), "--out", str(case / "gen"), "--n", "2", "--no-extract", "--json"]


def _sample(case: Path, file: Path) -> list[str]:
    return ["sample", "--motif", str(file), "--n", "2", "--seed", "1", "--out", str(case / "i.jsonl"),
            *_store(case), "--json"]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


TARGETS: dict[str, Target] = {
    "umls": Target("umls", {f"in/{n}": _read(DATA / "umls" / n) for n in ("MRCONSO.RRF", "MRSTY.RRF", "MRREL.RRF")},
                   "", [_load("umls")], line_based=True, loads=True),
    "snomed": Target("snomed", {f"in/{k}": v for k, v in SNOMED.items()}, "", [_load("snomed")], line_based=True,
                     loads=True),
    "pubtator": Target("pubtator", {"x.PubTator": PUBTATOR}, "x.PubTator",
                       [_load("biored"), _evaluate_against("x.PubTator")], line_based=True, loads=True),
    "bioc-xml": Target("bioc-xml", {"x.BioC.xml": _bioc_xml()}, "x.BioC.xml",
                       [_load("biored"), _evaluate_against("x.BioC.xml")], line_based=False, loads=True),
    "bioc-json": Target("bioc-json", {"x.BioC.json": BIOC_JSON}, "x.BioC.json",
                        [_load("biored"), _evaluate_against("x.BioC.json")], line_based=False, json_like=True,
                        loads=True),
    "obo": Target("obo", {"x.obo": _read(DATA / "obo" / "mini.obo")}, "x.obo", [_load("obo")], line_based=True,
                  loads=True),
    "obo-graph": Target("obo-graph", {"x.json": _read(DATA / "obo" / "mini-obograph.json")}, "x.json",
                        [_load("obo")], line_based=False, json_like=True, loads=True),
    "hpoa": Target("hpoa", {"x.hpoa": _read(DATA / "obo" / "mini.hpoa")}, "x.hpoa", [_load("obo")],
                   line_based=True, loads=True),
    "motif-yaml": Target("motif-yaml", {"m.yaml": MOTIF}, "m.yaml", [_sample], line_based=False,
                         accepted_marker=("instances, nothing written",)),  # read fine, the graph has no match
    "instances": Target("instances", {"i.jsonl": INSTANCES}, "i.jsonl", [_generate], line_based=True,
                        json_like=True),
    "notes": Target("notes", {"dataset/notes-00000.jsonl": NOTES}, "dataset/notes-00000.jsonl",
                    [_check, _export, _evaluate_against("notes-00000.jsonl")],
                    line_based=True, json_like=True),
    "train-config": Target("train-config", {"c.yaml": TRAIN_CONFIG, "notes.jsonl": NOTES}, "c.yaml",
                           [_train_config], line_based=False,
                           accepted_marker=MISSING_BASE),
    "train-data": Target("train-data", {"d.jsonl": NOTES}, "d.jsonl", [_train_data], line_based=True,
                         json_like=True, accepted_marker=MISSING_BASE),
}

# -- mutations -----------------------------------------------------------------------------
JUNK = ["", "-1", "-5", "0", "1000000000000000", "99999999999999999999999", "1e15", "x y", "a'b", "é",
        '"}) DETACH DELETE n //', "`Evil` SET n:Admin", "null", "[]", "{}", "\t", "|", "\\", "<x>", "&amp;",
        "true", "NaN", "\u202e", "a" * 300]
MUTATIONS = ["nul", "bad_byte", "utf16", "latin1", "cut_char", "cr_only", "truncate", "flip", "delete_line",
             "duplicate_line", "swap_lines", "junk_token", "junk_number", "deep", "blank", "bom", "huge_line"]


@dataclass
class Case:
    """One fuzz case: the bytes of each file, which one was mutated, and whether it must be refused."""

    target: str
    mutation: str
    files: dict[str, bytes]
    mutated: str
    must_fail: bool
    command: int = 0
    special: str = ""  # "directory", "dangling", "loop", "fifo": the mutated path is that instead of a file
    extra: list[str] = field(default_factory=list)  # extra CLI flags (--skip-bad, --atomic)


def _insert(data: bytes, rnd: random.Random, piece: bytes) -> bytes:
    at = rnd.randrange(1, max(2, len(data) - 1))
    return data[:at] + piece + data[at:]


def mutate(data: bytes, mutation: str, rnd: random.Random, target: Target) -> tuple[bytes, bool]:
    """``(mutant, must_fail)``: must_fail when no reader may accept the result."""
    text = data.decode("utf-8")
    lines = data.split(b"\n")
    if mutation == "nul":
        return _insert(data, rnd, b"\0"), True
    if mutation == "bad_byte":
        return _insert(data, rnd, rnd.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xfe"])), True
    if mutation == "utf16":
        return text.encode(rnd.choice(["utf-16", "utf-32"])), True
    if mutation == "latin1":
        at = rnd.randrange(1, len(text) - 1)
        return (text[:at] + "é" + text[at:]).encode("latin-1", "replace"), True
    if mutation == "cut_char":  # the file ends inside a two-byte character
        if "é".encode() not in data:
            data = _insert(data, rnd, "é".encode())
        return data[: data.index("é".encode()) + 1], True
    if mutation == "cr_only":
        return data.replace(b"\n", b"\r"), target.line_based
    if mutation == "truncate":
        at = rnd.randrange(1, len(data.rstrip()) - 1)
        return data[:at], target.json_like and not target.line_based or target.name == "bioc-xml"
    if mutation == "flip":
        at = rnd.randrange(len(data))
        return data[:at] + bytes([rnd.randrange(32, 127)]) + data[at + 1 :], False
    if mutation == "delete_line" and len(lines) > 2:
        del lines[rnd.randrange(len(lines) - 1)]
        return b"\n".join(lines), False
    if mutation == "duplicate_line" and len(lines) > 2:
        i = rnd.randrange(len(lines) - 1)
        lines.insert(i, lines[i])
        return b"\n".join(lines), False
    if mutation == "swap_lines" and len(lines) > 3:
        i, j = rnd.sample(range(len(lines) - 1), 2)
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines), False
    if mutation in ("junk_token", "junk_number"):
        pattern = r"\d+" if mutation == "junk_number" else r"[A-Za-z0-9_:.\-]+"
        spots = list(re.finditer(pattern, text))
        if spots:
            spot = rnd.choice(spots)
            return (text[: spot.start()] + rnd.choice(JUNK) + text[spot.end() :]).encode("utf-8"), False
    if mutation == "deep" and (target.json_like or target.name in ("motif-yaml", "train-config", "bioc-xml")):
        depth = rnd.choice([300, 1000, 5000, 50000])  # JSON files stop at 100 levels, JSONL records at ~255
        if target.name == "bioc-xml":
            nest = "<infon>" * depth + "</infon>" * depth
            return text.replace("<source>fuzz</source>", "<source>fuzz</source>" + nest, 1).encode(), True
        if target.name in ("motif-yaml", "train-config"):
            return (text + "deep: " + "[" * depth + "]" * depth + "\n").encode(), True
        nest = "[" * depth + "]" * depth
        if target.line_based:  # JSONL: one line becomes a deep value
            first = text.split("\n", 1)
            return (first[0][:-1] + f', "x": {nest}}}\n' + first[1]).encode(), True
        return text.replace("{", "{" + f'"deep": {nest}, ', 1).encode(), True
    if mutation == "blank":
        return rnd.choice([b"", b"\n", b"   \n\n\t\n"]), True
    if mutation == "bom":
        return b"\xef\xbb\xbf" + data, False  # a UTF-8 BOM is dropped, the file stays valid
    if mutation == "huge_line" and target.line_based:
        return _insert(data, rnd, b"A" * (17 * 2**20)), True
    # the mutation does not apply to this format: a random byte flip instead
    at = rnd.randrange(len(data))
    return data[:at] + bytes([rnd.randrange(32, 127)]) + data[at + 1 :], False


def make_case(target_name: str, mutation: str, seed: int) -> Case:
    """A deterministic case: ``seed`` picks the file, the position and the command."""
    target = TARGETS[target_name]
    rnd = random.Random(f"{target_name}:{mutation}:{seed}")
    files = {k: v.encode("utf-8") for k, v in target.files.items()}
    mutated = target.mutated or rnd.choice(sorted(files))
    data, must_fail = mutate(files[mutated], mutation, rnd, target)
    if mutation == "blank" and target.name == "umls" and not mutated.endswith("MRCONSO.RRF"):
        must_fail = True  # an optional file that is present must be readable
    files[mutated] = data
    return Case(target_name, mutation, files, mutated, must_fail, command=rnd.randrange(len(target.commands)))


HANDMADE: list[tuple[str, str, str]] = [  # (target, what, text or special kind) cases that must be refused
    ("pubtator", "mention text differs", PUBTATOR.replace("\tAspirin\tChemical", "\tAspirix\tChemical", 1)),
    ("pubtator", "offset past text", PUBTATOR.replace("1\t12\t18", "1\t12\t1800", 1)),
    ("pubtator", "huge offset", PUBTATOR.replace("1\t12\t18", "1\t12\t1000000000000000", 1)),
    ("pubtator", "cypher id", PUBTATOR.replace("D001241\n", 'D001241"}) DETACH DELETE n //\n', 1)),
    ("pubtator", "id with a space", PUBTATOR.replace("D002110\n", "D00 2110\n", 1)),
    ("pubtator", "CR-only line ends", PUBTATOR.replace("\n", "\r")),
    ("pubtator", "conflicting duplicate doc", PUBTATOR + "\n" + PUBTATOR.split("\n\n")[1].replace(
        "Caffeine and", "Coffee and")),
    ("bioc-json", "passage offset 1e15", BIOC_JSON.replace('"offset": 0', '"offset": 1000000000000000', 1)),
    ("bioc-json", "passage without offset", BIOC_JSON.replace('"offset": 0,', "", 1)),
    ("bioc-json", "negative length", BIOC_JSON.replace('"length": 7', '"length": -7', 1)),
    ("bioc-json", "offset far past text", BIOC_JSON.replace('"offset": 12', '"offset": 1200', 1)),
    ("bioc-json", "mention text differs", BIOC_JSON.replace('"text": "Aspirin"', '"text": "Aspirix"', 1)),
    ("bioc-json", "cypher id", BIOC_JSON.replace('"D001241"', '"D001241\'}) DETACH DELETE n //"', 1)),
    ("bioc-json", "passages not a list", BIOC_JSON.replace('"passages": [', '"passages": {"x": [', 1)
     .replace('"relations": [{"id": "R0"', '}, "relations": [{"id": "R0"', 1)),
    ("bioc-json", "documents not a list", '{"documents": {"id": "1"}}'),
    ("bioc-json", "id not a string", BIOC_JSON.replace('"id": "1"', '"id": ["1"]', 1)),
    ("bioc-xml", "namespaced root", _bioc_xml().replace("<collection>", '<collection xmlns="urn:x">')),
    ("bioc-xml", "wrong root", _bioc_xml().replace("<collection>", "<corpus>").replace("</collection>",
                                                                                      "</corpus>")),
    ("bioc-xml", "passage without offset", _bioc_xml().replace("<offset>0</offset>", "", 1)),
    ("bioc-xml", "negative length", _bioc_xml().replace('length="7"', 'length="-7"', 1)),
    ("bioc-xml", "offset 1e15", _bioc_xml().replace("<offset>0</offset>", "<offset>1000000000000000</offset>", 1)),
    ("bioc-xml", "entity expansion", "<?xml version='1.0'?><!DOCTYPE c [<!ENTITY a 'aaaaaaaaaa'>"
     "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]>"
     "<collection><document><id>&c;</id></document></collection>"),
    ("obo-graph", "nodes not a list", '{"graphs": [{"nodes": {"id": "HP:1"}}]}'),
    ("obo-graph", "meta not an object", '{"graphs": [{"nodes": [{"id": "HP:0000001", "meta": "x"}]}]}'),
    ("obo-graph", "graph not an object", '{"graphs": ["x"]}'),
    ("notes", "span does not give text", NOTES.replace('"end": 15', '"end": 16', 1)),
    ("notes", "mistyped field", NOTES.replace('"start": 8', '"start": "8"', 1)),
    ("notes", "dangling relation", NOTES.replace('"object": "T2"}]', '"object": "T9"}]', 1)),
    ("instances", "endpoint not a concept", INSTANCES.replace('"object": "MESH:D001249"}', '"object": "MESH:X"}', 1)),
    ("instances", "repeated instance", INSTANCES.split("\n")[0] + "\n" + INSTANCES.split("\n")[0] + "\n"),
]
HANDMADE += [(t, kind, kind) for t in TARGETS for kind in ("directory", "dangling", "loop", "fifo")]


def handmade_case(index: int) -> Case:
    target_name, what, text = HANDMADE[index]
    target = TARGETS[target_name]
    files = {k: v.encode("utf-8") for k, v in target.files.items()}
    mutated = target.mutated or sorted(files)[-1]
    special = text if text in ("directory", "dangling", "loop", "fifo") else ""
    if not special:
        files[mutated] = text.encode("utf-8")
    # ids only matter to the graph: evaluation compares them as strings, so those cases go to `load`
    command = 0 if what in LOAD_ONLY else EXPORT_ONLY.get(what, index % len(target.commands))
    return Case(target_name, what, files, mutated, True, command=command, special=special)


LOAD_ONLY = ("cypher id", "id with a space", "id not a string")
#: Faults only `export` must refuse: `check` and `evaluate` report them as flags and counts (explicit reports).
EXPORT_ONLY = {"span does not give text": 1, "mistyped field": 1, "dangling relation": 1}


# -- running and judging -----------------------------------------------------------------------
NAMED_RECORD = re.compile(r"line \d+|:\d+(?::|\b)|documents\[\d+\]|term #\d+|nodes\[\d+\]|edges\[\d+\]|"
                          r"graphs\[\d+\]|slots\[[^\]]+\]|document \S+|instance \S+|note \S+|option \w+")
FILE_LEVEL = ("is a directory", "file is empty", "dangling symbolic link", "symbolic link loop", "byte-order mark",
              "no data rows", "no header row", "unknown file layout", "pipe", "no documents found",
              "no motif instances", "no notes", "not a regular file", "no *.jsonl", "not a BioC JSON collection",
              "not BioC XML", "no such file", "expected a mapping", "invalid motif", "nested too deeply",
              "has no options")


@dataclass
class Outcome:
    verdict: str
    exit_code: int
    message: str
    seconds: float = 0.0


def write_case(case: Case, folder: Path, prepopulated: Path | None) -> Path:
    """Write the case's files under ``folder`` (seeds also under ``seed/``); return the mutated path."""
    target = TARGETS[case.target]
    for name, text in target.files.items():
        seed = folder / "seed" / Path(name).name
        seed.parent.mkdir(parents=True, exist_ok=True)
        seed.write_text(text, encoding="utf-8")
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name != case.mutated or not case.special:
            path.write_bytes(data)
    mutated = folder / case.mutated
    if case.special == "directory":
        mutated.mkdir(parents=True)
    elif case.special == "dangling":
        mutated.symlink_to(folder / "gone")
    elif case.special == "loop":
        mutated.symlink_to(mutated)
    elif case.special == "fifo":
        os.mkfifo(mutated)
    if prepopulated is not None:
        shutil.copy(prepopulated, folder / "graph.json.gz")
    return mutated


def run_case(case: Case, folder: Path, prepopulated: Path | None = None) -> tuple[Outcome, list[str]]:
    """Write and run one case in-process; the verdict as :func:`judge` gives it."""
    import time

    target = TARGETS[case.target]
    mutated = write_case(case, folder, prepopulated)
    argv = target.commands[case.command](folder, mutated) + case.extra
    started = time.perf_counter()
    result = CliRunner().invoke(app, argv)
    seconds = time.perf_counter() - started
    outcome = judge(case, result, mutated)
    outcome.seconds = seconds
    return outcome, argv


def judge(case: Case, result: object, mutated: Path) -> Outcome:
    stderr = getattr(result, "stderr", "") or ""
    exc = result.exception  # type: ignore[attr-defined]
    code = result.exit_code  # type: ignore[attr-defined]
    if isinstance(exc, KgsynthError):  # older code let these reach main(), which printed one line
        stderr, code, exc = f"error: {exc}", exc.exit_code, None
    if (exc is not None and not isinstance(exc, SystemExit)) or code == 70 or "Traceback" in stderr:
        name = type(exc).__name__ if exc is not None and not isinstance(exc, SystemExit) else "unexpected error"
        return Outcome("traceback", code, f"{name}: {str(exc)[:200] if exc else stderr[:200]}")
    message = " ".join(stderr.split())
    if "error:" in message:  # informational lines (which store is used) may come first
        message = message[message.index("error:"):]
    target = TARGETS[case.target]
    if code == 0:
        return Outcome("silent success" if case.must_fail else "accepted", 0, message[:200])
    if any(m in message for m in target.accepted_marker) and not case.must_fail:
        return Outcome("accepted", code, message[:200])
    named_file = mutated.name in message or (case.target in ("umls", "snomed") and "/in" in message)
    named_where = NAMED_RECORD.search(message.replace(str(mutated.parent), "")) is not None or any(
        phrase in message for phrase in FILE_LEVEL)
    verdict = "clean error" if named_file and named_where and message.startswith("error:") else "unnamed error"
    return Outcome(verdict, code, message[:800])
