"""Run a fine-tuned adapter as a constrained extractor and write scoreable NoteRecords.

The Outlines generator is built once per :class:`Extractor` (compiling the JSON
schema into a token automaton is the expensive part) and every answer is forced to
match :class:`~kgsynth.training.formatting.Extraction`, whose types are enums of the
schema allowlist, so every complete answer parses into known types. An answer cut
by ``max_new_tokens`` is still a valid prefix of the grammar: :func:`salvage` keeps
its complete items and closes the brackets, so it parses too; such answers are
counted as truncated, never hidden.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from kgsynth.generation.record import NoteRecord
from kgsynth.training.align import Occurrences, align
from kgsynth.training.formatting import Extraction, prompt_text


class ExtractReport(BaseModel):
    """What an extraction run did."""

    adapter: str
    input: str
    out: str
    notes: int = 0
    skipped_done: int = 0
    complete: int = 0
    truncated: int = 0
    entities: int = 0
    relations: int = 0
    unplaced_mentions: int = 0
    dropped_relations: int = 0
    seconds: float = 0.0
    notes_per_second: float = 0.0
    examples_unplaced: list[str] = Field(default_factory=list)


class Extractor:
    """A loaded adapter plus its compiled constrained generator."""

    def __init__(self, adapter: Path, max_new_tokens: int = 512, occurrences: Occurrences = "all") -> None:
        import outlines
        from outlines.types import JsonSchema

        from kgsynth.training.model import load_adapter

        self.adapter = adapter
        self.model, self.tokenizer, self.config = load_adapter(adapter)
        self.max_new_tokens = max_new_tokens
        self.occurrences = occurrences
        lm = outlines.from_transformers(self.model, self.tokenizer)
        # compact JSON, exactly as the training answers were written
        self.generator = outlines.Generator(lm, JsonSchema(Extraction, whitespace_pattern=""))

    def raw(self, text: str) -> str:
        """The constrained answer string for one note (greedy)."""
        return self.generator(prompt_text(self.tokenizer, text), max_new_tokens=self.max_new_tokens, do_sample=False)

    def extract(self, text: str) -> tuple[Extraction, bool]:
        """(answer, complete); a cut answer keeps its complete items and gives ``complete=False``."""
        raw = self.raw(text)
        try:
            return Extraction.model_validate_json(raw), True
        except ValidationError:
            return salvage(raw), False

    def predict(self, record: NoteRecord, report: ExtractReport | None = None) -> NoteRecord:
        """A NoteRecord with the same id and text as ``record`` and predicted annotations."""
        extraction, complete = self.extract(record.text)
        aligned = align(record.text, extraction, self.occurrences)
        if report is not None:
            report.notes += 1
            report.complete += complete
            report.truncated += not complete
            report.entities += len(aligned.entities)
            report.relations += len(aligned.relations)
            report.unplaced_mentions += len(aligned.unplaced_mentions)
            report.dropped_relations += aligned.dropped_relations
            room = 10 - len(report.examples_unplaced)
            report.examples_unplaced.extend(aligned.unplaced_mentions[: max(room, 0)])
        return NoteRecord(
            id=record.id,
            text=record.text,
            entities=aligned.entities,
            relations=aligned.relations,
            model=str(self.adapter),
            backend="kgsynth-extract",
            decoding={"constrained": "outlines-json", "max_new_tokens": self.max_new_tokens, "greedy": True},
            dataset=record.dataset,
        )


_CLOSERS = ("]}", '],"relations":[]}')


def salvage(prefix: str) -> Extraction:
    """The complete items of a truncated compact answer (a prefix of the schema's JSON).

    Cuts after the last complete ``{...}`` item (or list opening) and closes the
    brackets; the empty extraction when nothing complete is left.
    """
    cuts = [i + 1 for i, ch in enumerate(prefix) if ch in "}["]
    for cut in reversed(cuts):
        for closer in _CLOSERS:
            try:
                return Extraction.model_validate_json(prefix[:cut] + closer)
            except ValidationError:
                continue
    return Extraction()


def _done_ids(partial: Path) -> set[str]:
    """Ids already written by an interrupted run (a torn last line is dropped)."""
    done: set[str] = set()
    if not partial.is_file():
        return done
    good: list[str] = []
    for line in partial.read_text(encoding="utf-8").splitlines():
        try:
            done.add(NoteRecord.model_validate_json(line).id)
            good.append(line)
        except ValidationError:
            break
    partial.write_text("".join(g + "\n" for g in good), encoding="utf-8")
    return done


def extract_file(
    extractor: Extractor,
    records: Iterable[NoteRecord],
    out: Path,
    input_name: str,
    total: int | None = None,
    show_progress: bool = True,
) -> ExtractReport:
    """Predict every record into ``out`` (JSONL); an interrupted run resumes without duplicates.

    Lines go to ``out.partial`` as they are made and the file becomes ``out`` only when
    complete, so a reader never sees half a prediction set.
    """
    from kgsynth.console import track_rate

    report = ExtractReport(adapter=str(extractor.adapter), input=input_name, out=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    done = _done_ids(partial)
    started = time.perf_counter()
    with partial.open("a", encoding="utf-8") as fh:
        for record in track_rate(records, total, "extracting", unit="notes", disable=not show_progress):
            if record.id in done:
                report.skipped_done += 1
                continue
            fh.write(extractor.predict(record, report).model_dump_json() + "\n")
            fh.flush()
            done.add(record.id)
    os.replace(partial, out)
    report.seconds = round(time.perf_counter() - started, 2)
    report.notes_per_second = round(report.notes / report.seconds, 3) if report.seconds else 0.0
    return report
