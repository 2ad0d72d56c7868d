"""Instrument scoring against hand-computed examples, and every validation message form."""

from __future__ import annotations

import pytest

from hostcap.catalog import (
    Instrument,
    beighton_cutoff,
    get_instrument,
    instruments,
    score_instrument,
)
from hostcap.citations import require_citations
from hostcap.errors import UnknownIdError, ValidationError


def _max_answers(instrument_id: str) -> list[float]:
    return [item.max for item in get_instrument(instrument_id).items]


@pytest.mark.parametrize("instrument", list(instruments().values()), ids=lambda i: i.id)
def test_every_instrument_is_well_formed_and_cited(instrument: Instrument) -> None:
    assert instrument.n_items == len(instrument.items)
    assert require_citations(instrument.citation_keys()) == []
    assert instrument.licence_note and instrument.validated_population
    low = score_instrument(instrument, [i.min for i in instrument.items])
    high = score_instrument(instrument, [i.max for i in instrument.items])
    if instrument.method != "active_stand":
        assert instrument.total_range == (low.total, high.total)


def test_the_required_instruments_are_present() -> None:
    assert {
        "gsrs",
        "fss",
        "compass31",
        "mct",
        "beighton",
        "active_stand",
        "symptom_diary",
    } <= set(instruments())
    assert get_instrument("COMPASS-31").id == "compass31"


def test_fss_is_the_item_mean_with_cut_off_4() -> None:
    score = score_instrument("fss", [5, 6, 4, 5, 6, 5, 4, 6, 5])
    assert score.total == 46
    assert score.mean == pytest.approx(46 / 9)
    assert score.above_cutoff is True
    assert "substantial fatigue" in score.interpretation[0]
    assert score_instrument("fss", [4] * 9).above_cutoff is True
    assert score_instrument("fss", [3, 4, 4, 4, 4, 4, 4, 4, 4]).above_cutoff is False
    assert get_instrument("fss").mcid == 0.45


def test_gsrs_syndrome_scores_are_means_of_their_items() -> None:
    answers = [1.0] * 15
    answers[1] = answers[2] = 7  # reflux items 2 and 3
    answers[10] = 4  # one diarrhoea item of three
    score = score_instrument("gsrs", answers)
    assert score.mean == pytest.approx((12 * 1 + 7 + 7 + 4) / 15)
    assert score.subscales["reflux"] == 7
    assert score.subscales["diarrhoea"] == pytest.approx(2.0)
    assert score.subscales["constipation"] == 1
    assert score.above_cutoff is None
    members = sorted(i for items in get_instrument("gsrs").subscales.values() for i in items)
    assert members == list(range(1, 16))


def test_compass31_maximum_answers_score_100_and_zeros_score_0() -> None:
    top = score_instrument("compass31", _max_answers("compass31"))
    assert top.total == pytest.approx(100, abs=1e-9)
    assert top.subscales == pytest.approx(
        {
            "orthostatic_intolerance": 40,
            "vasomotor": 5,
            "secretomotor": 15,
            "gastrointestinal": 25,
            "bladder": 10,
            "pupillomotor": 5,
        }
    )
    assert score_instrument("compass31", [0] * 31).total == 0


def test_compass31_weights_are_the_published_ones() -> None:
    compass = get_instrument("compass31")
    weights = {name: compass.domain_weight(name) for name in compass.subscales}
    assert weights == pytest.approx(
        {
            "orthostatic_intolerance": 4.0,
            "vasomotor": 0.8333,
            "secretomotor": 2.1428,
            "gastrointestinal": 0.8929,
            "bladder": 1.1111,
            "pupillomotor": 0.3333,
        },
        abs=1e-4,
    )


def test_compass31_hand_computed_example() -> None:
    answers = [0.0] * 31
    answers[0:4] = [1, 2, 1, 1]  # orthostatic raw 5 -> 5 x 4 = 20
    answers[4:7] = [1, 1, 1]  # vasomotor raw 3 -> 3 x 5/6 = 2.5
    answers[7:11] = [2, 1, 1, 3]  # secretomotor raw 7 -> 15
    answers[23] = 3  # bladder raw 3 -> 3 x 10/9
    score = score_instrument("compass31", answers)
    assert score.total == pytest.approx(20 + 2.5 + 15 + 10 / 3)


