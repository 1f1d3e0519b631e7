"""SNOMED CT RF2 snapshots: concepts, English descriptions and relationships.

RF2 files are tab-separated with a header row. A snapshot should hold one row per
component id, but files assembled from several releases can repeat an id, so for
every component the row with the latest ``effectiveTime`` wins and only active
components are loaded. That rule needs all rows of a file before deciding, so this
loader keeps compact per-id tuples in memory (not streaming, unlike UMLS); a full
International release fits in a few GB, subsets in far less.

Ids are ``SNOMEDCT:<sctid>``; a concept's name is its FSN without the semantic tag,
and the tag (``disorder``, ``body structure`` ...) sets its semantic group.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from kgsynth import inputs
from kgsynth.errors import InputError
from kgsynth.graph.model import Concept, Provenance
from kgsynth.loaders.base import LoadContext, Loader, Record, tsv_rows
from kgsynth.loaders.mapping import map_relation

CONCEPT_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "definitionStatusId")
DESCRIPTION_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term",
                       "caseSignificanceId")
RELATIONSHIP_COLUMNS = ("id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId",
                        "relationshipGroup", "typeId", "characteristicTypeId", "modifierId")

FSN_TYPE = "900000000000003001"
SYNONYM_TYPE = "900000000000013009"

_SCTID = re.compile(r"^\d{6,18}$")
_DATE = re.compile(r"^\d{8}$")
_TAG = re.compile(r"^(?P<term>.*\S)\s+\((?P<tag>[^()]+)\)$")
_RELEASE = re.compile(r"_([A-Za-z]+_\d{8})\.txt$")

#: FSN semantic tag -> semantic group.
TAG_GROUPS: dict[str, str] = {
    "disorder": "Disease",
    "disease": "Disease",
    "finding": "Phenotype",
    "body structure": "Anatomy",
    "cell structure": "Anatomy",
    "cell": "Anatomy",
    "substance": "Chemical",
    "product": "Chemical",
    "medicinal product": "Chemical",
    "medicinal product form": "Chemical",
    "clinical drug": "Chemical",
    "procedure": "Procedure",
    "regime/therapy": "Procedure",
    "organism": "Species",
}

_FILES = {
    "concept": "sct2_Concept_Snapshot",
    "description": "sct2_Description_Snapshot-en",
    "relationship": "sct2_Relationship_Snapshot",
}


def find_rf2_files(path: Path) -> dict[str, Path]:
    """The three snapshot files under ``path`` (searched recursively, as releases nest them)."""
    if not path.is_dir():
        raise InputError(f"{path}: not a directory (give an RF2 release or its Snapshot folder)")
    found: dict[str, Path] = {}
    for kind, prefix in _FILES.items():
        matches = sorted(path.rglob(f"{prefix}*.txt"))
        for match in matches:
            inputs.check_file(match)  # a directory or dangling link with a snapshot name is an error
        if len(matches) > 1:
            raise InputError(f"{path}: several {prefix}*.txt files ({', '.join(m.name for m in matches)}); "
                             "point at one release's Snapshot folder")
        if matches:
            found[kind] = matches[0]
    missing = [f"{_FILES[k]}*.txt" for k in ("concept", "description") if k not in found]
    if missing:
        raise InputError(f"{path}: not an RF2 snapshot: missing {', '.join(missing)} "
                         "(needs sct2_Concept_Snapshot, sct2_Description_Snapshot-en, "
                         "and optionally sct2_Relationship_Snapshot)")
    return found


def split_fsn(fsn: str) -> tuple[str, str]:
    """``'Anthrax (disorder)'`` -> ``('Anthrax', 'disorder')``; no tag -> ``(fsn, '')``."""
    match = _TAG.match(fsn)
    return (match["term"], match["tag"]) if match else (fsn, "")


class SnomedLoader(Loader):
    """Load an RF2 snapshot: active concepts with FSN/synonyms, active relationships."""

    source = "SNOMEDCT"

    def __init__(self, path: Path, release: str | None = None) -> None:
        self.files = find_rf2_files(Path(path))
        match = _RELEASE.search(self.files["concept"].name)
        self.release = release or (match.group(1) if match else "")

    def _prov(self, kind: str) -> Provenance:
        return Provenance(source=self.source, release=self.release, file=self.files[kind].name)

    def _rows(self, kind: str, columns: tuple[str, ...], ctx: LoadContext) -> Iterator[tuple[Path, int, list[str]]]:
        """Data rows of one file after its header is checked; ``#`` comments and blank lines are ignored."""
        path = self.files[kind]
        for number, text, fields in tsv_rows(path, columns, ctx):
            if not _SCTID.match(fields[0]) or not _DATE.match(fields[1]) or fields[2] not in ("0", "1"):
                ctx.bad(path, number, text, "bad id", f"id {fields[0]!r}, effectiveTime {fields[1]!r}, "
                        f"active {fields[2]!r}")
                continue
            yield path, number, fields

    @staticmethod
    def _latest(rows: Iterator[tuple[Path, int, list[str]]], ctx: LoadContext) -> dict[str, list[str]]:
        """Keep, per component id, the row with the latest effectiveTime (ties: the later row)."""
        latest: dict[str, list[str]] = {}
        for _, _, fields in rows:
            old = latest.get(fields[0])
            if old is not None:
                ctx.merged += 1
                if old[1] > fields[1]:
                    continue
            latest[fields[0]] = fields
        return latest

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        concepts = self._latest(self._rows("concept", CONCEPT_COLUMNS, ctx), ctx)
        active = {cid for cid, f in concepts.items() if f[2] == "1"}
        ctx.skip("inactive concept", len(concepts) - len(active))
        del concepts

        names: dict[str, str] = {}
        synonyms: dict[str, list[str]] = {}
        checked = (
            (p, n, f) for p, n, f in self._rows("description", DESCRIPTION_COLUMNS, ctx)
            if self._ids_ok(p, n, f, (4,), ctx)
        )
        descriptions = self._latest(checked, ctx)
        for f in descriptions.values():
            if f[2] != "1":
                ctx.skip("inactive description")
                continue
            if f[4] not in active:
                ctx.skip("description of an inactive or unknown concept")
                continue
            if f[6] == FSN_TYPE:
                names[f[4]] = f[7]
            else:
                synonyms.setdefault(f[4], []).append(f[7])
        del descriptions

        prov = self._prov("description")
        for cid in sorted(active, key=int):
            fsn = names.get(cid, "")
            term, tag = split_fsn(fsn)
            others = sorted(set(synonyms.get(cid, [])) - {term})
            yield Concept(
                id=f"SNOMEDCT:{cid}",
                name=term,
                synonyms=([fsn] if fsn and fsn != term else []) + others,
                semantic_types=[tag] if tag else [],
                group=TAG_GROUPS.get(tag, "Other"),
                provenance=[prov],
            )

        if "relationship" in self.files:
            yield from self._relationships(ctx, active)

    def _relationships(self, ctx: LoadContext, active: set[str]) -> Iterator[Record]:
        prov = self._prov("relationship")
        checked = (
            (p, n, f) for p, n, f in self._rows("relationship", RELATIONSHIP_COLUMNS, ctx)
            if self._ids_ok(p, n, f, (4, 5, 7), ctx)
        )
        latest = self._latest(checked, ctx)
        for rid in sorted(latest, key=int):
            f = latest[rid]
            if f[2] != "1":
                ctx.skip("inactive relationship")
                continue
            source, destination, type_id = f[4], f[5], f[7]
            if source not in active or destination not in active:
                ctx.skip("relationship to an inactive or unknown concept")
                continue
            yield map_relation("SNOMEDCT", type_id, f"SNOMEDCT:{source}", f"SNOMEDCT:{destination}", prov, ctx)

    @staticmethod
    def _ids_ok(path: Path, number: int, f: list[str], columns: tuple[int, ...], ctx: LoadContext) -> bool:
        """Check the id columns that point at concepts (conceptId, sourceId ...)."""
        wrong = [f"{f[i]!r}" for i in columns if not _SCTID.match(f[i])]
        if not wrong:
            return True
        ctx.bad(path, number, "\t".join(f), "bad id", f"not an SCTID: {', '.join(wrong)}")
        return False
