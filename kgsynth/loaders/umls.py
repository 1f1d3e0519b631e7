"""UMLS Metathesaurus subsets (RRF): MRCONSO names, MRSTY semantic types, MRREL relations.

RRF rows are ``|``-separated with a trailing ``|`` in NLM's fixed column order.
The loader streams each file once: MRCONSO rows of one CUI are contiguous in
NLM's files and fold into one concept; MRSTY adds semantic types and the group,
read side by side with MRCONSO when both are in CUI order (one write per
concept), else in a pass of its own that the store's upsert merges into the same
ids; MRREL rows become relations.
The only thing held in memory is the set of CUIs kept by the filters (so
relations to filtered-out concepts are skipped rather than creating
placeholders): memory grows with concepts, not with relations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from kgsynth import inputs
from kgsynth.errors import InputError
from kgsynth.graph.model import Concept, Provenance, Relation
from kgsynth.graph.schema import GENERIC_RELATION
from kgsynth.loaders.base import LoadContext, Loader, Record, iter_lines, merge_record, split_row
from kgsynth.loaders.identity import normalize_xref, same_as_edges
from kgsynth.loaders.mapping import lookup

if TYPE_CHECKING:
    from kgsynth.loaders.bulk_merge import BulkMerger

#: Column names of each file, in NLM order (the trailing ``|`` adds one empty field).
MRCONSO_COLUMNS = ("CUI", "LAT", "TS", "LUI", "STT", "SUI", "ISPREF", "AUI", "SAUI", "SCUI", "SDUI", "SAB",
                   "TTY", "CODE", "STR", "SRL", "SUPPRESS", "CVF")
MRSTY_COLUMNS = ("CUI", "TUI", "STN", "STY", "ATUI", "CVF")
MRREL_COLUMNS = ("CUI1", "AUI1", "STYPE1", "REL", "CUI2", "AUI2", "STYPE2", "RELA", "RUI", "SRUI", "SAB", "SL",
                 "RG", "DIR", "SUPPRESS", "CVF")

_CUI = re.compile(r"^C\d{7}$")
_TUI = re.compile(r"^T\d{3}$")
#: SUPPRESS values that mean "suppressed" (O obsolete, E editor, Y source-suppressed).
_SUPPRESSED = frozenset({"O", "E", "Y"})
#: MRREL REL codes left out by default: sibling / qualifier / cross-reference bookkeeping, not facts.
DEFAULT_SKIP_REL = frozenset({"SIB", "AQ", "QB", "XR"})
#: UMLS SAB -> KG prefix where the SAB is not itself the vocabulary's usual prefix.
_SAB_PREFIX = {"NCBI": "NCBITaxon", "HPO": "HP", "MDR": "MEDDRA", "NCI": "NCIT", "ORPHANET": "ORPHA"}

#: Semantic type (TUI) -> semantic group. Follows the UMLS semantic groups, except that
#: proteins/enzymes/receptors count as Gene (as BioRED annotates gene products) and
#: signs, symptoms and findings as Phenotype.
TUI_GROUPS: dict[str, str] = {
    **dict.fromkeys(("T019", "T020", "T037", "T046", "T047", "T048", "T049", "T050", "T190", "T191"), "Disease"),
    **dict.fromkeys(("T033", "T034", "T184"), "Phenotype"),
    **dict.fromkeys(("T103", "T104", "T109", "T111", "T114", "T120", "T121", "T122", "T123", "T124", "T125",
                     "T127", "T129", "T130", "T131", "T195", "T196", "T197", "T200"), "Chemical"),
    **dict.fromkeys(("T028", "T116", "T126", "T192"), "Gene"),
    **dict.fromkeys(("T086",), "Variant"),
    **dict.fromkeys(("T058", "T059", "T060", "T061", "T063"), "Procedure"),
    **dict.fromkeys(("T017", "T018", "T021", "T022", "T023", "T024", "T025", "T026", "T029", "T030", "T031"),
                    "Anatomy"),
    **dict.fromkeys(("T001", "T002", "T004", "T005", "T007", "T008", "T010", "T011", "T012", "T013", "T014",
                     "T015", "T016", "T194", "T204"), "Species"),
}
#: When a concept has several semantic types, the first group in this order wins.
_GROUP_ORDER = ("Disease", "Phenotype", "Gene", "Variant", "Chemical", "Species", "Procedure", "Anatomy")


def group_for(tuis: list[str]) -> str:
    groups = {TUI_GROUPS.get(t, "Other") for t in tuis}
    return next((g for g in _GROUP_ORDER if g in groups), "Other")


def find_rrf_dir(path: Path) -> Path:
    """The folder holding MRCONSO.RRF: ``path`` itself or its ``META`` subfolder."""
    if not path.is_dir():
        raise InputError(f"{path}: not a directory (give the folder holding MRCONSO.RRF)")
    for candidate in (path, path / "META"):
        if _present(candidate / "MRCONSO.RRF"):
            return candidate
    present = sorted(p.name for p in path.iterdir())[:10]
    raise InputError(
        f"{path}: no MRCONSO.RRF here or in META/ (found: {', '.join(present) or 'nothing'}); "
        "a UMLS subset needs MRCONSO.RRF and optionally MRSTY.RRF and MRREL.RRF"
    )


class UmlsLoader(Loader):
    """Stream a UMLS RRF subset with language, SAB and suppression filters."""

    source = "UMLS"

    def __init__(
        self,
        path: Path,
        languages: tuple[str, ...] = ("ENG",),
        sabs: tuple[str, ...] = (),
        include_suppressed: bool = False,
        skip_rel: frozenset[str] = DEFAULT_SKIP_REL,
        release: str | None = None,
    ) -> None:
        self.dir = find_rrf_dir(Path(path))
        self.languages = frozenset(languages)
        self.sabs = frozenset(sabs)
        self.include_suppressed = include_suppressed
        self.skip_rel = skip_rel
        self.release = release or _release_of(self.dir)
        self._kept: set[str] = set()

    def _prov(self, file: str) -> Provenance:
        return Provenance(source=self.source, release=self.release, file=file)

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        yield from self._concept_records(ctx)
        if _present(self.dir / "MRREL.RRF"):
            yield from self._relations(ctx)

    def feed_bulk(self, ctx: LoadContext, merger: BulkMerger) -> None:
        """Read natively what is clean (MRCONSO+MRSTY side by side, MRREL), the rest as :meth:`records`."""
        from kgsynth.loaders.umls_bulk import kept_cuis, read_concepts, read_mrrel

        if not read_concepts(self, ctx, merger):
            merger.add_all(self._concept_records(ctx))
        if _present(self.dir / "MRREL.RRF") and not read_mrrel(self, ctx, merger):
            self._kept = kept_cuis(self, merger)
            merger.add_all(self._relations(ctx))

    def _concept_records(self, ctx: LoadContext) -> Iterator[Record]:
        self._kept = set()
        mrsty = self.dir / "MRSTY.RRF"
        has_mrsty = _present(mrsty)
        if has_mrsty and _in_cui_order(self.dir / "MRCONSO.RRF") and _in_cui_order(mrsty):
            # NLM ships both files in CUI order: read them side by side and write each
            # concept once, with its semantic types (a second upsert per concept cost
            # about a seventh of a 10^6-relation load).
            types = _TypesByCui(self._type_groups(ctx), ctx, self._prov("MRSTY.RRF"))
            yield from self._concepts(ctx, types)
            types.skip_rest()
        else:
            yield from self._concepts(ctx, None)
            if has_mrsty:
                yield from self._semantic_types(ctx)

    # -- MRCONSO ---------------------------------------------------------------
    def _rows(self, name: str, columns: tuple[str, ...], ctx: LoadContext) -> Iterator[tuple[Path, int, list[str]]]:
        path = self.dir / name
        expected = len(columns) + 1
        first = True
        for number, text, cut in iter_lines(path, ctx):
            if not text.strip():
                continue
            if first:
                first = False
                found = len(text.split("|"))
                if found != expected and not cut:
                    raise InputError(
                        f"{path}, line {number}: unknown file layout: {found} '|'-separated fields, "
                        f"expected {expected} ({'|'.join(columns)}| as NLM ships {name})"
                    )
            ctx.read()
            fields = split_row(path, number, text, cut, expected, "|", ctx)
            if fields is None:
                continue
            if fields[-1] != "":
                ctx.bad(path, number, text, "missing trailing '|'")
                continue
            yield path, number, fields
        if first:
            raise InputError(f"{path}: no data rows (only blank lines); give {name} as NLM ships it, or leave "
                             "it out")

    def _concepts(self, ctx: LoadContext, types: _TypesByCui | None) -> Iterator[Record]:
        prov = self._prov("MRCONSO.RRF")
        current: str | None = None
        rows: list[list[str]] = []
        for path, number, f in self._rows("MRCONSO.RRF", MRCONSO_COLUMNS, ctx):
            cui = f[0]
            if not _CUI.match(cui):
                ctx.bad(path, number, "|".join(f), "bad id", f"CUI {cui!r} is not C followed by 7 digits")
                continue
            if self.languages and f[1] not in self.languages:
                ctx.skip("language filtered")
                continue
            if self.sabs and f[11] not in self.sabs:
                ctx.skip("SAB filtered")
                continue
            if not self.include_suppressed and f[16] in _SUPPRESSED:
                ctx.skip("suppressed")
                continue
            if cui != current and rows:
                yield from self._concept(rows, prov, ctx, types)
                rows = []
            current = cui
            rows.append(f)
        if rows:
            yield from self._concept(rows, prov, ctx, types)

    def _concept(
        self, rows: list[list[str]], prov: Provenance, ctx: LoadContext, types: _TypesByCui | None
    ) -> Iterator[Record]:
        cui = f"UMLS:{rows[0][0]}"
        preferred = next((r[14] for r in rows if r[2] == "P" and r[4] == "PF" and r[6] == "Y"), rows[0][14])
        names = list(dict.fromkeys(r[14] for r in rows if r[14]))
        xrefs = []
        for r in rows:
            sab, code = r[11], r[13]
            xref = normalize_xref(_SAB_PREFIX.get(sab, sab), code) if code and code != "NOCODE" else None
            if xref:
                xrefs.append(xref)
        xrefs = list(dict.fromkeys(xrefs))
        ctx.merged += len(rows) - 1
        self._kept.add(rows[0][0])
        concept = Concept(
            id=cui,
            name=preferred,
            synonyms=[n for n in names if n != preferred],
            xrefs=xrefs,
            provenance=[prov],
        )
        found = types.take(rows[0][0]) if types is not None else None
        if found:
            concept = merge_record(concept, self._typed(rows[0][0], found, types.prov, ctx))
        yield concept
        yield from same_as_edges(cui, xrefs, prov)

    # -- MRSTY -----------------------------------------------------------------
    def _semantic_types(self, ctx: LoadContext) -> Iterator[Record]:
        """MRSTY as its own pass, for files not in CUI order: one typed record per kept CUI, merged by the store."""
        prov = self._prov("MRSTY.RRF")
        for cui, types in self._type_groups(ctx):
            if cui in self._kept:
                yield self._typed(cui, types, prov, ctx)
            else:
                ctx.skip(_NOT_LOADED, len(types))

    def _type_groups(self, ctx: LoadContext) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        """``(CUI, [(TUI, type name), ...])`` for each run of consecutive MRSTY rows of one CUI."""
        current: str | None = None
        types: list[tuple[str, str]] = []
        for path, number, f in self._rows("MRSTY.RRF", MRSTY_COLUMNS, ctx):
            cui, tui = f[0], f[1]
            if not _CUI.match(cui) or not _TUI.match(tui):
                ctx.bad(path, number, "|".join(f), "bad id", f"CUI {cui!r} / TUI {tui!r}")
                continue
            if cui != current and types and current is not None:
                yield current, types
                types = []
            current = cui
            types.append((tui, f[3]))
        if types and current is not None:
            yield current, types

    @staticmethod
    def _typed(cui: str, types: list[tuple[str, str]], prov: Provenance, ctx: LoadContext) -> Concept:
        ctx.merged += len(types) - 1
        return Concept(
            id=f"UMLS:{cui}",
            semantic_types=[name or tui for tui, name in types],
            group=group_for([tui for tui, _ in types]),
            provenance=[prov],
        )

    # -- MRREL -----------------------------------------------------------------
    def _relations(self, ctx: LoadContext) -> Iterator[Record]:
        prov = self._prov("MRREL.RRF")
        mapped: dict[tuple[str, str], tuple[str | None, bool, str]] = {}
        for path, number, f in self._rows("MRREL.RRF", MRREL_COLUMNS, ctx):
            cui1, rel, cui2, rela, sab, suppress = f[0], f[3], f[4], f[7], f[10], f[14]
            if not _CUI.match(cui1) or not _CUI.match(cui2):
                ctx.bad(path, number, "|".join(f), "bad id", f"CUI1 {cui1!r} / CUI2 {cui2!r}")
                continue
            if not rel:
                ctx.bad(path, number, "|".join(f), "missing REL")
                continue
            if self.sabs and sab not in self.sabs:
                ctx.skip("SAB filtered")
                continue
            if not self.include_suppressed and suppress in _SUPPRESSED:
                ctx.skip("suppressed")
                continue
            if rel in self.skip_rel and not rela:
                ctx.skip(f"REL {rel} not loaded")
                continue
            if cui1 == cui2:
                ctx.skip("self relation")
                continue
            if cui1 not in self._kept or cui2 not in self._kept:
                ctx.skip("endpoint not loaded")
                continue
            scheme, label = ("RELA", rela) if rela else ("REL", rel)
            # REL/RELA is "the relationship of the second concept to the first": CUI2 <label> CUI1.
            how = mapped.get((scheme, label))
            if how is None:
                how = mapped[scheme, label] = _mapping_of(scheme, label)
            type_, flip, source_label = how
            if type_ is None:  # counted and loaded as RELATED_TO, as map_relation does
                ctx.unknown_label(source_label)
                type_ = GENERIC_RELATION
            a, b = (f"UMLS:{cui1}", f"UMLS:{cui2}") if flip else (f"UMLS:{cui2}", f"UMLS:{cui1}")
            # What map_relation builds, with the mapping looked up once per label and the
            # record built unvalidated: every value is already known good (CUIs checked
            # above, a type from the table), and this loop runs once per MRREL row.
            yield Relation.model_construct(
                subject=a, type=type_, object=b, source_labels=[source_label], evidence=[], novelty="",
                provenance=[prov],
            )


_NOT_LOADED = "semantic type of a concept not loaded"


class _TypesByCui:
    """MRSTY groups handed out in step with MRCONSO's concepts; both files must be in CUI order."""

    def __init__(
        self, groups: Iterator[tuple[str, list[tuple[str, str]]]], ctx: LoadContext, prov: Provenance
    ) -> None:
        self._groups = groups
        self._ctx = ctx
        self.prov = prov  # MRSTY's provenance, one object for the whole file
        self._next = next(groups, None)

    def take(self, cui: str) -> list[tuple[str, str]] | None:
        """The types of ``cui``; groups of smaller CUIs (concepts filtered out) are counted as skipped."""
        while self._next is not None and self._next[0] < cui:
            self._ctx.skip(_NOT_LOADED, len(self._next[1]))
            self._next = next(self._groups, None)
        if self._next is None or self._next[0] != cui:
            return None
        found = self._next[1]
        self._next = next(self._groups, None)
        return found

    def skip_rest(self) -> None:
        """Read the groups after the last concept (to count and check them)."""
        while self._next is not None:
            self._ctx.skip(_NOT_LOADED, len(self._next[1]))
            self._next = next(self._groups, None)