def test_mct_good_control_is_13_or_more_and_higher_is_better() -> None:
    assert score_instrument("mct", [3, 3, 3, 2, 2]).above_cutoff is True
    poor = score_instrument("mct", [3, 3, 2, 2, 2])
    assert (poor.total, poor.above_cutoff) == (12, False)
    assert "poor disease control" in poor.interpretation[0]
    mct = get_instrument("mct")
    assert not mct.higher_is_worse
    assert "validated in mastocytosis, not MCAS" in mct.validated_population
    assert any("not MCAS" in line for line in poor.interpretation)


@pytest.mark.parametrize(
    ("age", "pubertal", "cutoff"),
    [
        (8, None, 6),
        (11.9, None, 6),
        (12, None, 5),
        (11, True, 5),
        (14, False, 6),
        (50, None, 5),
        (50.5, None, 4),
        (70, True, 4),
    ],
)
def test_beighton_cutoff_depends_on_age(age: float, pubertal: bool | None, cutoff: int) -> None:
    assert beighton_cutoff(age, pubertal=pubertal) == cutoff


def test_beighton_scores_with_the_age_cut_off_and_without_a_verdict_when_age_is_missing() -> None:
    five = [1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert score_instrument("beighton", five, age_years=30).above_cutoff is True
    assert score_instrument("beighton", five, age_years=10).above_cutoff is False
    unknown = score_instrument("beighton", five)
    assert (unknown.total, unknown.above_cutoff) == (5, None)
    with pytest.raises(ValidationError, match="age_years"):
        beighton_cutoff(-1)
    with pytest.raises(ValidationError, match="answer 1 value 2 is outside 0–1"):
        score_instrument("beighton", [2, 0, 0, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize(
    ("answers", "age", "expected"),
    [
        ([60, 90, 120, 115], 35, True),  # rise 30, no hypotension
        ([60, 89, 120, 115], 35, False),  # rise 29
        ([60, 95, 120, 115], 16, False),  # adolescents need 40
        ([60, 100, 120, 115], 16, True),
        ([60, 100, 120, 100], 35, False),  # systolic fall 20: orthostatic hypotension
        ([60, 100, 120, 101], 35, True),  # fall 19
        ([60, 100, 120, 115], 10, None),  # undefined under 12
        ([60, 90.5, 120, 115], None, True),  # adult threshold when age is unknown
    ],
)
def test_active_stand_applies_the_pots_heart_rate_rules(
    answers: list[float], age: float | None, expected: bool | None
) -> None:
    score = score_instrument("active_stand", answers, age_years=age)
    assert score.above_cutoff is expected
    assert score.total == answers[1] - answers[0]
    assert score.subscales["sbp_fall_mmhg"] == answers[2] - answers[3]


def test_the_symptom_diary_is_a_labelled_non_validated_mean() -> None:
    score = score_instrument("symptom_diary", [0, 2, 4, 6, 8, 10])
    assert score.total == score.mean == 5
    assert score.subscales["naso_ocular"] == 8
    assert not get_instrument("symptom_diary").validated
    assert any("NON-VALIDATED" in line for line in score.interpretation)


def test_a_wrong_count_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        score_instrument("fss", [4] * 8)
    (issue,) = info.value.issues
    assert issue.message == "fss expects 9 answers; got 8"
    assert (issue.location, issue.value, issue.expected) == ("answers", 8, "9 answers")


def test_every_bad_answer_is_listed_with_its_item_number() -> None:
    with pytest.raises(ValidationError) as info:
        score_instrument("fss", [5, 6, 9, 0, 4.5, "x", 4, 4, 4])  # type: ignore[list-item]
    messages = [(i.location, i.message) for i in info.value.issues]
    assert messages == [
        ("answers[3]", "fss answer 3 value 9 is outside 1–7"),
        ("answers[4]", "fss answer 4 value 0 is outside 1–7"),
        ("answers[5]", "fss answer 5 value 4.5 is not a whole number; expected a whole number 1–7"),
        ("answers[6]", "fss answer 6 value 'x' is not a number; expected 1–7"),
    ]
    assert info.value.issues[0].expected == "1–7"


def test_count_and_range_problems_are_reported_together() -> None:
    with pytest.raises(ValidationError) as info:
        score_instrument("mct", [5, 1])
    assert [i.location for i in info.value.issues] == ["answers", "answers[1]"]


def test_an_unknown_instrument_is_named() -> None:
    with pytest.raises(UnknownIdError, match="unknown instrument 'mc_qol'"):
        score_instrument("mc_qol", [1])
