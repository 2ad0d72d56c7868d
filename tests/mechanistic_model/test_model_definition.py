"""The definition is one consistent source of truth; variants are edits of it, not copies."""

from __future__ import annotations

import pytest

from hostcap.citations import all_citations
from hostcap.errors import UnknownIdError
from hostcap.mechanistic_model import (
    PHENOTYPES,
    VARIANTS,
    load_definition,
    phenotype_preset,
    phenotype_presets,
    variant_specs,
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_state_has_one_rate_law_and_every_parameter_sits_in_its_range(variant: str) -> None:
    d = load_definition(variant)
    assert set(d.rates) == set(d.state_ids)
    assert 15 <= len(d.state_ids) <= 25
    for p in d.parameters:
        lo, hi = p.range
        assert lo <= p.value <= hi, p.id
        assert p.rationale.strip(), p.id
        assert p.unit, p.id


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_citation_key_resolves_in_the_registry(variant: str) -> None:
    known = set(all_citations())
    keys = [k for k in load_definition(variant).citation_keys() if k != "assumed"]
    assert keys
    missing = [k for k in keys if k not in known]
    assert not missing


def test_edges_carry_a_grade_and_the_essay_links_are_graded_speculative() -> None:
    edges = {e.id: e for e in load_definition("essay").edges}
    assert {e.grade for e in edges.values()} <= {"E", "A", "P", "S"}
    # docs/evidence.md#essay: SIRT1 -> DNMT3A, butyrate -> systemic NAD+ and the essay's H3K9me3
    # direction are speculative or contradicted.
    assert edges["sirt1_dnmt3a"].grade == "S"
    assert edges["energy_nad"].grade == "S"
    assert edges["akg_k9_writer"].grade == "S"
    assert edges["precursor_nad"].grade == "E"


def test_the_essay_variant_is_the_base_unchanged_and_others_are_declared_edits() -> None:
    specs = variant_specs()
    essay = specs["essay"]
    assert not (essay.set_expressions or essay.set_rates or essay.add_parameters)
    assert not (essay.remove_edges or essay.add_edges or essay.initial)
    for name in ("biochemical", "butyrate_direct", "null"):
        spec = specs[name]
        assert spec.set_expressions or spec.set_rates, name
        # Edits touch only a few laws: the rest is shared with the base, never copied.
        assert len(spec.set_expressions) + len(spec.set_rates) <= 4, name
    base = load_definition("essay")
    bio = load_definition("biochemical")
    changed = [s for s in base.state_ids if base.rates[s] != bio.rates[s]]
    assert changed == []  # biochemical changes intermediates, not rate laws
    exprs = {e.id: e.expression for e in base.expressions}
    bio_exprs = {e.id: e.expression for e in bio.expressions}
    assert {k for k in exprs if exprs[k] != bio_exprs[k]} == {
        "dnmt_writer",
        "k9_writer",
        "k9_eraser",
    }


def test_a_variant_drops_parameters_its_equations_no_longer_use() -> None:
    assert "k_dnmt3a" in load_definition("essay").parameter_ids
    assert "k_dnmt3a" not in load_definition("biochemical").parameter_ids
    assert "k_kdm4" in load_definition("biochemical").parameter_ids


def test_phenotype_c_has_its_own_cns_compartment_with_a_barrier() -> None:
    d = load_definition("essay")
    cns_states = {s.id for s in d.states if s.compartment == "cns"}
    assert cns_states == {"cns_mc", "bbb"}


def test_presets_name_only_parameters_of_some_variant() -> None:
    every = set().union(*(load_definition(v).parameter_ids for v in VARIANTS))
    assert set(phenotype_presets()) == set(PHENOTYPES)
    for preset in phenotype_presets().values():
        assert set(preset.parameters) <= every, preset.id


def test_unknown_variant_and_phenotype_name_the_value_and_the_choices() -> None:
    with pytest.raises(UnknownIdError) as exc:
        load_definition("lamarckian")
    assert "lamarckian" in str(exc.value) and "essay" in str(exc.value)
    with pytest.raises(UnknownIdError) as exc2:
        phenotype_preset("D")
    assert "'D'" in str(exc2.value) and "healthy" in str(exc2.value)
    assert phenotype_preset("a").id == "A"
