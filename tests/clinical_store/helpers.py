"""Small builders shared by the store tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

LAB_HEADER = "client_code,analyte,value,unit,collected_at,context,hours_after_onset\n"


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def strings(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, dtype="string")
