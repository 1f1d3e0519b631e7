"""Written forms: how text names a concept beyond the KB's own list, and how notes and checks use them."""

from __future__ import annotations

import random
from pathlib import Path

from kgsynth.cypher.cover import mention_instance
from kgsynth.evaluation.check import check_notes
from kgsynth.generation.backends import make_backend
from kgsynth.generation.dataset_folder import read_notes
from kgsynth.generation.engine import generate
from kgsynth.generation.prompt import PromptSettings
from kgsynth.generation.written_forms import (
    ADJECTIVE,
    EFFECT_ADJECTIVE,
    forms_of_names,
    with_written_form,
    written_forms,
)
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept


def texts(name: str, group: str = "Disease") -> dict[str, str]:
    return {f.text: f.kind for f in written_forms(name, group)}


def test_inverted_organ_and_head_rewrites():
    forms = texts("Neoplasms, Hepatic")
    assert {"hepatic neoplasms", "liver neoplasms", "liver tumors", "liver tumor", "hepatic tumor"} <= set(forms)
    assert "Neoplasms, Hepatic" not in forms and "neoplasms hepatic" not in forms
    assert {"renal failure", "kidney failure"} <= set(texts("Renal Insufficiency"))
    assert "atypical interstitial pneumonia of cattle" in texts("Pneumonia, Atypical Interstitial, of Cattle")
    assert "substance-induced psychoses" in texts("Psychoses, Substance-Induced")
    assert "substance-induced psychosis" not in texts("Psychoses, Substance-Induced")  # not a countable head
    assert "indicators and reagent" not in texts("Indicators and Reagents", "Chemical")


def test_adjectives_only_for_one_word_diseases():
    assert texts("Hypertension")["hypertensive"] == ADJECTIVE
    assert texts("Cardiotoxicity")["cardiotoxic"] == EFFECT_ADJECTIVE  # "cardiotoxic effects"
    assert texts("Necrosis")["necrotic"] == ADJECTIVE and "sporotrichotic" not in texts("Sporotrichosis")
    assert texts("Epilepsy")["epileptic"] == ADJECTIVE
    assert ADJECTIVE not in texts("Diabetes Mellitus").values()
    assert ADJECTIVE not in texts("Hypertension", "Chemical").values()


def test_mass_nouns_acronyms_and_eponyms_kept():
    assert "hypertensions" not in texts("Hypertension") and "doxorubicins" not in texts("Doxorubicin", "Chemical")
    assert texts("IL-6", "Gene") == {}
    assert "human T lymphotropic virus infections" in texts("Human T Lymphotropic Virus Infections")
    assert "X-Linked agammaglobulinemia" in texts("X-Linked Agammaglobulinemia")
    assert "Parkinson disease" in texts("Parkinson Disease") and "parkinson disease" not in texts("Parkinson Disease")
    assert "heart disease" in texts("Heart Diseases") and "Parkinson diseases" not in texts("Parkinson Disease")
    assert "Boeck's sarcoid" in texts("Boeck's Sarcoid") and "boeck's sarcoid" not in texts("Boeck's Sarcoid")
    assert "hepatitide" not in texts("Hepatitides") and texts("Cidifos", "Chemical") == {"cidifos": "noun"}
    assert "benzenesulfonate" in texts("Benzenesulfonates", "Chemical")


def test_common_words_before_disease_are_no_eponyms():
    def lowered(name: str) -> set[str]:
        return {t for t in texts(name) if not t.startswith(("severe ", "mild ", "recurrent ", "progressive "))}

    assert "glycogen storage disease" in lowered("Glycogen Storage Disease")  # a common noun before Disease
    assert "venereal diseases" in lowered("Venereal Diseases")  # an adjective
    assert "veno-occlusive disease" in lowered("Veno-Occlusive Disease")  # hyphenated, every part common
    assert "agricultural worker's disease" in lowered("Agricultural Worker's Disease")  # a common possessive
    assert "Besnier Boeck disease" in lowered("Besnier Boeck Disease")  # two surnames before the head
    assert "Cushing syndrome" in lowered("Cushing Syndrome")  # a surname with a common ending
    assert "Crigler-Najjar syndrome" in lowered("Crigler-Najjar Syndrome")
    assert "Ehlers-Danlos syndrome" in lowered("Ehlers-Danlos Syndrome")


def test_acids_written_by_their_anion():
    assert texts("Valproic Acid", "Chemical") == {"valproic acid": "noun", "valproate": "noun"}
    assert "urate" in texts("Uric Acid", "Chemical") and "sulfate" in texts("Sulfuric Acid", "Chemical")
    assert texts("Hydrochloric Acid", "Chemical") == {"hydrochloric acid": "noun"}  # chloride is another concept
    assert texts("Fatty Acids", "Chemical") == {"fatty acids": "noun"}
    assert "valproate" not in texts("Valproic Acid", "Disease")


