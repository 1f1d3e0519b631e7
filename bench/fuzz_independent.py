"""An independent run of issue #17's own classes of bad input, written apart from the fuzz suite.

    python bench/fuzz_independent.py [--neo4j bolt://127.0.0.1:7717] [--only CLASS] [--json]

Each class of malformed input the issue lists (cut multi-byte characters, Latin-1 / UTF-16
text, appended binary, NUL bytes, CR-only line endings, whitespace-only files, inputs that
are directories / dangling links / link loops / unreadable, mention text that is not the
document's, bad BioC offsets, mistyped fields, ids holding Cypher, deep nesting, pipes and
FIFOs, bad ``--out`` paths, a corrupt generate journal, strict / atomic loads failing midway,
read-only stores) is built here from small valid seeds (``tests/data`` and the first
documents of ``../shared/data``) by its own hand-written generator, and each file goes
through the CLI command that reads it, as a subprocess (real exit codes, real pipes), on the
embedded store and with ``--neo4j`` on a Neo4j server too. A case counts as:

- ``traceback``: a Python traceback or the last-resort handler's exit 70;
- ``silent``: exit 0 on input that is wrong, with nothing reported;
- ``unnamed``: an error that names no file, or (for bad content) no line or record;
- ``uncounted``: a lenient (``--skip-bad``) load that did not count the bad row or did not
  put it, with its line, in the rejects file;
- ``wrong``: valid input (a pipe, a FIFO with a writer, a torn journal tail) that did not
  give the same result as the plain file;
- ``slow``: over 10 s (cases run with a 30 s cap);
- ``ok``: anything else (a clean error naming file and line/record, or the right result).

Permission errors cannot be produced for root (root reads a chmod-000 file): when run as root
those cases run as user ``nobody`` through ``setpriv``; without it they are reported skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
SLOW_S = 10.0
CAP_S = 30.0
#: The error must name a line or a record for content classes.
_LOCATED = re.compile(r"line \d+|:\d+:|\[\d+\]|#\d+|document|record|byte \d+|term|node|edge|note|instance|row|PMID|"
                      r"passage|annotation|mention|relation|motif|key|field|'[^']+'", re.IGNORECASE)
_INJECTION = "X') DETACH DELETE n //"


@dataclass
class Case:
    klass: str
    fmt: str
    command: str
    argv: list[str]
    bad: str = ""  # a name the error must contain ("" = none required)
    locate: bool = False  # the error must also name a line or record
    mode: str = "strict"  # strict | lenient | ok | any
    shell: str | None = None  # a bash line instead of argv ({kg} = the kgsynth command)
    nobody: bool = False
    rejects: Path | None = None
    reject_line: int | None = None  # the line (in ``bad``) the rejects file must name
    check: Callable[[subprocess.CompletedProcess], str | None] | None = None
    store: str = "memory"
    cwd: Path | None = None  # where it runs (a scratch folder: ``--out .`` must not write into the project)
    result: dict = field(default_factory=dict)


# -- seeds ---------------------------------------------------------------------
def _shared() -> Path:
    return Path(os.environ.get("KGSYNTH_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _pubtator_seed(n: int = 3) -> bytes:
    text = (_shared() / "biored" / "Dev.PubTator").read_bytes().replace(b"\r\n", b"\n")
    return b"\n\n".join(text.split(b"\n\n")[:n]) + b"\n\n"


def _bioc_xml_seed(n: int = 2) -> bytes:
    tree = ElementTree.parse(_shared() / "biored" / "Dev.BioC.XML")
    root = tree.getroot()
    for doc in root.findall("document")[n:]:
        root.remove(doc)
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + ElementTree.tostring(root, encoding="utf-8")


def _bioc_json_seed(n: int = 2) -> dict:
    data = json.loads((_shared() / "biored" / "Dev.BioC.JSON").read_text(encoding="utf-8"))
    data["documents"] = data["documents"][:n]
    return data


def _rf2_seed() -> Path:
    return _shared() / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_some_Inactive_snapshot" / "Snapshot"


# -- byte-level mutations --------------------------------------------------------
def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def inject(data: bytes, line: int, payload: bytes) -> bytes:
    """``payload`` in the middle of 1-based ``line``."""
    lines = _lines(data)
    body = lines[line - 1]
    mid = len(body) // 2
    lines[line - 1] = body[:mid] + payload + body[mid:]
    return b"\n".join(lines)


def replace_line(data: bytes, line: int, new: bytes) -> bytes:
    lines = _lines(data)
    lines[line - 1] = new
    return b"\n".join(lines)


def line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1


ENCODING_CLASSES: dict[str, Callable[[bytes, int], bytes]] = {
    "cut multi-byte": lambda d, n: d.rstrip(b"\n") + " \u03b2-blocker".encode()[:2],
    "Latin-1 text": lambda d, n: inject(d, n, "caf\u00e9".encode("latin-1")),
    "UTF-16 text": lambda d, n: d.decode("utf-8").encode("utf-16"),
    "UTF-16 without BOM": lambda d, n: d.decode("utf-8").encode("utf-16-le"),
    "binary appended": lambda d, n: d + bytes(range(256)) * 4,
    "NUL byte": lambda d, n: inject(d, n, b"\0"),
    "CR-only endings": lambda d, n: d.replace(b"\r\n", b"\n").replace(b"\n", b"\r"),
}
#: Classes whose bad bytes sit in one line a lenient reader can skip (the rest poison the file).
LINE_CLASSES = {"Latin-1 text", "NUL byte"}


def deep_json(depth: int = 20000) -> str:
    return "[" * depth + "]" * depth


def deep_yaml(depth: int = 20000) -> str:
    return "[" * depth + "]" * depth


class Builder:
    """Writes case files under one work folder and makes :class:`Case` records."""

    def __init__(self, work: Path, neo4j: str | None) -> None:
        self.work, self.neo4j = work, neo4j
        self.cases: list[Case] = []
        self.n = 0
        self.seeds = work / "seeds"
        self.seeds.mkdir(parents=True)
        self._seed()

    # seeds
    def _seed(self) -> None:
        s = self.seeds
        shutil.copytree(ROOT / "tests" / "data" / "umls", s / "umls")
        shutil.copytree(_rf2_seed(), s / "rf2", copy_function=shutil.copyfile)
        for p in (s / "rf2").rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        (s / "seed.PubTator").write_bytes(_pubtator_seed())
        (s / "seed.BioC.XML").write_bytes(_bioc_xml_seed())
        (s / "seed.BioC.JSON").write_text(json.dumps(_bioc_json_seed(), indent=1), encoding="utf-8")
        for name in ("mini.obo", "mini-obograph.json", "mini-indra.json", "mini.hpoa"):
            shutil.copyfile(ROOT / "tests" / "data" / "obo" / name, s / name)
        shutil.copyfile(ROOT / "kgsynth" / "cypher" / "motifs" / "single_edge.yaml", s / "motif.yaml")
        shutil.copyfile(ROOT / "kgsynth" / "generation" / "prompts" / "settings.yaml", s / "prompt.yaml")
        (s / "lexicon.yaml").write_text("TREATS:\n  - \"{subject} is used to manage {object}\"\n", encoding="utf-8")
        (s / "train.yaml").write_text("epochs: 1\nlora_r: 8\nmax_steps: 1\n", encoding="utf-8")
        st = s / "st.json"
        _kg(["graph", "load-sample", "--store", str(st)])
        _kg(["sample", "--store", str(st), "--motif", "single_edge", "--n", "6", "--seed", "1",
             "--out", str(s / "inst.jsonl")])
        _kg(["generate", "--instances", str(s / "inst.jsonl"), "--out", str(s / "ds"), "--n", "4",
             "--no-extract", "--shard-size", "2"])
        shutil.copyfile(next((s / "ds").glob("notes-*.jsonl")), s / "notes.jsonl")
        if self.neo4j:
            _kg(["graph", "load-sample", "--uri", self.neo4j])

    def dir(self) -> Path:
        self.n += 1
        d = self.work / f"c{self.n:04d}"
        d.mkdir()
        return d

    def store_args(self, d: Path, store: str, populated: bool = True) -> list[str]:
        if store == "neo4j":
            return ["--uri", self.neo4j or ""]
        path = d / "st.json"
        if populated:
            shutil.copyfile(self.seeds / "st.json", path)
        return ["--store", str(path)]

    def add(self, case: Case) -> None:
        case.cwd = case.cwd or self.work / f"c{self.n:04d}"
        self.cases.append(case)


def _kg(argv: list[str]) -> None:
    env = _env(None)
    proc = subprocess.run([sys.executable, "-m", "kgsynth", *argv], env=env, capture_output=True, text=True,
                          timeout=120)
    if proc.returncode:
        raise SystemExit(f"seed step failed: kgsynth {' '.join(argv)}\n{proc.stderr[-2000:]}")


def _env(neo4j: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200", NO_COLOR="1")
    env.pop("NEO4J_URI", None)
    env.pop("KGSYNTH_STORE", None)
    if neo4j:
        env["NEO4J_URI"] = neo4j
    return env


# -- the corpus ---------------------------------------------------------------------
LOAD_FORMATS = {
    # fmt: (seed file name(s), loader argv builder, line to inject)
    "MRCONSO": ("umls", "MRCONSO.RRF", 2),
    "MRREL": ("umls", "MRREL.RRF", 2),
    "MRSTY": ("umls", "MRSTY.RRF", 2),
    "RF2 description": ("rf2", "Terminology/sct2_Description_Snapshot-en_INT_20180731.txt", 3),
    "RF2 relationship": ("rf2", "Terminology/sct2_Relationship_Snapshot_INT_20180731.txt", 3),
    "PubTator": ("biored", "seed.PubTator", 2),
    "OBO": ("obo", "mini.obo", 7),
    "HPOA": ("obo", "mini.hpoa", 4),
}


def _load_input(b: Builder, d: Path, fmt: str) -> tuple[list[str], Path]:
    """Copy the seed of ``fmt`` into ``d``; return the load argv (without store) and the file to mutate."""
    kind, name, _ = LOAD_FORMATS[fmt]
    if kind == "umls":
        shutil.copytree(b.seeds / "umls", d / "META")
        return ["load", "umls", str(d / "META")], d / "META" / name
    if kind == "rf2":
        shutil.copytree(b.seeds / "rf2", d / "Snapshot")
        return ["load", "snomed", str(d / "Snapshot")], d / "Snapshot" / name
    shutil.copyfile(b.seeds / name, d / name)
    return ["load", kind, str(d / name)], d / name


def _whole_file_load(b: Builder, d: Path, fmt: str) -> tuple[list[str], Path, bytes]:
    names = {"BioC XML": ("biored", "seed.BioC.XML"), "BioC JSON": ("biored", "seed.BioC.JSON"),
             "OBO-graph JSON": ("obo", "mini-obograph.json"), "INDRA JSON": ("obo", "mini-indra.json")}
    kind, name = names[fmt]
    path = d / name
    data = (b.seeds / name).read_bytes()
    return ["load", kind, str(path)], path, data


def _text_line(data: bytes) -> int:
    """A line holding document text in a JSON/XML seed (where bad bytes are injected)."""
    for needle in (b'"text": "', b"<text>", b'"lbl": "', b'"name": "'):
        if needle in data:
            return line_of(data, needle)
    return 1


def encoding_cases(b: Builder, stores: list[str]) -> None:
    for store in stores:
        for fmt, (_, _, line) in LOAD_FORMATS.items():
            for klass, mutate in ENCODING_CLASSES.items():
                d = b.dir()
                argv, path = _load_input(b, d, fmt)
                path.write_bytes(mutate(path.read_bytes(), line))
                b.add(Case(klass, fmt, "load", argv + b.store_args(d, store) + ["--no-progress"], bad=path.name,
                           locate=klass in LINE_CLASSES or klass == "cut multi-byte", store=store))
                if klass in LINE_CLASSES:  # the lenient twin: counted, the line in the rejects file
                    d = b.dir()
                    argv, path = _load_input(b, d, fmt)
                    path.write_bytes(mutate(path.read_bytes(), line))
                    rej = d / "rejects.tsv"
                    b.add(Case(klass, fmt, "load", argv + b.store_args(d, store) + [
                        "--no-progress", "--json", "--skip-bad", "--rejects", str(rej)], bad=path.name,
                        mode="lenient", rejects=rej, reject_line=line, store=store))
        for fmt in ("BioC XML", "BioC JSON", "OBO-graph JSON", "INDRA JSON"):
            for klass, mutate in ENCODING_CLASSES.items():
                d = b.dir()
                argv, path, data = _whole_file_load(b, d, fmt)
                path.write_bytes(mutate(data, _text_line(data)))
                # CR is plain whitespace between JSON / XML tokens: a CR-only file is still valid
                b.add(Case(klass, fmt, "load", argv + b.store_args(d, store) + ["--no-progress"], bad=path.name,
                           locate=klass in LINE_CLASSES, store=store,
                           mode="any" if klass == "CR-only endings" else "strict"))
    # readers of the other commands (embedded store; the format reader is the same on Neo4j)
    for fmt, name, line, build in _reader_commands(b):
        for klass, mutate in ENCODING_CLASSES.items():
            if klass == "CR-only endings" and name == "train.yaml":
                continue  # valid YAML: it would train a model, which is not what this run measures
            d = b.dir()
            path = d / name
            path.write_bytes(mutate((b.seeds / name).read_bytes(), line))
            command, argv = build(d, path)
            line_based = fmt in ("note JSONL", "instance JSONL", "PubTator")
            b.add(Case(klass, fmt, command, argv, bad="notes-" if command == "export" else path.name,
                       locate=klass in LINE_CLASSES,
                       mode="any" if klass == "CR-only endings" and not line_based else "strict"))


def _reader_commands(b: Builder) -> list[tuple[str, str, int, Callable[[Path, Path], tuple[str, list[str]]]]]:
    s = b.seeds

    def check(d: Path, p: Path) -> tuple[str, list[str]]:
        return "check", ["check", str(p), "--store", str(s / "st.json"), "--json"]

    def report(d: Path, p: Path) -> tuple[str, list[str]]:
        return "report", ["report", str(p), "--out", str(d / "r.html"), "--no-embeddings", "--json",
                          "--store", str(s / "st.json")]

    def export(d: Path, p: Path) -> tuple[str, list[str]]:
        ds = d / "ds"
        shutil.copytree(s / "ds", ds)
        shard = sorted(ds.glob("notes-*.jsonl"))[-1]
        shutil.move(p, shard)
        p.symlink_to(shard)  # the bad file is the shard; ``bad`` is matched on "notes" for export
        return "export", ["export", str(ds), "--out", str(d / "out"), "--format", "hf", "--format", "bioc",
                          "--json"]

    def evaluate(d: Path, p: Path) -> tuple[str, list[str]]:
        return "evaluate", ["evaluate", "--gold", str(s / p.name), "--pred", str(p), "--bootstrap", "0", "--json"]

    def evaluate_gold(d: Path, p: Path) -> tuple[str, list[str]]:
        return "evaluate", ["evaluate", "--gold", str(p), "--pred", str(s / p.name), "--bootstrap", "0", "--json"]

    def train(d: Path, p: Path) -> tuple[str, list[str]]:
        return "train", ["train", "--data", str(p), "--out", str(d / "run"), "--max-steps", "1", "--max-notes",
                         "2", "--threads", "1", "--no-quantize"]

    def train_config(d: Path, p: Path) -> tuple[str, list[str]]:
        return "train", ["train", "--config", str(p), "--data", str(s / "notes.jsonl"), "--out", str(d / "run"),
                         "--threads", "1", "--no-quantize"]

    def generate(d: Path, p: Path) -> tuple[str, list[str]]:
        return "generate", ["generate", "--instances", str(p), "--out", str(d / "ds"), "--n", "2",
                            "--no-extract", "--json"]

    def generate_prompt(d: Path, p: Path) -> tuple[str, list[str]]:
        return "generate", ["generate", "--instances", str(s / "inst.jsonl"), "--out", str(d / "ds"), "--n", "2",
                            "--no-extract", "--json", "--prompt-config", str(p)]

    def generate_lexicon(d: Path, p: Path) -> tuple[str, list[str]]:
        return "generate", ["generate", "--instances", str(s / "inst.jsonl"), "--out", str(d / "ds"), "--n", "2",
                            "--no-extract", "--json", "--lexicon", str(p)]

    def sample(d: Path, p: Path) -> tuple[str, list[str]]:
        shutil.copyfile(s / "st.json", d / "st.json")
        return "sample", ["sample", "--motif", str(p), "--n", "3", "--seed", "1", "--out", str(d / "o.jsonl"),
                          "--store", str(d / "st.json"), "--json"]

    return [
        ("note JSONL", "notes.jsonl", 2, check),
        ("note JSONL", "notes.jsonl", 2, report),
        ("note JSONL", "notes.jsonl", 2, export),
        ("note JSONL", "notes.jsonl", 2, evaluate),
        ("note JSONL", "notes.jsonl", 2, train),
        ("PubTator", "seed.PubTator", 2, evaluate),
        ("BioC XML", "seed.BioC.XML", 2, evaluate_gold),
        ("BioC JSON", "seed.BioC.JSON", 8, evaluate),
        ("instance JSONL", "inst.jsonl", 2, generate),
        ("motif YAML", "motif.yaml", 2, sample),
        ("prompt YAML", "prompt.yaml", 3, generate_prompt),
        ("lexicon YAML", "lexicon.yaml", 2, generate_lexicon),
        ("train YAML", "train.yaml", 2, train_config),
    ]


# content classes -------------------------------------------------------------------
def _pubtator_mention_line(data: bytes, k: int = 1) -> int:
    seen = 0
    for number, raw in enumerate(_lines(data), 1):
        cols = raw.split(b"\t")
        if len(cols) == 6 and cols[1].isdigit():
            seen += 1
            if seen == k:
                return number
    raise ValueError("no mention line")


def _pubtator_doc_first_line(data: bytes, doc: int) -> int:
    return line_of(data, data.split(b"\n\n")[doc - 1][:40])


def pubtator_cases(b: Builder, stores: list[str]) -> None:
    seed = (b.seeds / "seed.PubTator").read_bytes()
    m = _pubtator_mention_line(seed)
    cols = _lines(seed)[m - 1].split(b"\t")

    def with_cols(**changes: bytes) -> bytes:
        new = list(cols)
        for index, value in changes.items():
            new[int(index[1:])] = value
        return replace_line(seed, m, b"\t".join(new))

    variants = {
        "mention text not the document's": with_cols(c3=b"xyzzy" * (len(cols[3]) // 5 + 1)),
        "offset 1e15": with_cols(c1=b"1000000000000000", c2=b"1000000000000010"),
        "negative span": with_cols(c1=cols[2], c2=cols[1]),
        "offset past the text": with_cols(c1=b"900000", c2=b"900005"),
        "id with a space": with_cols(c5=b"D00 3409"),
        "id with a quote": with_cols(c5=b"D003409'"),
        "id holding Cypher": with_cols(c5=_INJECTION.encode()),
        "non-numeric offset": with_cols(c1=b"ten"),
        "duplicate document id, other text": seed + seed.split(b"\n\n")[0].replace(b"|t|", b"|t|Other ", 1)
        + b"\n\n",
    }
    first_doc_line = 1
    for store in stores:
        for klass, data in variants.items():
            for lenient in (False, True):
                d = b.dir()
                path = d / "seed.PubTator"
                path.write_bytes(data)
                extra = ["--no-progress"]
                rej = d / "rejects.tsv"
                if lenient:
                    extra += ["--json", "--skip-bad", "--rejects", str(rej)]
                line = first_doc_line if "duplicate" not in klass else line_of(data, b"|t|Other")
                b.add(Case(klass, "PubTator", "load", ["load", "biored", str(path), *b.store_args(d, store), *extra],
                           bad=path.name, locate=True, mode="lenient" if lenient else "strict",
                           rejects=rej if lenient else None, reject_line=line if lenient else None, store=store))
    # evaluate reads the same files: a prediction with the same faults
    for klass in ("mention text not the document's", "offset 1e15", "id holding Cypher", "negative span"):
        d = b.dir()
        path = d / "seed.PubTator"
        path.write_bytes(variants[klass])
        b.add(Case(klass, "PubTator", "evaluate", ["evaluate", "--gold", str(b.seeds / "seed.PubTator"), "--pred",
                                                  str(path), "--bootstrap", "0", "--json"],
                   bad=path.name, locate=True))


def _xml_variants(seed: bytes) -> dict[str, tuple[bytes, int]]:
    """(bytes, line of the first bad document) for BioC XML faults."""
    text = seed.decode("utf-8")
    first_ann = re.search(r'<location offset="(\d+)" length="(\d+)"\s*/>', text)
    assert first_ann
    loc = first_ann.group(0)
    second_passage = [m.start() for m in re.finditer(r"<offset>", text)][1]
    pat = re.compile(r"<offset>\d+</offset>")

    def at_loc(new: str) -> str:
        return text.replace(loc, new, 1)

    ann_text = re.search(r"(<location [^>]*/>)<text>([^<]+)</text>", text)
    assert ann_text
    out = {
        "passage without offset": text[:second_passage] + pat.sub("", text[second_passage:], count=1),
        "negative length": at_loc(loc.replace(f'length="{first_ann.group(2)}"', 'length="-5"')),
        "negative offset": at_loc(loc.replace(f'offset="{first_ann.group(1)}"', 'offset="-3"')),
        "offset far past text": at_loc(loc.replace(f'offset="{first_ann.group(1)}"', 'offset="900000"')),
        "offset 1e15": at_loc(loc.replace(f'offset="{first_ann.group(1)}"', 'offset="1000000000000000"')),
        "passage offset 1e15": text[:second_passage] + pat.sub("<offset>1000000000000000</offset>",
                                                                text[second_passage:], count=1),
        "mention text not the document's": text.replace(ann_text.group(0),
                                                        f"{ann_text.group(1)}<text>xyzzy{ann_text.group(2)}</text>", 1),
        "id holding Cypher": re.sub(r'(<infon key="identifier">)[^<]+', lambda mm: mm.group(1) + _INJECTION.replace(
            "'", "&apos;"), text, count=1),
        "non-numeric offset": at_loc(loc.replace(f'offset="{first_ann.group(1)}"', 'offset="ten"')),
        "namespaced root": text.replace("<collection>", '<collection xmlns="http://example.org/bioc">', 1),
        "wrong root": text.replace("<collection>", "<corpus>", 1).replace("</collection>", "</corpus>"),
    }
    return {k: (v.encode("utf-8"), 1) for k, v in out.items()}


def _json_variants(seed: dict) -> dict[str, bytes]:
    def edit(fn: Callable[[dict], None]) -> bytes:
        data = json.loads(json.dumps(seed))
        fn(data)
        return json.dumps(data, indent=1).encode()

    def p(data: dict, i: int = 1) -> dict:
        return data["documents"][0]["passages"][i]

    def loc(data: dict) -> dict:
        return p(data, 0)["annotations"][0]["locations"][0]

    return {
        "passage without offset": edit(lambda d: p(d).pop("offset")),
        "negative length": edit(lambda d: loc(d).update(length=-5)),
        "negative offset": edit(lambda d: loc(d).update(offset=-3)),
        "offset far past text": edit(lambda d: loc(d).update(offset=900000)),
        "offset 1e15": edit(lambda d: loc(d).update(offset=10**15)),
        "offset 1e15 as float": edit(lambda d: loc(d).update(offset=1e15)),
        "offset 1e400": edit(lambda d: loc(d).update(offset=10**400)),
        "passage offset 1e15": edit(lambda d: p(d).update(offset=10**15)),
        "mention text not the document's": edit(lambda d: p(d, 0)["annotations"][0].update(text="xyzzy")),
        "id holding Cypher": edit(lambda d: p(d, 0)["annotations"][0]["infons"].update(identifier=_INJECTION)),
        "mistyped offset (string)": edit(lambda d: loc(d).update(offset="ten")),
        "mistyped text (number)": edit(lambda d: p(d, 0).update(text=12)),
        "mistyped passages (object)": edit(lambda d: d["documents"][0].update(passages={"a": 1})),
        "mistyped annotations (string)": edit(lambda d: p(d, 0).update(annotations="x")),
        "mistyped infons (list)": edit(lambda d: p(d, 0)["annotations"][0].update(infons=[1, 2])),
        "locations missing": edit(lambda d: p(d, 0)["annotations"][0].pop("locations")),
        "mistyped documents (object)": edit(lambda d: d.update(documents={"x": 1})),
        "document id missing": edit(lambda d: d["documents"][0].pop("id")),
        "document is a number": edit(lambda d: d["documents"].insert(0, 7)),
        "deeply nested": edit(lambda d: d["documents"][0].update(extra="@@DEEP@@")).replace(
            b'"@@DEEP@@"', deep_json().encode()),
    }


WHOLE_FILE_FATAL = {"namespaced root", "wrong root", "mistyped documents (object)"}


def bioc_cases(b: Builder, stores: list[str]) -> None:
    xml = _xml_variants((b.seeds / "seed.BioC.XML").read_bytes())
    js = _json_variants(json.loads((b.seeds / "seed.BioC.JSON").read_text(encoding="utf-8")))
    for store in stores:
        for fmt, variants, name in (("BioC XML", {k: v[0] for k, v in xml.items()}, "seed.BioC.XML"),
                                    ("BioC JSON", js, "seed.BioC.JSON")):
            for klass, data in variants.items():
                modes = (False,) if klass in WHOLE_FILE_FATAL or klass == "deeply nested" else (False, True)
                for lenient in modes:
                    d = b.dir()
                    path = d / name
                    path.write_bytes(data)
                    rej = d / "rejects.tsv"
                    extra = ["--no-progress"] + (["--json", "--skip-bad", "--rejects", str(rej)] if lenient else [])
                    b.add(Case(klass, fmt, "load", ["load", "biored", str(path), *b.store_args(d, store), *extra],
                               bad=path.name, locate=klass not in WHOLE_FILE_FATAL,
                               mode="lenient" if lenient else "strict", rejects=rej if lenient else None,
                               store=store))
    for klass in ("offset 1e15", "passage without offset", "mistyped offset (string)", "deeply nested"):
        d = b.dir()
        path = d / "seed.BioC.JSON"
        path.write_bytes(js[klass])
        b.add(Case(klass, "BioC JSON", "evaluate", ["evaluate", "--gold", str(b.seeds / "seed.BioC.JSON"), "--pred",
                                                   str(path), "--bootstrap", "0", "--json"], bad=path.name,
                   locate=klass != "deeply nested"))


def ontology_cases(b: Builder, stores: list[str]) -> None:
    obo = (b.seeds / "mini.obo").read_bytes()
    graph = json.loads((b.seeds / "mini-obograph.json").read_text(encoding="utf-8"))
    indra = json.loads((b.seeds / "mini-indra.json").read_text(encoding="utf-8"))
    hpoa = (b.seeds / "mini.hpoa").read_bytes()
    id_line = line_of(obo, b"id: HP:9000003")
    isa_line = line_of(obo, b"is_a: HP:9000001")
    hp_line = 4

    def gedit(fn: Callable[[dict], None], seed: object = graph) -> bytes:
        data = json.loads(json.dumps(seed))
        fn(data)
        return json.dumps(data).encode()

    def stanza(line: int) -> int:  # OBO lenient loads skip (and name) the whole term from its header line
        return max(i for i, raw in enumerate(_lines(obo)[:line], 1) if raw.startswith(b"["))

    hcols = _lines(hpoa)[hp_line - 1].split(b"\t")
    variants: dict[str, tuple[str, bytes, int | None]] = {
        "OBO id holding Cypher": ("mini.obo", replace_line(obo, id_line, b"id: HP:9000003' }) DETACH DELETE n //"),
                                  stanza(id_line)),
        "OBO id with a space": ("mini.obo", replace_line(obo, id_line, b"id: HP:90 00003"), stanza(id_line)),
        "OBO is_a to a Cypher fragment": ("mini.obo", replace_line(obo, isa_line, b"is_a: HP:1]->() DELETE n //"),
                                          stanza(isa_line)),
        "OBO unterminated stanza header": ("mini.obo", replace_line(obo, id_line - 1, b"[Term"), id_line - 1),
        "OBO-graph node id a number": ("mini-obograph.json",
                                       gedit(lambda d: d["graphs"][0]["nodes"][0].update(id=5)), None),
        "OBO-graph nodes a string": ("mini-obograph.json", gedit(lambda d: d["graphs"][0].update(nodes="x")), None),
        "OBO-graph edge missing obj": ("mini-obograph.json",
                                       gedit(lambda d: d["graphs"][0]["edges"][0].pop("obj")), None),
        "OBO-graph node id holding Cypher": ("mini-obograph.json",
                                             gedit(lambda d: d["graphs"][0]["nodes"][0].update(
                                                 id="http://purl.obolibrary.org/obo/HP_1' DETACH DELETE n//")), None),
        "OBO-graph synonyms a number": ("mini-obograph.json",
                                        gedit(lambda d: d["graphs"][0]["nodes"][0]["meta"].update(synonyms=3)), None),
        "OBO-graph deeply nested": ("mini-obograph.json", gedit(lambda d: d["graphs"][0].update(x="@@D@@")).replace(
            b'"@@D@@"', deep_json().encode()), None),
        "INDRA relations a list": ("mini-indra.json", gedit(lambda d: d[0].update(relations=[1]), indra), None),
        "INDRA xrefs strings": ("mini-indra.json", gedit(lambda d: d[0].update(xrefs=["x"]), indra), None),
        "INDRA name a number": ("mini-indra.json", gedit(lambda d: d[0].update(name=5), indra), None),
        "HPOA wrong column count": ("mini.hpoa", replace_line(hpoa, hp_line, b"\t".join(hcols[:5])), hp_line),
        "HPOA hpo id holding Cypher": ("mini.hpoa", replace_line(hpoa, hp_line, b"\t".join(
            hcols[:3] + [_INJECTION.encode()] + hcols[4:])), hp_line),
        "HPOA hpo id with a space": ("mini.hpoa", replace_line(hpoa, hp_line, b"\t".join(
            hcols[:3] + [b"HP:900 0003"] + hcols[4:])), hp_line),
    }
    for store in stores:
        for klass, (name, data, line) in variants.items():
            fatal = "nodes a string" in klass or "deeply" in klass
            for lenient in (False,) if fatal else (False, True):
                d = b.dir()
                path = d / name
                path.write_bytes(data)
                rej = d / "rejects.tsv"
                extra = ["--no-progress"] + (["--json", "--skip-bad", "--rejects", str(rej)] if lenient else [])
                fmt = "OBO" if name.endswith(".obo") else "HPOA" if name.endswith(".hpoa") else klass.split(" ")[0]
                b.add(Case(klass, fmt, "load", ["load", "obo", str(path), *b.store_args(d, store), *extra],
                           bad=path.name, locate=not fatal, mode="lenient" if lenient else "strict",
                           rejects=rej if lenient else None, reject_line=line if lenient else None, store=store))


def rrf_rf2_cases(b: Builder, stores: list[str]) -> None:
    for store in stores:
        # whitespace-only / empty MRREL, optional files that are not files
        for name in ("MRREL.RRF", "MRSTY.RRF"):
            for klass in ("whitespace only", "directory", "dangling symlink", "symlink loop", "empty"):
                d = b.dir()
                argv, path = _load_input(b, d, "MRREL")
                path = path.parent / name
                path.unlink()
                if klass == "whitespace only":
                    path.write_bytes(b"   \n\t\n  \n")
                elif klass == "empty":
                    path.write_bytes(b"")
                elif klass == "directory":
                    path.mkdir()
                elif klass == "dangling symlink":
                    path.symlink_to(d / "nowhere.RRF")
                else:
                    path.symlink_to(path)
                b.add(Case(klass, name.split(".")[0], "load", argv + b.store_args(d, store) + ["--no-progress"],
                           bad=name, store=store))
        for klass in ("directory", "dangling symlink"):
            d = b.dir()
            argv, path = _load_input(b, d, "RF2 relationship")
            path.unlink()
            if klass == "directory":
                path.mkdir()
            else:
                path.symlink_to(d / "nowhere.txt")
            b.add(Case(klass, "RF2 relationship", "load", argv + b.store_args(d, store) + ["--no-progress"],
                       bad=path.name, store=store))
        # bad CUI / concept ids
        d = b.dir()
        argv, path = _load_input(b, d, "MRCONSO")
        data = path.read_bytes()
        path.write_bytes(replace_line(data, 2, _lines(data)[1].replace(b"C9000001", _INJECTION.encode(), 1)))
        b.add(Case("id holding Cypher", "MRCONSO", "load", argv + b.store_args(d, store) + ["--no-progress"],
                   bad=path.name, locate=True, store=store))
        d = b.dir()
        argv, path = _load_input(b, d, "MRREL")
        data = path.read_bytes()
        path.write_bytes(replace_line(data, 2, _lines(data)[1].replace(b"|RO|", b"|RO]->() DELETE n //|", 1)))
        b.add(Case("REL holding Cypher", "MRREL", "load", argv + b.store_args(d, store) + ["--no-progress", "--json"],
                   mode="any", store=store, check=_no_foreign_type))
        d = b.dir()
        argv, path = _load_input(b, d, "RF2 description")
        data = path.read_bytes()
        path.write_bytes(replace_line(data, 3, b"\t".join(_lines(data)[2].split(b"\t")[:4])))
        b.add(Case("wrong column count", "RF2 description", "load", argv + b.store_args(d, store) + ["--no-progress"],
                   bad=path.name, locate=True, store=store))


def _no_foreign_type(proc: subprocess.CompletedProcess) -> str | None:
    if proc.returncode == 0 and "DELETE" in "".join(json.loads(proc.stdout or "{}").get("relations_by_type", {})):
        return "a relation type from the input reached the graph"
    return None


def note_content_cases(b: Builder) -> None:
    """Notes / instances with missing or mistyped fields, through every command that reads them."""
    notes = (b.seeds / "notes.jsonl").read_text(encoding="utf-8").splitlines()
    note = json.loads(notes[1])

    def mutated(fn: Callable[[dict], None]) -> bytes:
        rec = json.loads(json.dumps(note))
        fn(rec)
        return ("\n".join([notes[0], json.dumps(rec), *notes[2:]]) + "\n").encode()

    def ent(rec: dict) -> dict:
        return rec["entities"][0]

    variants = {
        "text missing": mutated(lambda r: r.pop("text")),
        "text a number": mutated(lambda r: r.update(text=5)),
        "entities a string": mutated(lambda r: r.update(entities="x")),
        "entity start a string": mutated(lambda r: ent(r).update(start="five")),
        "entity end missing": mutated(lambda r: ent(r).pop("end")),
        "entity offset 1e15": mutated(lambda r: ent(r).update(start=10**15, end=10**15 + 3)),
        "entity text not the note's": mutated(lambda r: ent(r).update(text="xyzzy")),
        "relation to an unknown entity": mutated(lambda r: r["relations"][0].update(subject="T99")),
        "relation type holding Cypher": mutated(lambda r: r["relations"][0].update(type="TREATS]->() DELETE n//")),
        "concept id holding Cypher": mutated(lambda r: ent(r).update(concept_id=_INJECTION)),
        "instance a list": mutated(lambda r: r.update(instance=[1])),
        "record is a list": ("\n".join([notes[0], "[1, 2]", *notes[2:]]) + "\n").encode(),
        "deeply nested": mutated(lambda r: r.update(extra="@@D@@")).replace(b'"@@D@@"', deep_json().encode()),
        "duplicate note id": ("\n".join([notes[0], notes[0], *notes[1:]]) + "\n").encode(),
    }
    # Schema faults must stop every reader. Content faults: check/report may instead flag the note (an
    # explicit report); export/evaluate/train must not write or score wrong spans; ids and types that are
    # only data there (a Cypher-looking id is never spliced into a query) may be accepted, duplicates too.
    spans = {"entity offset 1e15", "entity text not the note's", "relation to an unknown entity"}
    opaque = {"relation type holding Cypher", "concept id holding Cypher", "duplicate note id"}
    builders = {fn_fmt[3].__name__: fn_fmt[3] for fn_fmt in _reader_commands(b) if fn_fmt[0] == "note JSONL"}
    for klass, data in variants.items():
        for name, build in builders.items():
            if name == "train" and klass in opaque:
                continue  # data train accepts: it would train a model, not what this run measures
            mode = "strict"
            if name in ("check", "report") and (klass in spans or klass in opaque - {"duplicate note id"}):
                mode = "flagged"
            elif name == "evaluate" and klass in spans:
                mode = "flagged"  # documented: evaluate counts broken predictions in its ``issues``
            elif klass in opaque:
                mode = "any"
            d = b.dir()
            path = d / "notes.jsonl"
            path.write_bytes(data)
            command, argv = build(d, path)
            b.add(Case(klass, "note JSONL", command, argv, bad="notes", locate=True, mode=mode))
    inst = (b.seeds / "inst.jsonl").read_text(encoding="utf-8").splitlines()
    one = json.loads(inst[1])

    def imut(fn: Callable[[dict], None]) -> bytes:
        rec = json.loads(json.dumps(one))
        fn(rec)
        return ("\n".join([inst[0], json.dumps(rec), *inst[2:]]) + "\n").encode()

    ivariants = {
        "concepts missing": imut(lambda r: r.pop("concepts")),
        "relation type holding Cypher": imut(lambda r: r["relations"][0].update(type="TREATS]->() DELETE n//")),
        "concept id holding Cypher": imut(lambda r: r["concepts"][0].update(id=_INJECTION)),
        "relation endpoint not a concept": imut(lambda r: r["relations"][0].update(subject="MESH:D999999")),
        "group unknown": imut(lambda r: r["concepts"][0].update(group="Spaceship")),
        "deeply nested": imut(lambda r: r.update(extra="@@D@@")).replace(b'"@@D@@"', deep_json().encode()),
    }
    for klass, data in ivariants.items():
        d = b.dir()
        path = d / "inst.jsonl"
        path.write_bytes(data)
        b.add(Case(klass, "instance JSONL", "generate", ["generate", "--instances", str(path), "--out", str(d / "ds"),
                                                         "--n", "2", "--no-extract", "--json"],
                   bad=path.name, locate=True))


def yaml_cases(b: Builder) -> None:
    motif = (b.seeds / "motif.yaml").read_text(encoding="utf-8")
    variants = {
        "edge type holding Cypher": ("motif.yaml", motif + "    types: ['TREATS]->() DELETE n //']\n", "sample"),
        "group holding Cypher": ("motif.yaml", motif.replace("subject: {}", "subject: {groups: ['Drug` DELETE']}"),
                                 "sample"),
        "shape: edge with two edges": ("motif.yaml", motif + "  - subject: object\n    object: subject\n"
                                       "    types: [TREATS]\n", "sample"),
        "shape: star without k": ("motif.yaml", motif.replace("shape: edge", "shape: star"), "sample"),
        "shape: triangle with two slots": ("motif.yaml", motif.replace("shape: edge", "shape: triangle"), "sample"),
        "deeply nested YAML": ("motif.yaml", motif + "extra: " + deep_yaml() + "\n", "sample"),
        "a YAML list, not a mapping": ("motif.yaml", "- 1\n- 2\n", "sample"),
        "prompt age a string": ("prompt.yaml", (b.seeds / "prompt.yaml").read_text(encoding="utf-8").replace(
            "min: 18", "min: eighteen"), "generate"),
        "lexicon unknown type": ("lexicon.yaml", "SPACESHIP:\n  - \"{subject} flies {object}\"\n", "generate"),
        "lexicon without slots": ("lexicon.yaml", "TREATS:\n  - \"is used\"\n", "generate"),
        "train option mistyped": ("train.yaml", "epochs: many\n", "train"),
        "train option unknown": ("train.yaml", "epoch: 1\n", "train"),
    }
    builders = {fmt_: build for fmt_, name, _, build in _reader_commands(b) if name.endswith(".yaml")
                for fmt_ in [name]}
    for klass, (name, text, _command) in variants.items():
        d = b.dir()
        path = d / name
        path.write_text(text, encoding="utf-8")
        command, argv = builders[name](d, path)
        located = not klass.startswith(("deeply", "a YAML list"))
        b.add(Case(klass, name.replace(".yaml", " YAML"), command, argv, bad=path.name, locate=located))


def fs_cases(b: Builder, nobody: bool) -> None:
    """Inputs that are not readable files, through each command's main input; read-only stores."""
    s = b.seeds
    targets = {
        "load biored": lambda d, p: ["load", "biored", str(p), "--store", str(d / "st.json"), "--no-progress"],
        "load obo": lambda d, p: ["load", "obo", str(p), "--store", str(d / "st.json"), "--no-progress"],
        "evaluate --pred": lambda d, p: ["evaluate", "--gold", str(s / "seed.PubTator"), "--pred", str(p),
                                         "--bootstrap", "0"],
        "check": lambda d, p: ["check", str(p), "--store", str(s / "st.json")],
        "report": lambda d, p: ["report", str(p), "--out", str(d / "r.html"), "--no-embeddings",
                                "--store", str(s / "st.json")],
        "generate --instances": lambda d, p: ["generate", "--instances", str(p), "--out", str(d / "ds"), "--n", "2",
                                              "--no-extract"],
        "sample --motif": lambda d, p: ["sample", "--motif", str(p), "--out", str(d / "o.jsonl"), "--n", "2",
                                        "--store", str(s / "st.json")],
        "train --data": lambda d, p: ["train", "--data", str(p), "--out", str(d / "run"), "--threads", "1"],
    }
    seeds = {"load biored": "seed.PubTator", "load obo": "mini.obo", "evaluate --pred": "seed.PubTator",
             "check": "notes.jsonl", "report": "notes.jsonl", "generate --instances": "inst.jsonl",
             "sample --motif": "motif.yaml", "train --data": "notes.jsonl"}
    for command, build in targets.items():
        name = seeds[command]
        for klass in ("directory", "dangling symlink", "symlink loop", "unreadable (chmod 000)", "empty",
                      "named FIFO without writer"):
            if klass.startswith("unreadable") and os.geteuid() == 0 and not nobody:
                continue
            d = b.dir()
            path = d / name
            if klass == "directory":
                path.mkdir()
            elif klass == "dangling symlink":
                path.symlink_to(d / "gone")
            elif klass == "symlink loop":
                path.symlink_to(path)
            elif klass == "empty":
                path.write_bytes(b"")
            elif klass.startswith("named FIFO"):
                os.mkfifo(path)
            else:
                shutil.copyfile(s / name, path)
                path.chmod(0)
                os.chmod(d, 0o777)
            b.add(Case(klass, name, command.split()[0], build(d, path), bad=path.name,
                       nobody=klass.startswith("unreadable") and os.geteuid() == 0))
    # read-only store folder / store file
    for klass in ("read-only store folder", "read-only store file"):
        if os.geteuid() == 0 and not nobody:
            continue
        d = b.dir()
        os.chmod(d, 0o777)
        ro = d / "ro"
        ro.mkdir()
        shutil.copyfile(s / "mini.obo", d / "mini.obo")
        if klass.endswith("file"):
            shutil.copyfile(s / "st.json", ro / "st.json")
            (ro / "st.json").chmod(0o444)
        else:
            shutil.copyfile(s / "st.json", ro / "st.json")
        ro.chmod(0o555)
        b.add(Case(klass, "store", "load", ["load", "obo", str(d / "mini.obo"), "--store", str(ro / "st.json"),
                                            "--no-progress"], bad="st.json", nobody=os.geteuid() == 0))


