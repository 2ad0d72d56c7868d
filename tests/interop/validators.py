"""The two FHIR validators hostcap did not write, as test helpers: ``fhir.resources`` (R4B,
Python) and FHIR.js (npm package ``fhir`` under Node, installed by ``make fhirjs``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError as PydanticError

FHIRJS = Path(__file__).parent / "fhirjs"


def fhir_resources_errors(bundle: dict[str, Any]) -> list[str]:
    """What ``fhir.resources.R4B`` refuses in ``bundle`` (empty when it is valid)."""
    try:
        Bundle.model_validate(bundle)
    except PydanticError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


def fhirjs_messages(path: Path) -> list[dict[str, Any]]:
    """Every message of FHIR.js about the JSON file ``path`` (severity error, warning, info)."""
    node = shutil.which("node")
    if node is None or not (FHIRJS / "node_modules" / "fhir").is_dir():
        # `make test` installs it (`make fhirjs`); a bare pytest run says what is missing.
        pytest.fail("FHIR.js is not installed: run `make fhirjs` (npm ci in tests/interop/fhirjs)")
    done = subprocess.run(
        [node, str(FHIRJS / "validate.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return list(result["files"][0]["messages"])


def fhirjs_errors(path: Path) -> list[dict[str, Any]]:
    return [m for m in fhirjs_messages(path) if m["severity"] == "error"]