def test_one_course_or_severity_modifier_per_disease_name():
    modified = [t for t in texts("Renal Insufficiency") if t.split()[0] in
                ("severe", "recurrent", "progressive", "mild")]
    assert len(modified) == 1 and modified[0].endswith(" renal insufficiency")
    assert modified == [t for t in texts("Renal Insufficiency") if t.split()[0] == modified[0].split()[0]]
    # "acute"/"chronic" make other concepts ("Renal Insufficiency, Chronic"): never added
    assert not any(t.split()[0] in ("acute", "chronic") for n in ("Renal Insufficiency", "Hepatitis")
                   for t in texts(n))
    assert not any(t.split()[0] in ("severe", "mild") for t in texts("Doxorubicin", "Chemical"))


def test_forms_of_names_drop_the_names_themselves():
    forms = forms_of_names(["Liver Neoplasms", "Liver Tumors"], "Disease")
    assert "liver tumors" not in forms and "liver neoplasms" not in forms
    assert "liver tumor" in forms


NODE = ["MESH:D006973", "Hypertension", "Disease", ["High Blood Pressure"], []]


def test_rate_zero_and_relational_instances_unchanged():
    instance = mention_instance(NODE, "Hypertension", 0)
    assert with_written_form(instance, random.Random(0), 0.0) is instance
    rewritten = with_written_form(instance, random.Random(0), 1.0)
    assert rewritten.id == instance.id and rewritten.mention != "Hypertension"
    assert rewritten.concepts[0].written == {rewritten.mention: texts("Hypertension").get(rewritten.mention)
                                            or "noun"}


def test_notes_with_written_forms_are_grounded_and_pass_check(tmp_path: Path):
    instances = [mention_instance(NODE, "Hypertension", r) for r in range(6)]
    settings = PromptSettings(written_form_rate=1.0)
    report = generate(instances, make_backend("template"), tmp_path / "notes", 12, seed=1, settings=settings,
                      quiet=True)
    assert (report.written, report.rejected) == (12, 0), report.reject_reasons
    records = read_notes(tmp_path / "notes")
    used = set()
    for record in records:
        (entity,) = record.entities
        concept = record.instance.concepts[0]
        assert entity.concept_id == "MESH:D006973" and entity.text == record.instance.mention
        assert entity.text in concept.written and entity.text not in ("Hypertension", "High Blood Pressure")
        assert record.text[entity.start:entity.end] == entity.text
        if concept.written[entity.text] != "noun":  # an adjective: before a noun, or after a copula
            after, before = record.text[entity.end:].split()[0], record.text[:entity.start].split()[-1]
            assert after in ("episodes", "effects") or before in ("was", "been", "remained"), record.text
        used.add(entity.text)
    assert "hypertensive" in used
    store = MemoryStore(tmp_path / "kg.json")
    store.upsert_concepts([Concept(id="MESH:D006973", name="Hypertension", group="Disease",
                                   synonyms=["High Blood Pressure"])])
    assert check_notes(records, store).ungrounded_entities == 0
    # the same notes naming a form no rule derives are caught
    wrong = []
    for record in records[:2]:
        entity = record.entities[0]
        junk = "x" * len(entity.text)
        wrong.append(record.model_copy(update={
            "text": record.text[:entity.start] + junk + record.text[entity.end:],
            "entities": [entity.model_copy(update={"text": junk})]}))
    assert check_notes(wrong, store).ungrounded_entities == 2


def test_cli_written_form_rate(tmp_path: Path):
    """``generate --written-form-rate 0`` writes KB names only; 1 a written form wherever a rule gives one."""
    import json

    from typer.testing import CliRunner

    from kgsynth.cli import app

    instances = tmp_path / "instances.jsonl"
    instances.write_text("".join(mention_instance(NODE, "Hypertension", r).model_dump_json() + "\n"
                                 for r in range(4)), encoding="utf-8")
    used = {}
    for rate in ("0", "1"):
        out = tmp_path / f"notes-{rate}"
        result = CliRunner().invoke(app, ["generate", "--instances", str(instances), "--out", str(out), "--backend",
                                          "template", "--n", "4", "--written-form-rate", rate, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["written"] == 4
        used[rate] = {r.entities[0].text for r in read_notes(out)}
    assert used["0"] == {"Hypertension"}
    assert used["1"] and not used["1"] & {"Hypertension", "High Blood Pressure"}
    bad = CliRunner().invoke(app, ["generate", "--instances", str(instances), "--out", str(tmp_path / "x"),
                                   "--backend", "template", "--written-form-rate", "2"])
    assert bad.exit_code != 0 and "between 0 and 1" in " ".join(bad.output.split())


def test_the_preferred_name_note_uses_the_adjective_form():
    """Every concept with an adjective form gets it in its preferred name's note ("hypertensive")."""
    node = ["MESH:D006973", "Hypertension", "Disease", ["High Blood Pressure"], []]
    preferred = mention_instance(node, "Hypertension", 0)
    assert {with_written_form(preferred, random.Random(seed), 0.5).mention for seed in range(20)} == {"hypertensive"}
    other = mention_instance(node, "High Blood Pressure", 1)
    drawn = {with_written_form(other, random.Random(seed), 0.5).mention for seed in range(40)}
    assert "High Blood Pressure" in drawn and len(drawn) >= 3  # other names: the rate and all forms
    assert with_written_form(preferred, random.Random(0), 0.0) is preferred  # rate 0: names as listed