def pipe_cases(b: Builder) -> None:
    """Valid input through pipes must give the file's result; a FIFO with a writer too."""
    s = b.seeds
    runs = {
        "PubTator": ("load", "biored", "seed.PubTator"),
        "BioC XML": ("load", "biored", "seed.BioC.XML"),
        "BioC JSON": ("load", "biored", "seed.BioC.JSON"),
        "OBO": ("load", "obo", "mini.obo"),
        "OBO-graph JSON": ("load", "obo", "mini-obograph.json"),
        "HPOA": ("load", "obo", "mini.hpoa"),
    }
    for fmt, (command, sub, name) in runs.items():
        ref = _reference(["load", sub, str(s / name), "--store", str(b.work / f"ref-{name}.json"), "--json",
                          "--no-progress"])
        for klass in ("process substitution", "named FIFO with a writer"):
            d = b.dir()
            store = d / "st.json"
            if klass == "process substitution":
                line = f"{{kg}} load {sub} <(cat {s / name}) --store {store} --json --no-progress"
            else:
                fifo = d / name
                os.mkfifo(fifo)
                line = f"(cat {s / name} > {fifo} &) ; {{kg}} load {sub} {fifo} --store {store} --json --no-progress"
            b.add(Case(klass, fmt, command, [], shell=line, mode="ok", check=_same_as(ref, ("rows_read",
                                                                                            "concepts_loaded",
                                                                                            "relations_loaded"))))
    for fmt, name in (("PubTator", "seed.PubTator"), ("BioC JSON", "seed.BioC.JSON"), ("note JSONL", "notes.jsonl")):
        ref = _reference(["evaluate", "--gold", str(s / name), "--pred", str(s / name), "--bootstrap", "0", "--json"])
        d = b.dir()
        line = f"{{kg}} evaluate --gold <(cat {s / name}) --pred <(cat {s / name}) --bootstrap 0 --json"
        b.add(Case("process substitution", fmt, "evaluate", [], shell=line, mode="ok",
                   check=_same_as(ref, ("entities", "relations"))))
    ref = _reference(["check", str(s / "notes.jsonl"), "--store", str(s / "st.json"), "--json"])
    b.add(Case("process substitution", "note JSONL", "check", [], mode="ok",
               shell=f"{{kg}} check <(cat {s / 'notes.jsonl'}) --store {s / 'st.json'} --json",
               check=_same_as(ref, ("notes", "pass_rate"))))
    d = b.dir()
    b.add(Case("process substitution", "instance JSONL", "generate", [], mode="ok",
               shell=f"{{kg}} generate --instances <(cat {s / 'inst.jsonl'}) --out {d / 'ds'} --n 2 --no-extract "
                     "--json", check=_same_as({"written": 2}, ("written",))))


