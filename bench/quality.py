"""Note quality under the relation-phrase constraint, against the old constraint, in one run.

A KG is built from BioRED train (``load biored Train.PubTator`` into an embedded store),
``--edges`` single_edge and ``--triangles`` triangle instances are sampled balanced by relation
type (interleaved, so any prefix of the jobs mixes both motifs), and each writer writes notes for
them without the extraction pass (the check here is the deterministic one):

* the template backend (the lexicon and the clean-word grammar);
* the packaged SmolLM2-135M under the new constraint (``grammar.note_regex``);
* the same model, prompt and seeds under the old constraint (``OLD_NOTE_REGEX`` below, the regex
  kgsynth used before: both concepts of a fact on one line, any free text, no relation phrase),
  as the baseline. Old-constraint notes are scored as written (nothing is rejected for lacking a
  phrase), so the row shows what that constraint produced.

Per row: notes written and rejected, facts expressed by the deterministic check, degenerate notes
(:mod:`kgsynth.evaluation.degenerate`, by reason), spans and triggers aligned, mentions grounded,
notes per minute and tokens per second. ``--qwen-url URL`` (a ``kgsynth llm start --model
qwen2.5-1.5b`` server) adds a row for Qwen2.5-1.5B under the same constraint (JSON pieces, ``--qwen-notes``).
``--judge-url URL`` adds the independent judge's columns for the first ``--judge-notes`` notes of each
row: fact recall by the judge, its agreement with the deterministic check, and fluency (judge NLL per
token, and its ratio to the same judge's NLL on ``--abstracts`` real BioRED train abstracts);
``--judge-fluency-gguf`` scores fluency with llama.cpp locally (see ``kgsynth check --help``).
``--llm-minutes`` bounds each LLM row's writing time
(notes are written in chunks and the output folders resume), so the table says how many notes
each row actually has. ``--json`` prints one JSON object.

    python bench/quality.py --biored ../shared/data/biored/Train.PubTator --out /tmp/quality \
        --llm-notes 300 --old-notes 100 --llm-minutes 45 --old-minutes 30
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kgsynth.cypher.instance import MotifInstance  # noqa: E402
from kgsynth.cypher.motif import resolve_motif  # noqa: E402
from kgsynth.cypher.sampling import sample  # noqa: E402
from kgsynth.evaluation.check import check_notes  # noqa: E402
from kgsynth.generation.annotate import build_record  # noqa: E402
from kgsynth.generation.backends import make_backend  # noqa: E402
from kgsynth.generation.dataset_folder import read_notes  # noqa: E402
from kgsynth.generation.engine import generate, job_seed  # noqa: E402
from kgsynth.generation.prompt import build_prompt, load_settings  # noqa: E402
from kgsynth.generation.record import NoteRecord  # noqa: E402
from kgsynth.generation.tags import TagError, slot_label, surfaces  # noqa: E402
from kgsynth.graph.memory import MemoryStore  # noqa: E402
from kgsynth.loaders.biored import CorpusLoader  # noqa: E402
from kgsynth.loaders.runner import run_load  # noqa: E402

# --- the baseline: the note constraint as it was before the relation phrase was part of it --------------
_OLD_FREE = r"[^\[\]|\n]"
_OLD_SEP = r"""[ !"#$%&'()*+,\-./:;<=>?@\\^_`{}~]"""


def _old_tag(instance: MotifInstance, concept_id: str) -> str:
    index = next(i for i, c in enumerate(instance.concepts) if c.id == concept_id)
    names = "|".join(re.escape(s) for s in surfaces(instance.concepts[index]))
    return rf"\[\[({names})\|{slot_label(index)}\]\]"


def old_note_regex(instance: MotifInstance, max_free: int = 60) -> str:
    """The old constraint: one line per fact naming both concepts (either order), free text around."""
    n = max(max_free, 2)
    lead = f"(?:{_OLD_FREE}{{0,{n - 1}}}{_OLD_SEP})?"
    mid = f"{_OLD_SEP}(?:{_OLD_FREE}{{0,{n - 2}}}{_OLD_SEP})?"
    tail = f"(?:{_OLD_SEP}{_OLD_FREE}{{0,{n - 1}}})?"
    lines = []
    for rel in instance.relations:
        a, b = _old_tag(instance, rel.subject), _old_tag(instance, rel.object)
        lines.append(rf"{lead}({a}{mid}{b}|{b}{mid}{a}){tail}\.")
    return r"\n".join(lines)


def build_kg(biored: Path, store_path: Path) -> MemoryStore:
    if store_path.exists():
        store_path.unlink()
    store = MemoryStore(store_path)
    run_load(CorpusLoader([biored]), store, show_progress=False)
    return store


def sample_instances(store: MemoryStore, edges: int, triangles: int, seed: int) -> list[MotifInstance]:
    edge, _ = sample(store, resolve_motif("single_edge"), edges, seed=seed)
    tri, _ = sample(store, resolve_motif("triangle"), triangles, seed=seed)
    rng = random.Random(seed)
    rng.shuffle(edge)
    rng.shuffle(tri)
    mixed: list[MotifInstance] = []
    for i in range(max(len(edge), len(tri))):
        mixed += [x[i] for x in (edge, tri) if i < len(x)]
    return mixed


def score(label: str, records: list[NoteRecord], store: MemoryStore, requested: int, rejected: int,
          seconds: float, tokens: int) -> dict[str, Any]:
    """One table row: the deterministic check, degenerate text, alignment, grounding and speed."""
    report = check_notes(records, store)
    spans = [e for r in records for e in r.entities]
    triggers = [x.trigger for r in records for x in r.relations if x.trigger is not None]
    aligned_triggers = sum(r.text[t.start:t.end] == t.text for r in records for x in r.relations
                           if (t := x.trigger) is not None)
    bad_spans = sum(len(r.span_errors()) for r in records)
    return {
        "writer": label,
        "requested": requested,
        "notes": len(records),
        "rejected": rejected,
        "sampled_facts": report.sampled_facts,
        "facts_expressed": report.fact_recall,
        "degenerate_rate": report.degenerate_rate,
        "degenerate_reasons": report.degenerate_reasons,
        "spans_aligned": (len(spans) - bad_spans) / len(spans) if spans else None,
        "triggers": len(triggers),
        "triggers_aligned": aligned_triggers / len(triggers) if triggers else None,
        "grounded": 1 - report.ungrounded_entities / report.entities if report.entities else None,
        "pass_rate": report.pass_rate,
        "notes_per_minute": round(60 * (len(records) + rejected) / seconds, 2) if seconds else None,
        "tokens_per_s": round(tokens / seconds, 2) if seconds and tokens else None,
        "seconds": round(seconds, 1),
    }


def run_generate(label: str, instances: list[MotifInstance], backend: Any, out: Path, n: int, minutes: float,
                 store: MemoryStore, chunk: int = 10) -> dict[str, Any]:
    """``generate`` in chunks until ``n`` notes or the time budget; resumes what ``out`` holds."""
    began, seconds, tokens, attempted, done = time.perf_counter(), 0.0, 0, 0, 0
    while done < n and time.perf_counter() - began < minutes * 60:
        done = min(n, done + chunk)
        run = generate(instances, backend, out, done, seed=7, extract=False, quiet=True)
        seconds += run.seconds
        tokens += run.completion_tokens
        attempted += run.written + run.rejected
        print(f"  {label}: {done} jobs, {run.written} written / {run.rejected} rejected in {run.seconds:.0f} s",
              file=sys.stderr)
    records = read_notes(out)
    rejects = sum(1 for p in out.glob("rejects-*") for line in p.read_text().splitlines() if line.strip())
    row = score(label, records, store, done, rejects, seconds, tokens)
    # speed from this run's jobs only (earlier runs into the same folder were resumed, not rewritten)
    row["notes_per_minute"] = round(60 * attempted / seconds, 2) if seconds else None
    row["jobs_this_run"] = attempted
    return row


def run_old(instances: list[MotifInstance], backend: Any, n: int, minutes: float, store: MemoryStore,
            out: Path) -> dict[str, Any]:
    """The old constraint: same model, prompts and seeds; notes kept as written (only torn tags are rejected).

    Each job's outcome is appended to ``out/jobs.jsonl`` as it is written, so a re-run continues.
    """
    from outlines.types import Regex

    settings = load_settings()
    out.mkdir(parents=True, exist_ok=True)
    journal = out / "jobs.jsonl"
    done = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()] if journal.exists() else []
    began = time.perf_counter()
    with journal.open("a", encoding="utf-8") as fh:
        for job in range(len(done), n):
            if time.perf_counter() - began > minutes * 60:
                break
            instance = instances[job % len(instances)]
            prompt = build_prompt(instance, random.Random(job_seed(7, job)), settings, backend.lexicon)
            regex = old_note_regex(instance)
            gen = backend.generator(Regex(regex), regex)
            head = prompt.header + "\n"
            t = time.perf_counter()
            output = backend._run(gen, backend.chat(prompt.text) + head, job_seed(7, job, 1), 512)
            row: dict[str, Any] = {"job": job, "seconds": time.perf_counter() - t,
                                   "tokens": backend.count_tokens(output)}
            try:
                row["record"] = build_record(head + output, instance, backend.lexicon,
                                             backend="transformers-old").model_dump(mode="json")
            except TagError as exc:
                row["rejected"] = str(exc)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            done.append(row)
    records = [NoteRecord.model_validate(r["record"]) for r in done if "record" in r]
    rejected = sum("rejected" in r for r in done)
    return score("SmolLM2-135M, old constraint", records, store, len(done), rejected,
                 sum(r["seconds"] for r in done), sum(r["tokens"] for r in done))


