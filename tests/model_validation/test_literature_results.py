"""The published-results data file: every field, citations, split, quotes, runnable designs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hostcap.citations import all_citations
from hostcap.model_validation import (
    LiteratureResult,
    ResultStatus,
    Split,
    SpreadKind,
    check_literature_results,
    literature_results,
    result_protocols,
)
from hostcap.model_validation.literature_results import _raw
from hostcap.model_validation.validation_report import review_changed_ids


def _by_id(result_id: str) -> LiteratureResult:
    return next(r for r in literature_results() if r.id == result_id)


def test_the_packaged_file_validates_with_no_issue_at_all() -> None:
    assert check_literature_results(_raw()) == []


def test_there_are_at_least_20_results_and_8_held_out_with_a_declared_split() -> None:
    results = literature_results()
    assert len(results) >= 20
    assert sum(r.split == Split.HELD_OUT for r in results) >= 8
    assert sum(r.split == Split.HELD_OUT and r.expressible for r in results) >= 8
    raw_items = _raw()["results"]
    assert all("split" in item for item in raw_items), "the split must be declared, not defaulted"


def test_every_citation_key_is_defined() -> None:
    known = all_citations()
    missing = sorted({r.citation for r in literature_results()} - set(known))
    assert missing == []


def test_every_number_has_a_quote_or_says_where_it_came_from() -> None:
    for r in literature_results():
        assert r.quote.strip() and r.quote_location.strip(), r.id
        if r.published is not None and not r.verified_quote:
            assert r.quote_note.strip(), f"{r.id}: unverified number without a note"
        if r.verified_quote:
            assert r.quote_url, r.id


def test_not_found_results_carry_no_number_and_unexpressible_ones_say_what_is_missing() -> None:
    for r in literature_results():
        if r.status == ResultStatus.NOT_FOUND:
            assert (r.published, r.published_low, r.published_high) == (None, None, None), r.id
        if r.status == ResultStatus.NOT_EXPRESSIBLE:
            assert r.missing.strip(), r.id


def test_ranges_contain_their_value_and_point_values_have_no_width() -> None:
    for r in literature_results():
        if r.published is None:
            continue
        assert r.published_low is not None and r.published_high is not None
        assert r.published_low <= r.published <= r.published_high, r.id
        if r.spread_kind == SpreadKind.POINT_ONLY:
            assert r.published_low == r.published == r.published_high, r.id
        if r.spread_kind == SpreadKind.REPORTED_PRECISION:
            assert r.published - r.published_low == pytest.approx(r.published_high - r.published), (
                r.id
            )


def test_every_available_result_has_a_runnable_protocol() -> None:
    for r in literature_results():
        if not r.expressible:
            continue
        assert r.design is not None
        treat, comparator = result_protocols(r)
        if r.design.protocol:
            assert treat is not None and treat.phases, r.id
        if r.design.comparator:
            assert comparator is not None, r.id


def test_the_families_named_by_the_issue_are_all_covered() -> None:
    families = {r.family for r in literature_results()}
    for family in (
        "nad_precursor",
        "scfa_butyrate",
        "tryptase_level",
        "tryptase_kinetics",
        "crp_kinetics",
        "antihistamine_onset",
        "antihistamine_effect",
        "mcas_intervention",
    ):
        assert family in families


def test_conze_2019_is_the_calibration_target_and_airhart_is_held_out() -> None:
    assert _by_id("conze2019_nr300_day14").split == Split.CALIBRATION
    assert _by_id("conze2019_nr300_day14").published == 51.0
    assert _by_id("airhart2017_nr2000_day9").split == Split.HELD_OUT


def _mutated(result_id: str, **changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(_raw())
    item = next(i for i in raw["results"] if i["id"] == result_id)
    for key, value in changes.items():
        if value is None and key.startswith("-"):
            item.pop(key[1:], None)
        else:
            item[key] = value
    return raw


def test_the_checks_report_every_problem_with_its_location() -> None:
    raw = _mutated(
        "conze2019_nr300_day14",
        citation="nobody2099",
        published=60.0,
        quote_note="",
        verified_quote=False,
    )
    raw["results"].append(copy.deepcopy(raw["results"][0]))
    issues = check_literature_results(raw)
    text = "\n".join(str(i) for i in issues)
    assert "conze2019_nr300_day14.citation" in text
    assert "conze2019_nr300_day14.published" in text  # outside its own range
    assert "conze2019_nr300_day14.quote_note" in text
    assert "duplicate id" in text


def test_a_missing_split_or_a_number_in_a_not_found_entry_is_an_issue() -> None:
    raw = _mutated("mcas_faecal_butyrate", published=1.0)
    raw["results"][0].pop("split")
    issues = [str(i) for i in check_literature_results(raw)]
    assert any("split" in i for i in issues)
    assert any("mcas_faecal_butyrate.published" in i for i in issues)


def test_a_design_with_an_unknown_intervention_or_no_comparator_is_an_issue() -> None:
    raw = _mutated("birkeland2020_inulin16_week6")
    item = next(i for i in raw["results"] if i["id"] == "birkeland2020_inulin16_week6")
    item["design"] = dict(item["design"], comparator=None)
    item["design"]["protocol"] = [{"start_week": 0, "interventions": [{"id": "magic", "dose": 1}]}]
    issues = [str(i) for i in check_literature_results(raw)]
    assert any("design.comparator" in i for i in issues)
    assert any("unknown intervention 'magic'" in i for i in issues)


def test_a_null_difference_range_that_excludes_no_change_is_an_issue() -> None:
    raw = _mutated("james2015_rs_wb_butyrate_controls", published_low=10.0, published_high=139.42)
    text = "\n".join(str(i) for i in check_literature_results(raw))
    assert "james2015_rs_wb_butyrate_controls.published_low" in text
    assert "contains no difference" in text
    assert not check_literature_results(_raw())


def test_the_held_out_review_results_are_declared_with_their_split() -> None:
    assert _by_id("james2015_rs_wb_butyrate_controls").split == Split.HELD_OUT
    assert _by_id("james2015_rs_wb_butyrate_controls").spread_kind == SpreadKind.NULL_DIFFERENCE
    assert _by_id("santonocito2014_crp_peak_day").split == Split.HELD_OUT
    assert _by_id("day1998_cetirizine_onset").split == Split.CALIBRATION
    assert _by_id("day1998_loratadine_onset").split == Split.CALIBRATION
    assert _by_id("day1998_loratadine_onset").design is not None


def test_every_result_the_review_names_exists() -> None:
    # The page's strict held-out score leaves these out; a misspelt id would silently stay in.
    known = {r.id for r in literature_results()}
    assert review_changed_ids() <= known
    assert "tryptase_baseline_hat3" in review_changed_ids()
