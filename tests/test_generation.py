"""Generation without a model: aligner, template backend end to end, resume, rejects, exports, CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.generation.annotate import build_record, validate
from kgsynth.generation.backends import make_backend
from kgsynth.generation.backends.base import Backend, Draft, Extraction
from kgsynth.generation.dataset_folder import done_jobs, read_notes
from kgsynth.generation.engine import generate
from kgsynth.generation.export import bio_tokens, export
from kgsynth.generation.instances import read_instances
from kgsynth.generation.prompt import PromptSettings, build_prompt, load_settings
from kgsynth.generation.tags import TagError, strip_tags, surfaces, tag
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS

REPO = Path(__file__).resolve().parents[1]


def make_instance(k: int = 0) -> MotifInstance:
    concepts = [
        InstanceConcept(slot="drug", id=f"MESH:D{k:06d}", name="Metformin", group="Chemical",
                        synonyms=["metformin hydrochloride"]),
        InstanceConcept(slot="disease", id="MESH:D003924", name="Type 2 diabetes mellitus", group="Disease",
                        synonyms=["T2DM", "type 2 diabetes"]),
        InstanceConcept(slot="symptom", id="HP:0001959", name="Polydipsia", group="Phenotype",
                        synonyms=["excessive thirst"]),
    ]
    relations = [
        InstanceRelation(subject=concepts[0].id, type="TREATS", object=concepts[1].id),
        InstanceRelation(subject=concepts[1].id, type="HAS_PHENOTYPE", object=concepts[2].id),
    ]
    return MotifInstance(motif="two_hop", concepts=concepts, relations=relations)


@pytest.fixture
def instances_file(tmp_path: Path) -> Path:
    path = tmp_path / "instances.jsonl"
    path.write_text("".join(make_instance(k).model_dump_json() + "\n" for k in range(5)), encoding="utf-8")
    return path


# --- the aligner -----------------------------------------------------------------------------------------


def test_strip_tags_gives_exact_grounded_offsets() -> None:
    inst = make_instance()
    stripped = strip_tags("Started [[Metformin|C1]] for [[T2DM|C2]]; [[T2DM|C2]] again.", inst)
    assert stripped.text == "Started Metformin for T2DM; T2DM again."
    assert [(e.id, e.text, e.concept_id, e.type) for e in stripped.entities] == [
        ("T1", "Metformin", inst.concepts[0].id, "Chemical"),
        ("T2", "T2DM", "MESH:D003924", "Disease"),
        ("T3", "T2DM", "MESH:D003924", "Disease"),
    ]
    for e in stripped.entities:
        assert stripped.text[e.start : e.end] == e.text


def test_strip_tags_property_random_notes() -> None:
    """Random mixes of free text (with unicode) and tags always align exactly."""
    inst = make_instance()
    rng = random.Random(0)
    alphabet = "abc XYZ,.;:()-é中\t'\"0123456789"
    for _ in range(300):
        pieces, expected = [], []
        for _ in range(rng.randint(0, 8)):
            free = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            pieces.append(free)
            index = rng.randrange(len(inst.concepts))
            surface = rng.choice(surfaces(inst.concepts[index]))
            pieces.append(tag(surface, index))
            expected.append((surface, inst.concepts[index].id))
        stripped = strip_tags("".join(pieces), inst)
        assert [(e.text, e.concept_id) for e in stripped.entities] == expected
        assert all(stripped.text[e.start : e.end] == e.text for e in stripped.entities)
        assert "[[" not in stripped.text


@pytest.mark.parametrize(
    "bad",
    [
        "[[Aspirin|C1]] is not a name of C1.",
        "[[Metformin|C9]] names no slot.",
        "cut off [[Metformin|C1",
        "stray ]] closing",
    ],
)
def test_strip_tags_rejects_unsound_tags(bad: str) -> None:
    with pytest.raises(TagError):
        strip_tags(bad, make_instance())


# --- prompts ------------------------------------------------------------------------------------------------


def test_prompt_has_facts_names_and_sampled_demographics() -> None:
    inst = make_instance()
    settings = PromptSettings(age={"min": 40, "max": 41, "mean": 40, "sd": 5}, sex={"female": 1.0},
                              note_types={"discharge summary": 1.0}, exemplar_probability=1.0)
    prompt = build_prompt(inst, random.Random(1), settings)
    assert prompt.note_type == "discharge summary"
    assert prompt.header == "Discharge summary: 40-year-old female patient." or prompt.header.startswith(
        "Discharge summary: 41-year-old")
    assert prompt.demographics["sex"] == "female" and 40 <= int(prompt.demographics["age"]) <= 41
    assert "Metformin treats Type 2 diabetes mellitus" in prompt.text
    assert "T2DM" in prompt.text and "[[Metformin|C1]]" in prompt.text
    assert "poorly controlled diabetes" in prompt.text  # the discharge exemplar
    assert "You are a clinician writing a discharge summary for a 4" in prompt.text
    assert build_prompt(inst, random.Random(1), settings).text == prompt.text
    assert set(load_settings().note_types) >= {"discharge summary", "progress note"}


# --- template backend end to end ----------------------------------------------------------------------


def test_template_backend_end_to_end(tmp_path: Path, instances_file: Path) -> None:
    items = read_instances(instances_file)
    report = generate(items, make_backend("template"), tmp_path / "notes", 12, seed=4, shard_size=5, quiet=True)
    assert (report.written, report.rejected) == (12, 0)
    assert sorted(p.name for p in (tmp_path / "notes").glob("notes-*.jsonl")) == [
        "notes-00000.jsonl", "notes-00001.jsonl", "notes-00002.jsonl"]
    records = read_notes(tmp_path / "notes")
    assert len({r.id for r in records}) == 12
    for r in records:
        assert validate(r) == [] and r.span_errors() == []
        assert {e.type for e in r.entities} <= set(SEMANTIC_GROUPS)
        assert {x.type for x in r.relations} == {"TREATS", "HAS_PHENOTYPE"}
        # The template parser recovers exactly the sampled facts from plain text.
        assert {(x.subject, x.type, x.object) for x in r.extracted_relations} == {
            (x.subject, x.type, x.object) for x in r.relations}
        assert r.backend == "template" and r.decoding["job"] in range(12) and r.instance is not None


def test_same_seed_same_dataset(tmp_path: Path, instances_file: Path) -> None:
    items = read_instances(instances_file)
    a = generate(items, make_backend("template"), tmp_path / "a", 6, seed=9, quiet=True)
    b = generate(items, make_backend("template"), tmp_path / "b", 6, seed=9, quiet=True)
    assert a.written == b.written == 6
    assert [r.id for r in read_notes(tmp_path / "a")] == [r.id for r in read_notes(tmp_path / "b")]


def test_bad_instance_line_names_file_and_line(tmp_path: Path) -> None:
    from kgsynth.errors import InputError

    path = tmp_path / "bad.jsonl"
    path.write_text(make_instance().model_dump_json() + "\n{\"motif\": 3}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2"):
        read_instances(path)


# --- rejects ----------------------------------------------------------------------------------------------


class BrokenBackend(Backend):
    """Writes a name the concept does not allow on even jobs, a sound note on odd ones."""

    name = "broken"
    model = "none"

    def __init__(self) -> None:
        self.calls = 0

    def write(self, instance: MotifInstance, prompt, seed: int) -> Draft:  # noqa: ANN001
        self.calls += 1
        bad = prompt.demographics["age"] % 2 == 0
        first = "Aspirin" if bad else "Metformin"
        return Draft(tagged=f"[[{first}|C1]] was started for [[T2DM|C2]] today.\n"
                            "[[T2DM|C2]] presented with [[Polydipsia|C3]] on review.")

    def extract(self, text, entities, note_type, seed) -> Extraction:  # noqa: ANN001
        return Extraction(relations=[])


def test_invalid_notes_are_retried_then_rejected(tmp_path: Path, instances_file: Path) -> None:
    items = read_instances(instances_file)
    backend = BrokenBackend()
    settings = PromptSettings(age={"min": 20, "max": 90, "mean": 50, "sd": 30})
    report = generate(items, backend, tmp_path / "out", 10, settings=settings, max_attempts=2, quiet=True)
    assert report.written + report.rejected == 10 and report.rejected > 0 and report.written > 0
    rejects = [json.loads(x) for x in (tmp_path / "out").glob("rejects-*").__next__().read_text().splitlines()]
    assert len(rejects) == report.rejected
    assert all("not an allowed name" in r["reason"] and r["attempts"] == 2 for r in rejects)
    kept = read_notes(tmp_path / "out")
    assert all("Aspirin" not in r.text for r in kept)
    assert backend.calls == report.written + 2 * report.rejected
    # A re-run does nothing: every job is in the dataset or the rejects file.
    again = generate(items, BrokenBackend(), tmp_path / "out", 10, settings=settings, quiet=True)
    assert (again.written, again.rejected, again.skipped_done) == (0, 0, 10)


def test_validate_flags_ungrounded_and_bad_types() -> None:
    inst = make_instance()
    record = build_record("[[Metformin|C1]] was started for [[T2DM|C2]] today.\n"
                          "[[T2DM|C2]] presented with [[Polydipsia|C3]] on review.", inst)
    assert validate(record) == []
    unstated = build_record("[[Metformin|C1]] and [[T2DM|C2]] today.\n"
                            "[[T2DM|C2]] presented with [[Polydipsia|C3]] on review.", inst)
    assert [r.type for r in unstated.relations] == ["HAS_PHENOTYPE"]
    assert any("is not stated with a relation phrase" in p for p in validate(unstated))
    crowded = build_record("[[Metformin|C1]] was started for [[T2DM|C2]], T2DM and T2DM.\n"
                           "[[T2DM|C2]] presented with [[Polydipsia|C3]] on review.", inst)
    assert any("names MESH:D003924 3 times" in p for p in validate(crowded))
    record.entities[0].concept_id = "MESH:D999999"
    record.relations[0].type = "HEALS"
    problems = " ".join(validate(record))
    assert "not a concept of the instance" in problems and "'HEALS' is not allowed" in problems
    assert "HEALS" not in RELATION_TYPES


# --- resume after a kill -----------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_after_kill_has_no_dupes_or_torn_records(tmp_path: Path, instances_file: Path) -> None:
    out = tmp_path / "notes"
    n = 400
    cmd = [sys.executable, "-m", "kgsynth", "generate", "--instances", str(instances_file), "--out", str(out),
           "--backend", "template", "--n", str(n), "--seed", "5", "--shard-size", "20", "--balance", "none", "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("notes-00001.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = done_jobs(out)
    assert 0 < len(written) < n, "the kill should land mid-run"
    journal = sorted(out.glob("notes-*.jsonl.part"))
    if not journal:
        # The kill fell between sealing a shard and the first write of the next one (the next
        # journal is opened by its first record); a kill during that write leaves just this:
        journal = [out / f"notes-{len(list(out.glob('notes-*.jsonl'))):05d}.jsonl.part"]
    with journal[-1].open("ab") as fh:  # simulate a torn last record
        fh.write(b'{"id": "torn", "text": "half a rec')
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-500:]
    report = json.loads(result.stdout)
    assert report["skipped_done"] == len(written) and report["written"] == n - len(written)
    records = read_notes(out)
    assert not list(out.glob("notes-*.part"))
    assert sorted(r.decoding["job"] for r in records) == list(range(n))
    assert len({r.id for r in records}) == n
    reference = generate(read_instances(instances_file), make_backend("template"), tmp_path / "ref", n, seed=5,
                         quiet=True)
    assert reference.written == n
    assert {r.id for r in read_notes(tmp_path / "ref")} == {r.id for r in records}


# --- exports --------------------------------------------------------------------------------------------


def test_exports_are_readable(tmp_path: Path, instances_file: Path) -> None:
    import bioc
    from datasets import load_from_disk

    generate(read_instances(instances_file), make_backend("template"), tmp_path / "notes", 4, quiet=True)
    records = read_notes(tmp_path / "notes")
    paths = export(records, tmp_path / "export", ["hf", "bioc", "conll"])

    ds = load_from_disk(paths["hf"])
    assert len(ds) == 4 and ds[0]["text"] == records[0].text
    assert len(ds[0]["tokens"]) == len(ds[0]["ner_tags"]) and "B-Chemical" in ds[0]["ner_tags"]

    with open(paths["bioc"], encoding="utf-8") as fh:
        collection = bioc.biocxml.load(fh)
    doc = collection.documents[0]
    passage = doc.passages[0]
    assert doc.id == records[0].id and passage.text == records[0].text
    for ann in passage.annotations:
        loc = ann.total_span
        assert passage.text[loc.offset : loc.end] == ann.text
        assert ann.infons["identifier"] if ann.infons["type"] != "RelationTrigger" else ann.infons["relation"]
    assert {r.infons["type"] for r in passage.relations} == {"TREATS", "HAS_PHENOTYPE"}
    # triggers round-trip: each relation names its trigger annotation, whose span is the record's trigger
    by_id = {a.id: a for a in passage.annotations}
    for rel, want in zip(passage.relations, records[0].relations, strict=True):
        trigger = by_id[next(n.refid for n in rel.nodes if n.role == "Trigger")]
        assert (trigger.total_span.offset, trigger.total_span.end, trigger.text) == (
            want.trigger.start, want.trigger.end, want.trigger.text)
    assert [(t["start"], t["end"], t["text"]) for t in ds[0]["triggers"]] == [
        (r.trigger.start, r.trigger.end, r.trigger.text) for r in records[0].relations]
    assert ds[0]["relations"][0]["trigger"]["text"] == records[0].relations[0].trigger.text

    blocks = Path(paths["conll"]).read_text(encoding="utf-8").strip().split("\n\n")
    assert len(blocks) == 4
    labels = [line.split("\t")[1] for line in blocks[0].splitlines()[1:]]
    assert labels == [lab for *_, lab in bio_tokens(records[0])]


def test_bio_tokens_mark_multiword_entities() -> None:
    record = build_record("Has [[type 2 diabetes|C2]] now.", make_instance())
    assert [(t, lab) for t, _, _, lab in bio_tokens(record)] == [
        ("Has", "O"), ("type", "B-Disease"), ("2", "I-Disease"), ("diabetes", "I-Disease"), ("now", "O"), (".", "O")]


# --- CLI ---------------------------------------------------------------------------------------------------


def test_cli_generate_and_export_json(tmp_path: Path, instances_file: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "notes"
    result = runner.invoke(app, ["generate", "--instances", str(instances_file), "--out", str(out), "--backend",
                                 "template", "--n", "3", "--export", "conll", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] == 3 and Path(report["exports"]["conll"]).is_file()
    result = runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "ex"), "--format", "bioc", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["notes"] == 3
    missing = runner.invoke(app, ["generate", "--instances", str(tmp_path / "nope.jsonl"), "--out", str(out)])
    assert missing.exit_code != 0


def test_demo_with_template_backend(tmp_path: Path) -> None:
    from kgsynth.demo import run_demo

    report = run_demo(tmp_path / "demo", n=4, backend="template", quiet=True)
    assert report["notes"] == 4 and Path(report["dataset"]).is_dir()
    assert Path(report["exports"]["bioc"]).is_file()
    if report["check_report"]:
        assert json.loads(Path(report["check_report"]).read_text())["notes"] == 4


def test_untagged_names_are_annotated_too() -> None:
    record = build_record("metformin helped, so [[Metformin|C1]] was started for [[T2DM|C2]], t2dm stable.\n"
                          "[[T2DM|C2]] presented with [[Polydipsia|C3]]; no polydipsias.", make_instance())
    assert [(e.id, e.text) for e in record.entities] == [
        ("T1", "metformin"), ("T2", "Metformin"), ("T3", "T2DM"), ("T4", "t2dm"), ("T5", "T2DM"),
        ("T6", "Polydipsia")]
    assert record.span_errors() == [] and validate(record) == []
    assert {(r.subject, r.type, r.object) for r in record.relations} == {("T2", "TREATS", "T3"),
                                                                          ("T5", "HAS_PHENOTYPE", "T6")}


def test_cli_schema_mode_reaches_the_openai_backend():
    """llama-cpp-python's server needs json_object: the CLI must be able to ask for it."""
    from kgsynth.generation.cli import SchemaMode, backend_options

    options = backend_options(None, "http://127.0.0.1:9/v1", "none", 0.7, 60, 0.0, 0.0, SchemaMode.json_object)
    backend = make_backend("openai", **options)
    assert backend.decoding()["constraint"] == "server/json_object"
    assert make_backend("template", **options).decoding() == {"method": "template"}
    result = CliRunner().invoke(app, ["generate", "--instances", "x.jsonl", "--out", "o", "--schema-mode", "bogus"])
    assert result.exit_code == 2


