"""Forms a writer uses for a concept beyond the KB's own names, for mention notes and linker data.

A KB lists a vocabulary's names ("Neoplasms, Hepatic", "Hypertension"); abstracts write
"hepatic neoplasms", "liver tumors", "hypertensive patients". A linker trained on notes that
use only the KB's names learns the synonymy its name index already holds (``bench/link.py``
measured that: -0.4 / +1.0 points Recall@1 over the untrained encoder), so a single-concept
note may name its concept by a *written form*: a deterministic rewrite of one of its names,
still grounded to the concept's id. The rules, with word lists in ``prompts/written_forms.yaml``:

* ``uninverted``: MeSH's "Neoplasms, Hepatic" -> "hepatic neoplasms";
* ``lower case``: every word but acronyms and symbols ("DNA", "IL-6") and eponyms: a word before
  "Disease"/"Syndrome" that is no common word ("Parkinson disease", but "glycogen storage
  disease", "vascular disease") or a capitalized possessive ("Boeck's sarcoid");
* ``number``: the head (last) word singular <-> plural ("neoplasm", "tumors");
* ``organ noun``: an organ adjective written as its noun before heads such as "failure" or
  "neoplasms" ("hepatic" -> "liver"; "hepatic encephalopathy" stays);
* ``head synonym``: "neoplasms" -> "tumors", "insufficiency" -> "failure";
* ``modifier``: a severity or course word before a disease ("severe hypertension"), one per
  name (chosen by the name's hash), as text names a concept inside a longer span;
* ``anion``: an "-ic acid" chemical by its "-ate" anion ("valproic acid" -> "valproate");
* ``adjective``: a one-word disease as the adjective written before a noun
  ("hypertension" -> "hypertensive", used in adjective templates: "hypertensive patients").

:func:`kgsynth.evaluation.check` accepts a written form of a concept's names as grounded,
since the same rules derive it.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

from kgsynth.cypher.instance import MotifInstance

#: Kinds of written form: a noun, an adjective written before patients/episodes/changes
#: ("hypertensive"), one written before effects ("cardiotoxic").
NOUN, ADJECTIVE, EFFECT_ADJECTIVE = "noun", "adjective", "effect adjective"
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class WrittenForm:
    """One way to write a name: the text and its kind (:data:`NOUN`, :data:`ADJECTIVE`, ...)."""

    text: str
    kind: str


@lru_cache(maxsize=1)
def _tables() -> dict:
    from kgsynth.generation.prompt import read_yaml

    return read_yaml("written_forms.yaml")


def _is_acronym(word: str) -> bool:
    """ "DNA", "IL-6", and a single capital letter ("T", "X-Linked", "B-Cell"): kept as written."""
    return bool(re.search(r"[A-Z]{2}|[0-9]|^[A-Z](?:-|$)", word))


def _lower(text: str) -> str:
    """Lower case but acronyms and eponyms ("Parkinson" before "Disease", any capitalized possessive:
    "Boeck's Sarcoid" -> "Boeck's sarcoid"; organ and other common words are no eponyms; surnames
    before an eponym before the head are eponyms too: "Besnier Boeck disease")."""
    words = text.split()
    organs = {w for pair in _tables()["organ_nouns"].items() for w in pair}
    out: list[str] = []
    named = False  # the word after this one is "Disease"/"Syndrome" or an eponym before it
    for word in reversed(words):  # right to left, so "Besnier Boeck Disease" keeps both surnames
        capitalized = word[:1].isupper() and word.lower() not in organs
        possessive = word.endswith(("'s", "\u2019s"))
        eponym = capitalized and (named or possessive) and not _common_word(word[:-2] if possessive else word)
        out.append(word if _is_acronym(word) or eponym else word.lower())
        named = word.lower() in ("disease", "syndrome") or (named and eponym)
    return " ".join(reversed(out))


def _common_word(word: str) -> bool:
    """Whether a word before "Disease"/"Syndrome" is a common word, not a surname ("Storage", "Vascular")."""
    tables = _tables()
    parts = [p for p in word.lower().strip(",").split("-") if p]
    if not parts or any(p in tables["eponyms_with_common_endings"] for p in parts):
        return False

    def common(part: str) -> bool:
        return part in tables["common_words_before_head"] or part.endswith(tuple(tables["common_word_endings"]))

    *heads, last = parts
    return common(last) and all(common(p) or p in tables["combining_prefixes"] or p.endswith("o") for p in heads)


def _uninvert(name: str) -> str:
    """ "Carcinoma, Squamous Cell" -> "Squamous Cell Carcinoma"; a part that opens with a lower-case
    word stays after the head ("Pneumonia, Atypical Interstitial, of Cattle" -> "Atypical Interstitial
    Pneumonia of Cattle"); other names as they are."""
    parts = [p.strip() for p in name.split(", ")]
    if len(parts) < 2 or any(not p or any(c.isdigit() for c in p) for p in parts):
        return name
    head, rest = parts[0], parts[1:]
    modifiers = [p for p in rest if not p[0].islower()]
    tails = [p for p in rest if p[0].islower()]
    return " ".join([*reversed(modifiers), head, *tails])


def _plural(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if word.endswith("sis"):
        return word[:-3] + "ses"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _singular(word: str) -> str | None:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("oses", "yses", "eses")):
        return word[:-2] + "is"
    if word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return None


def _number(text: str, group: str) -> str | None:
    """The head word's other number: countable disease heads, and chemical class names made singular."""
    words = text.split()
    head = words[-1]
    if not _WORD.fullmatch(head) or len(head) < 4 or _is_acronym(head) or "and" in words:
        return None  # "indicators and reagents": the number belongs to both
    heads = _tables()["countable_heads"]
    if head.endswith("s"):
        single = _singular(head)
        if single is None:
            return None
        if group == "Chemical":
            ok = head.lower().endswith(tuple(_tables()["chemical_plurals"]))
        else:
            ok = single.lower() in heads["plural"] or single.lower() in heads["singular"]
        flipped = single if ok else None
    else:
        flipped = _plural(head) if head.lower() in heads["plural"] else None
    return " ".join([*words[:-1], flipped]) if flipped else None


def _swap_words(text: str, table: dict[str, str | list[str]], last_only: bool) -> list[str]:
    words = text.split()
    out = []
    for i, word in enumerate(words):
        if last_only and i != len(words) - 1:
            continue
        for new in ([table[word]] if isinstance(table.get(word), str) else table.get(word, [])):
            out.append(" ".join([*words[:i], new, *words[i + 1:]]))
    return out


def _adjective(text: str) -> tuple[str, str] | None:
    """(adjective, kind) of a one-word disease name, kind :data:`ADJECTIVE` or :data:`EFFECT_ADJECTIVE`."""
    if " " in text or not _WORD.fullmatch(text) or len(text) < 6:
        return None
    for ending, adjective, before in _tables()["adjective_endings"]:
        if ending == "osis" and len(text) > _tables()["max_osis_letters"]:
            continue
        if text.endswith(ending):
            return text[: -len(ending)] + adjective, EFFECT_ADJECTIVE if before == "effect" else ADJECTIVE
    return None


def written_forms(name: str, group: str) -> list[WrittenForm]:
    """The written forms of ``name`` (a concept of ``group``), the name itself excluded."""
    tables = _tables()
    base = _lower(_uninvert(" ".join(name.split())))
    if not base:
        return []
    forms: dict[str, WrittenForm] = {}

    def add(text: str | None, kind: str = NOUN) -> None:
        if text and text != name and text not in forms:
            forms[text] = WrittenForm(text, kind)

    nouns = [base]
    if base.split()[-1].lower() in tables["organ_heads"]:
        nouns += _swap_words(base, tables["organ_nouns"], last_only=False)
    nouns += [t for b in list(nouns) for t in _swap_words(b, tables["head_synonyms"], last_only=True)]
    for text in nouns:
        add(text)
        add(_number(text, group))
    if group == "Disease" and base.split()[0].lower() not in tables["disease_modifiers"]:
        modifiers = tables["disease_modifiers"]
        add(f"{modifiers[zlib.crc32(name.encode('utf-8')) % len(modifiers)]} {base}")
    adjective = _adjective(base) if group in ("Disease", "Phenotype") else None
    if adjective:
        add(*adjective)
    if group == "Chemical":
        add(_conjugate_base(base))
    return list(forms.values())


def _conjugate_base(text: str) -> str | None:
    """ "valproic acid" -> "valproate", "folic acid" -> "folate": how text names an acid by its anion.

    Only "-ic acid" names, whose "-ate" form names the same MeSH concept (BC5CDR links "valproate"
    to Valproic Acid); inorganic acids whose anion is spelled otherwise come from a table
    ("sulfuric" -> "sulfate"), and those whose anion is another concept are left alone.
    """
    match = re.fullmatch(r"(.*?)([a-z]{2,})ic acids?", text)
    if match is None:
        return None
    prefix, stem = match.groups()
    table = _tables()["acid_anions"]
    word = table.get(f"{stem}ic", f"{stem}ate")
    if not word:
        return None
    return f"{prefix}{word}{'s' if text.endswith('acids') else ''}"


def forms_of_names(names: list[str], group: str) -> dict[str, WrittenForm]:
    """Every written form of any of ``names`` that is not itself one of them (case-insensitively)."""
    known = {n.casefold() for n in names}
    out: dict[str, WrittenForm] = {}
    for name in names:
        for form in written_forms(name, group):
            if form.text.casefold() not in known:
                out.setdefault(form.text, form)
    return out


def with_written_form(instance: MotifInstance, rng: random.Random, rate: float) -> MotifInstance:
    """A single-concept instance whose mention is, with probability ``rate``, a written form of a name.

    A note of the concept's preferred name is written with its adjective form when it has one (and
    ``rate`` is above 0), so that every such concept has adjective notes under ``--every-name``.

    The form is recorded on the concept (``written``: form -> noun/adjective), so the tag
    check and the record carry it; other instances come back unchanged.
    """
    if not instance.single_concept or rate <= 0:
        return instance
    concept = instance.concepts[0]
    forms = None
    if instance.mention == concept.name:
        forms = forms_of_names([concept.name, *concept.synonyms], concept.group)
        adjectives = sorted(t for t, f in forms.items() if f.kind != NOUN)
        if adjectives:
            # The preferred name's note is written with the adjective ("hypertensive" for Hypertension):
            # a dozen "Hypertensive ..." concepts teach the word in their own names, and a random draw
            # among a concept's forms gave the adjective to too few of its notes.
            return _written(instance, forms[rng.choice(adjectives)])
    if rng.random() >= rate:  # a note that keeps its name needs no forms derived
        return instance
    forms = forms if forms is not None else forms_of_names([concept.name, *concept.synonyms], concept.group)
    if not forms:
        return instance
    return _written(instance, forms[rng.choice(sorted(forms))])


def _written(instance: MotifInstance, form: WrittenForm) -> MotifInstance:
    """``instance`` mentioning its concept by ``form``, recorded on the concept."""
    concept = instance.concepts[0]
    written = concept.model_copy(update={"written": {form.text: form.kind}})
    return instance.model_copy(update={"mention": form.text, "concepts": [written]})