def _in_cui_order(path: Path) -> bool:
    """Whether the rows are sorted by their first field (the CUI), as NLM ships them.

    A quick scan of raw bytes, before any row is parsed: it decides whether MRSTY can be
    read side by side with MRCONSO. Bad rows are left to the real pass to report.
    """
    previous = b""
    with inputs.open_binary(path) as handle:
        for line in handle:
            cui = line.split(b"|", 1)[0]
            if cui < previous:
                return False
            previous = cui
    return True


def _present(path: Path) -> bool:
    """An optional file: absent is fine; present means it must be readable (a directory or a dangling
    link named MRSTY.RRF is an error, not a file to skip silently)."""
    if not inputs.is_input_entry(path):
        return False
    inputs.check_file(path)
    return True


def _mapping_of(scheme: str, label: str) -> tuple[str | None, bool, str]:
    """``(type, flip, source label)`` of an MRREL label as :func:`map_relation` maps it; type ``None``: unknown."""
    row = lookup(scheme, label)
    return (None, False, f"{scheme}:{label}") if row is None else (row.type, row.flip, f"{scheme}:{label}")


def _release_of(folder: Path) -> str:
    """The release named in ``release.dat`` (NLM ships one beside META/), else the folder name."""
    for candidate in (folder / "release.dat", folder.parent / "release.dat"):
        if candidate.is_file():
            for line in candidate.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("umls.release.name="):
                    return line.split("=", 1)[1].strip()
    return folder.name if folder.name != "META" else folder.parent.name