def add_judge_columns(rows: list[dict[str, Any]], folders: list[Path], args: argparse.Namespace,
                      store: MemoryStore) -> dict[str, Any]:
    """Judge the first ``--judge-notes`` notes of each row; adds judge recall, agreement and fluency."""
    from kgsynth.evaluation.judge import agreement, judge_notes, make_judge, mean_nll, reference_texts

    judge = make_judge(args.judge_url, None, fluency_gguf=args.judge_fluency_gguf)
    try:
        t = time.perf_counter()
        real_nll = mean_nll(judge, reference_texts(args.biored, args.abstracts))
        real_s = time.perf_counter() - t
        for row, folder in zip(rows, folders, strict=True):
            records = read_notes(folder)[: args.judge_notes] if folder.is_dir() else []
            t = time.perf_counter()
            judged = judge_notes(records, judge, quiet=True)
            check = check_notes(records, store)
            stated = {c.id: {(f.subject, f.type, f.object) for f in c.expressed} for c in check.results}
            row["judged_notes"] = judged.notes
            row["self_judged_notes"] = judged.self_judged_notes
            row["judge_recall"] = judged.fact_recall
            row["judge_check_agreement"] = agreement(judged, stated)[0]
            row["nll_per_token"] = judged.nll_per_token
            row["fluency_ratio"] = judged.nll_per_token / real_nll if judged.nll_per_token and real_nll else None
            row["judge_s_per_note"] = round((time.perf_counter() - t) / max(judged.notes, 1), 1)
    finally:
        scorer = getattr(judge, "scorer", None)
        if scorer is not None:
            scorer.close()
    return {"judge": judge.describe(), "abstracts": args.abstracts, "abstract_nll_per_token": real_nll,
            "abstract_s": round(real_s, 1)}


def fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--biored", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "biored" / "Train.PubTator")
    parser.add_argument("--out", type=Path, default=Path("quality-bench"))
    parser.add_argument("--edges", type=int, default=150)
    parser.add_argument("--triangles", type=int, default=150)
    parser.add_argument("--llm-notes", type=int, default=300)
    parser.add_argument("--old-notes", type=int, default=100)
    parser.add_argument("--llm-minutes", type=float, default=45.0, help="Writing-time budget of each LLM row.")
    parser.add_argument("--old-minutes", type=float, default=None, help="Budget of the old-constraint row "
                        "(default: --llm-minutes).")
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--context-words", choices=("vetted", "free"), default="vetted",
                        help="the SmolLM2 row's words around each fact (free: the rows measured before 2026-12-04)")
    parser.add_argument("--skip-old", action="store_true", help="Leave out the old-constraint row.")
    parser.add_argument("--qwen-url", help="OpenAI-compatible URL of a Qwen2.5-1.5B server (kgsynth llm start)")
    parser.add_argument("--qwen-notes", type=int, default=20)
    parser.add_argument("--judge-url", help="OpenAI-compatible URL of the independent judge")
    parser.add_argument("--judge-fluency-gguf", help="the judge's GGUF, to score fluency with llama.cpp locally")
    parser.add_argument("--judge-notes", type=int, default=30, help="notes judged per row")
    parser.add_argument("--abstracts", type=int, default=100, help="real BioRED abstracts for the fluency ratio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    began = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    store = build_kg(args.biored, args.out / "kg.json.gz")
    instances = sample_instances(store, args.edges, args.triangles, seed=7)
    motifs = Counter(i.motif for i in instances)
    types = Counter(r.type for i in instances for r in i.relations)
    print(f"{len(instances)} instances {dict(motifs)}; facts by type {dict(types)}", file=sys.stderr)
    n = len(instances)
    rows = [run_generate("template backend", instances, make_backend("template"), args.out / "template", n, 60,
                         store, chunk=n)]
    folders = [args.out / "template"]
    if not args.skip_llm:
        backend = make_backend("transformers", max_words=8, context_words=args.context_words)
        folder = args.out / ("smollm2" if args.context_words == "free" else f"smollm2-{args.context_words}")
        rows.append(run_generate(f"SmolLM2-135M, relation-phrase constraint, {args.context_words} context words",
                                 instances, backend, folder, args.llm_notes, args.llm_minutes, store))
        folders.append(folder)
        if not args.skip_old:
            rows.append(run_old(instances, backend, args.old_notes, args.old_minutes or args.llm_minutes, store,
                                args.out / "smollm2-old"))
            folders.append(args.out / "smollm2-old")
    if args.qwen_url:
        qwen = make_backend("openai", base_url=args.qwen_url, schema_mode="json_object")
        rows.append(run_generate("Qwen2.5-1.5B (kgsynth llm), relation-phrase constraint", instances, qwen,
                                 args.out / "qwen", args.qwen_notes, args.llm_minutes, store, chunk=2))
        folders.append(args.out / "qwen")
    judged = add_judge_columns(rows, folders, args, store) if args.judge_url else None
    result = {"instances": n, "motifs": dict(motifs), "facts_by_type": dict(types), "rows": rows, "judge": judged,
              "wall_s": round(time.perf_counter() - began, 1)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    cols = ["writer", "notes", "rejected", "facts_expressed", "degenerate_rate", "spans_aligned", "triggers_aligned",
            "grounded", "notes_per_minute", "tokens_per_s"]
    if judged:
        cols += ["judge_recall", "judge_check_agreement", "nll_per_token", "fluency_ratio"]
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(fmt(row[c]) for c in cols))
    for row in rows:
        print(f"{row['writer']}: degenerate by reason {row['degenerate_reasons']}")
    if judged:
        print(f"judge: {judged['judge']}; {judged['abstracts']} real abstracts: NLL/token "
              f"{fmt(judged['abstract_nll_per_token'])} (the fluency ratio's denominator)")
    print(f"wall time {result['wall_s']} s")


if __name__ == "__main__":
    main()
