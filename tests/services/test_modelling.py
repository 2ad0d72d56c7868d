"""Model services: which protocol a model-at-scale command runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostcap.errors import InputError, UnknownIdError
from hostcap.services.modelling import EXAMPLE_PROTOCOLS_DIR, resolve_protocol


def test_no_protocol_given_means_the_phenotypes_example_protocol() -> None:
    for phenotype, example in (("A", "phenotype_a"), ("b", "phenotype_b"), ("C", "phenotype_c")):
        protocol = resolve_protocol(None, phenotype)
        assert protocol is not None and protocol.id.startswith(example)
    # A preset without an example protocol runs without interventions.
    assert resolve_protocol(None, "healthy") is None


def test_none_and_example_are_words_and_anything_else_is_a_yaml_file(tmp_path: Path) -> None:
    assert resolve_protocol("none", "A") is None
    assert resolve_protocol(" None ", "A") is None
    example = resolve_protocol("example", "A")
    assert example is not None and example.id == "phenotype_a_gut_first"
    own = resolve_protocol(EXAMPLE_PROTOCOLS_DIR / "phenotype-b-nad-first.yaml", "A")
    assert own is not None and own.id.startswith("phenotype_b")
    with pytest.raises(UnknownIdError, match="healthy"):
        resolve_protocol("example", "healthy")
    with pytest.raises(InputError, match=r"nope\.yaml") as missing:
        resolve_protocol(tmp_path / "nope.yaml", "A")
    assert missing.value.field == "--protocol"