def _reference(argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "kgsynth", *argv], env=_env(None), capture_output=True, text=True,
                          timeout=120)
    if proc.returncode:
        raise SystemExit(f"reference run failed: {argv}\n{proc.stderr[-1500:]}")
    return json.loads(proc.stdout)


def _same_as(ref: dict, keys: tuple[str, ...]) -> Callable[[subprocess.CompletedProcess], str | None]:
    def check(proc: subprocess.CompletedProcess) -> str | None:
        if proc.returncode:
            return f"exit {proc.returncode}"
        try:
            got = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return "no JSON report"
        diff = [k for k in keys if got.get(k) != ref.get(k)]
        return f"differs from the plain file in {diff}" if diff else None

    return check


def output_cases(b: Builder) -> None:
    s = b.seeds
    for klass in ("--out an existing folder", "--out ."):
        d = b.dir()
        (d / "o.jsonl").mkdir()
        out = str(d / "o.jsonl") if "folder" in klass else "."
        b.add(Case(klass, "sample", "sample", ["sample", "--motif", "single_edge", "--n", "2", "--out", out,
                                               "--store", str(s / "st.json")], bad=out if out == "." else "o.jsonl"))
    for klass in ("--out an existing file", "--out ."):
        d = b.dir()
        (d / "f").write_text("x", encoding="utf-8")
        out = str(d / "f") if "file" in klass else "."
        b.add(Case(klass, "generate", "generate", ["generate", "--instances", str(s / "inst.jsonl"), "--out", out,
                                                   "--n", "2", "--no-extract"], bad=out if out == "." else "f",
                   mode="any"))
        b.add(Case(klass, "export", "export", ["export", str(s / "ds"), "--out", out, "--format", "hf"],
                   bad=out if out == "." else "f", mode="any"))
        b.add(Case(klass, "report", "report", ["report", str(s / "notes.jsonl"), "--out", out + ("/" if out == "."
                                                                                                 else ""),
                                               "--no-embeddings", "--store", str(s / "st.json")],
                   bad=out if out == "." else "f", mode="any"))
    # generate resuming over a journal with a torn last line (documented: dropped) or a corrupt middle line
    for klass in ("journal: torn last line", "journal: corrupt middle line"):
        d = b.dir()
        ds = d / "ds"
        shutil.copytree(s / "ds", ds)
        shards = sorted(ds.glob("notes-*.jsonl"))
        last = shards[-1]
        lines = last.read_bytes().splitlines(keepends=True)
        part = last.with_name(last.name + ".part")
        if klass.endswith("torn last line"):
            part.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])
        else:
            part.write_bytes(lines[0][:30] + b"\n" + lines[1])
        last.unlink()
        argv = ["generate", "--instances", str(s / "inst.jsonl"), "--out", str(ds), "--n", "4", "--no-extract",
                "--json", "--shard-size", "2"]
        if klass.endswith("torn last line"):
            b.add(Case(klass, "generate journal", "generate", argv, mode="ok", check=_resumed(ds, 4)))
        else:
            b.add(Case(klass, "generate journal", "generate", argv, bad=part.name, locate=True, mode="any",
                       check=_resumed(ds, 4)))


