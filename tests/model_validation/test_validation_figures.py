"""Validation figures: every published result has its own readable axis label and the figure
carries the whole hypothesis note."""

from __future__ import annotations

from hostcap.mechanistic_model import HYPOTHESIS_NOTE
from hostcap.model_validation.literature_results import literature_results
from hostcap.model_validation.validation_figures import _tick_labels


def test_results_of_one_source_get_labels_that_tell_them_apart() -> None:
    day = [r for r in literature_results() if r.source == "Day 1998"]
    assert len(day) >= 2
    labels = _tick_labels(day)
    assert len(set(labels)) == len(labels)
    assert any("cetirizine" in label for label in labels)
    assert all(label.startswith("Day 1998\n") for label in labels)


def test_a_lone_result_of_its_source_is_labelled_by_source_and_split() -> None:
    (one,) = [r for r in literature_results() if r.source == "Birkeland 2020"][:1]
    assert _tick_labels([one]) == [f"Birkeland 2020\n({one.split.value})"]


def test_every_figure_title_carries_the_whole_note_in_lines_that_fit_its_width() -> None:
    import pandas as pd

    from hostcap.model_validation.validation_figures import validation_figures

    results = [r for r in literature_results() if r.published is not None][:3]
    frame = pd.DataFrame(
        [
            {"result_id": r.id, "variant": "essay", "model": float(r.published or 0.0)}
            for r in results
        ]
    )
    for fig in validation_figures(frame, results).values():
        title = fig.get_suptitle()
        assert " ".join(HYPOTHESIS_NOTE.split()) in " ".join(title.split())
        # At 8 pt a line of more than ~14 characters per inch ran off the figure's edges.
        assert max(len(line) for line in title.splitlines()) <= 14 * fig.get_figwidth()
