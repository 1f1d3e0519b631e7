"""``kgsynth demo``: the whole main job on the bundled sample graph, on a fresh machine.

graph (bundled public-domain sample) -> balanced motif sample -> notes written and
annotated by the default local model -> consistency check -> exports. Every step
writes under one folder and the report says where.
"""

from __future__ import annotations

from pathlib import Path

from kgsynth.atomic import write_lines_atomic
from kgsynth.console import note_once
from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.backends import make_backend
from kgsynth.generation.dataset_folder import read_notes, write_json
from kgsynth.generation.engine import generate
from kgsynth.generation.export import export
from kgsynth.generation.prompt import load_settings
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.sample import sample_graph
from kgsynth.graph.store import GraphStore


def build_graph(path: Path) -> MemoryStore:
    """The bundled sample KG in an embedded store at ``path`` (rebuilt each run)."""
    if path.exists():
        path.unlink()
    store = MemoryStore(path)
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    store.checkpoint()
    return store


def sample_instances(store: GraphStore, n: int, seed: int, motif: str = "single_edge") -> list[MotifInstance]:
    """Balanced motif instances (one call, so the sampler can be swapped)."""
    from kgsynth.cypher.motif import resolve_motif
    from kgsynth.cypher.sampling import sample

    instances, _ = sample(store, resolve_motif(motif), n, seed=seed)
    return instances


def check(records: list, store: GraphStore) -> dict:
    """The KG-aware consistency checks of ``kgsynth check``."""
    from kgsynth.evaluation.check import check_notes

    return check_notes(records, store).model_dump(mode="json")


def run_demo(out: Path, n: int = 3, backend: str = "transformers", seed: int = 0, quiet: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    store = build_graph(out / "graph.json.gz")
    instances = sample_instances(store, max(n, 8), seed)
    instances_path = out / "instances.jsonl"
    write_lines_atomic(instances_path, [i.model_dump_json() for i in instances])
    note_once(f"demo: {len(instances)} balanced single_edge instances -> {instances_path}")
    # A 135M writer invents pseudo-words at 0.7 ("Ze diagnosis kai gekken ziinzie"); 0.4 keeps to real ones.
    writer = make_backend(backend, max_words=8, temperature=0.4)
    notes_dir = out / "notes"
    run = generate(instances, writer, notes_dir, n, seed=seed, settings=load_settings(), quiet=quiet)
    records = read_notes(notes_dir)
    report = check(records, store)
    report_path = out / "check.json"
    write_json(report_path, report)
    exports = export(records, out / "export", ["hf", "bioc", "conll"])
    store.close()
    return {
        "graph": str(out / "graph.json.gz"),
        "instances": str(instances_path),
        "dataset": str(notes_dir),
        "notes": run.written,
        "rejected": run.rejected,
        "notes_per_minute": round(run.notes_per_s * 60, 2),
        "tokens_per_s": run.tokens_per_s,
        "check_report": str(report_path),
        "check_pass_rate": report["pass_rate"],
        "exports": exports,
    }