def _resumed(ds: Path, n: int) -> Callable[[subprocess.CompletedProcess], str | None]:
    def check(proc: subprocess.CompletedProcess) -> str | None:
        if proc.returncode:
            return None  # an error is judged by what it names
        ids = [json.loads(line)["id"] for p in sorted(ds.glob("notes-*.jsonl")) for line in
               p.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(ids) != n or len(set(ids)) != n:
            return f"{len(ids)} notes ({len(set(ids))} distinct) after resuming, expected {n}"
        return None

    return check


def midway_cases(b: Builder, stores: list[str]) -> None:
    """Strict loads with batch size 1 failing at the third document; --atomic leaves the store as it was."""
    seed = (b.seeds / "seed.PubTator").read_bytes()
    docs = seed.split(b"\n\n")
    third = docs[2].split(b"\n")
    for i, line in enumerate(third):
        cols = line.split(b"\t")
        if len(cols) == 6:
            cols[3] = b"xyzzy"
            third[i] = b"\t".join(cols)
            break
    bad = b"\n\n".join([docs[0], docs[1], b"\n".join(third), *docs[3:]])
    for store in stores:
        for atomic in (False, True):
            d = b.dir()
            path = d / "mid.PubTator"
            path.write_bytes(bad)
            argv = ["load", "biored", str(path), *b.store_args(d, store), "--no-progress", "--batch-size", "1"]
            if atomic:
                argv.append("--atomic")
            checker = _store_unchanged(b, d, store) if atomic else _says_written
            b.add(Case("strict load failing midway" + (" (--atomic)" if atomic else " (batch size 1)"), "PubTator",
                       "load", argv, bad=path.name, locate=True, store=store, check=checker))


def _says_written(proc: subprocess.CompletedProcess) -> str | None:
    if proc.returncode and not re.search(r"already written|nothing of this run was written", proc.stderr):
        return "the error does not say what of this run was written"
    return None


def _stats(b: Builder, d: Path, store: str) -> dict:
    argv = ["graph", "stats", "--json", *(["--uri", b.neo4j] if store == "neo4j" else ["--store", str(d / "st.json")])]
    return _reference([a for a in argv if a])


def _store_unchanged(b: Builder, d: Path, store: str) -> Callable[[subprocess.CompletedProcess], str | None]:
    before: dict = {}

    def check(proc: subprocess.CompletedProcess) -> str | None:
        after = _stats(b, d, store)
        keys = ("concepts", "relations", "relations_by_type")
        changed = [k for k in keys if after.get(k) != before.get(k)]
        return f"--atomic load changed the store ({changed})" if changed else None

    check.before = lambda: before.update(_stats(b, d, store))  # type: ignore[attr-defined]
    return check


# -- running and judging ----------------------------------------------------------------
def run_case(case: Case, neo4j: str | None) -> dict:
    before = getattr(case.check, "before", None)
    if before:
        before()
    env = _env(neo4j if case.store == "neo4j" else None)
    kg = f"{sys.executable} -m kgsynth"
    if case.shell:
        cmd: list[str] = ["bash", "-c", case.shell.replace("{kg}", kg)]
    else:
        cmd = [sys.executable, "-m", "kgsynth", *case.argv]
    if case.nobody:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        env["HOME"] = tempfile.gettempdir()
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CAP_S, cwd=case.cwd,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return {"outcome": "slow", "seconds": CAP_S, "why": f"still running after {CAP_S:.0f} s"}
    seconds = time.monotonic() - start
    outcome, why = judge(case, proc)
    if outcome == "ok" and seconds > SLOW_S:
        outcome, why = "slow", f"{seconds:.1f} s"
    return {"outcome": outcome, "seconds": round(seconds, 2), "why": why, "rc": proc.returncode,
            "stderr": _message(proc.stderr)[-300:]}


def _message(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("Using the embedded")]
    return "\n".join(lines[-3:])


def judge(case: Case, proc: subprocess.CompletedProcess) -> tuple[str, str]:
    err = proc.stderr
    if "Traceback (most recent call last)" in err or proc.returncode == 70:
        return "traceback", _message(err)[-200:]
    extra = case.check(proc) if case.check else None
    if case.mode == "ok":
        return ("wrong", extra) if extra else ("ok", "")
    if extra:
        return "wrong", extra
    if case.mode == "lenient":
        return _judge_lenient(case, proc)
    if proc.returncode == 0:
        if case.mode == "any":
            return "ok", "exit 0 (accepted)"
        if case.mode == "flagged":
            return ("ok", "flagged in the report") if _flagged(proc.stdout) else ("silent", "exit 0, note not flagged")
        return "silent", "exit 0 on bad input"
    message = _message(err)
    if case.bad and case.bad not in message:
        return "unnamed", message[-200:]
    if case.locate and not _LOCATED.search(message.replace(case.bad, "")):
        return "unnamed", "no line/record: " + message[-200:]
    return "ok", ""


def _flagged(stdout: str) -> bool:
    """Whether a check / report JSON says some note failed (the explicit report of a content fault)."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        return False
    if "results" in data:  # kgsynth check
        return any(not r.get("passed", True) for r in data["results"])
    if "issues" in data:  # kgsynth evaluate: broken predictions are counted, not scored
        return any(v for k, v in data["issues"].items() if k.endswith(("entities", "relations")) and isinstance(v, int))
    return any((s.get("consistency") or {}).get("pass_rate", 1.0) < 1.0 for s in data.get("stats", []))


def _judge_lenient(case: Case, proc: subprocess.CompletedProcess) -> tuple[str, str]:
    message = _message(proc.stderr)
    if proc.returncode:  # a whole-file problem may still stop a lenient load, but named
        if case.bad and case.bad not in message:
            return "unnamed", message[-200:]
        return "ok", "stopped (whole file unreadable)"
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return "uncounted", "no JSON report"
    rows = []
    if case.rejects and case.rejects.exists():
        rows = [line.split("\t") for line in case.rejects.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.strip()]
    rows = [r for r in rows if not r[0].startswith("#") and r[0] != "file"]
    if not rows:
        return "uncounted", "nothing in the rejects file"
    reasons = Counter(r[1] for r in rows if len(r) > 1)
    skipped = report.get("skipped_by_reason", {})
    short = {r: n for r, n in reasons.items() if skipped.get(r, 0) < 1}
    if short:
        return "uncounted", f"rejected but not counted: {short} (skipped_by_reason {skipped})"
    if not any(case.bad in r[0] for r in rows):
        return "uncounted", f"rejects file does not name {case.bad}: {rows[0][0]}"
    if case.reject_line is not None and not any(re.search(rf"line {case.reject_line}\b", r[0]) for r in rows):
        return "uncounted", f"rejects file does not name line {case.reject_line}: {[r[0] for r in rows][:3]}"
    return "ok", ""


def build(work: Path, neo4j: str | None, nobody: bool) -> list[Case]:
    b = Builder(work, neo4j)
    stores = ["memory"] + (["neo4j"] if neo4j else [])
    encoding_cases(b, stores)
    pubtator_cases(b, stores)
    bioc_cases(b, stores)
    ontology_cases(b, stores)
    rrf_rf2_cases(b, stores)
    note_content_cases(b)
    yaml_cases(b)
    fs_cases(b, nobody)
    pipe_cases(b)
    output_cases(b)
    midway_cases(b, stores)
    return b.cases


OUTCOMES = ("traceback", "silent", "unnamed", "uncounted", "wrong", "slow", "ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neo4j", help="bolt URI of a Neo4j server to run the load cases on too")
    parser.add_argument("--only", help="run only cases whose class or format contains this text")
    parser.add_argument("--store", choices=("memory", "neo4j"), help="run only the cases of this store")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    nobody = os.geteuid() != 0 or shutil.which("setpriv") is not None
    work = Path(tempfile.mkdtemp(prefix="kgsynth-fuzz-independent-"))
    os.chmod(work, 0o777)
    try:
        cases = build(work, args.neo4j, nobody)
        if args.only:
            cases = [c for c in cases if args.only in c.klass or args.only in c.fmt or args.only in c.command]
        if args.store:
            cases = [c for c in cases if c.store == args.store]
        print(f"{len(cases)} cases", file=sys.stderr)
        for i, case in enumerate(cases, 1):
            case.result = run_case(case, args.neo4j)
            if case.result["outcome"] != "ok":
                print(f"[{i}/{len(cases)}] {case.result['outcome']}: {case.store} {case.command} {case.fmt} / "
                      f"{case.klass} ({case.mode}): {case.result['why']}", file=sys.stderr)
        summary = summarize(cases, nobody)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)


def summarize(cases: list[Case], nobody: bool) -> dict:
    by_class: dict[str, Counter] = defaultdict(Counter)
    by_command: dict[str, Counter] = defaultdict(Counter)
    for case in cases:
        by_class[case.klass][case.result["outcome"]] += 1
        by_command[f"{case.command} ({case.store})"][case.result["outcome"]] += 1
    totals = Counter(c.result["outcome"] for c in cases)
    slowest = max(cases, key=lambda c: c.result["seconds"])
    failures = [{"class": c.klass, "format": c.fmt, "command": c.command, "store": c.store, "mode": c.mode,
                 **{k: c.result.get(k) for k in ("outcome", "why", "rc", "seconds")}}
                for c in cases if c.result["outcome"] != "ok"]
    return {"cases": len(cases), "totals": {k: totals.get(k, 0) for k in OUTCOMES},
            "by_class": {k: dict(v) for k, v in sorted(by_class.items())},
            "by_command": {k: dict(v) for k, v in sorted(by_command.items())},
            "slowest": {"class": slowest.klass, "format": slowest.fmt, "command": slowest.command,
                        "seconds": slowest.result["seconds"]},
            "total_seconds": round(sum(c.result["seconds"] for c in cases), 1),
            "permission_cases": "run as nobody (setpriv)" if os.geteuid() == 0 and nobody else
            ("run as this user" if nobody else "skipped: root reads chmod-000 files and no setpriv"),
            "failures": failures}


def print_table(summary: dict) -> None:
    head = f"{'class':44} " + " ".join(f"{k:>9}" for k in OUTCOMES)
    print(head)
    print("-" * len(head))
    for klass, counts in summary["by_class"].items():
        print(f"{klass[:44]:44} " + " ".join(f"{counts.get(k, 0):>9}" for k in OUTCOMES))
    print("-" * len(head))
    for command, counts in summary["by_command"].items():
        print(f"{command[:44]:44} " + " ".join(f"{counts.get(k, 0):>9}" for k in OUTCOMES))
    print("-" * len(head))
    print(f"{'total (' + str(summary['cases']) + ' cases)':44} " + " ".join(
        f"{summary['totals'][k]:>9}" for k in OUTCOMES))
    s = summary["slowest"]
    print(f"slowest case: {s['seconds']} s ({s['command']} {s['format']} / {s['class']}); all cases "
          f"{summary['total_seconds']} s; permission cases: {summary['permission_cases']}")
    for f in summary["failures"]:
        print(f"  {f['outcome']}: {f['store']} {f['command']} {f['format']} / {f['class']} ({f['mode']}): {f['why']}")


if __name__ == "__main__":
    main()