class ScoredBackend(Backend):
    """Sound notes whose mean log-probability is a function of the seed (so best-of has a clear winner)."""

    name = "scored"
    model = "none"

    def write(self, instance: MotifInstance, prompt, seed: int) -> Draft:  # noqa: ANN001
        return Draft(tagged=f"Seed {seed} [[Metformin|C1]] was started for [[T2DM|C2]].\n"
                            "[[T2DM|C2]] presented with [[Polydipsia|C3]] on review.", mean_logprob=-(seed % 97))

    def extract(self, text, entities, note_type, seed) -> Extraction:  # noqa: ANN001
        return Extraction(relations=[])


def test_best_of_keeps_the_draft_the_writer_found_most_likely(tmp_path: Path) -> None:
    from kgsynth.generation.engine import job_seed

    generate([make_instance()], ScoredBackend(), tmp_path / "k4", 3, seed=1, best_of=4, quiet=True)
    for record in read_notes(tmp_path / "k4"):
        job = record.decoding["job"]
        seeds = [job_seed(1, job, j + 1) for j in range(4)]
        best = max(seeds, key=lambda s: -(s % 97))
        assert record.decoding["seed"] == best and record.decoding["best_of"] == 4
        assert record.decoding["mean_logprob"] == -(best % 97) and record.text.startswith(f"Seed {best} ")
