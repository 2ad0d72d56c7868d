"""Client codes: what a code looks like on a screen (confusable letters, mixed scripts) and the
checks and rows of new clients."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

import pandas as pd

from hostcap.clinical_store.columns import ParsedFrame, row_location
from hostcap.clinical_store.record_checks import ClientInfo, stored_rows
from hostcap.errors import Issue, describe_value
from hostcap.record_fields import DECLARATIONS

# Letters that look like Latin ones (Cyrillic and Greek capitals and small letters): two codes
# that differ only by these would be two clients that no one can tell apart on a screen.
_CONFUSABLE = str.maketrans(
    "АВЕКМНОРСТУХаеорсухіјѕԁӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν",
    "ABEKMHOPCTYXaeopcyxijsdlABEZHIKMNOPTYXoiv",
)


def code_skeleton(code: str) -> str:
    """What ``code`` looks like: confusable letters mapped to Latin, case folded."""
    return code.translate(_CONFUSABLE).casefold()


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return "UNKNOWN"


def mixed_scripts(text: str) -> list[str]:
    """The writing systems of the letters in ``text`` when there is more than one, else []."""
    scripts = sorted({s for s in map(_script, text) if s is not None})
    return scripts if len(scripts) > 1 else []


def check_new_clients(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    codes = parsed.frame["client_code"]
    mixed = codes.map(lambda c: isinstance(c, str) and bool(mixed_scripts(c))).to_numpy(dtype=bool)
    parsed.add(
        mixed,
        lambda i: Issue(
            location=row_location(i, "client_code", first_line=first_line),
            message=f"client_code {describe_value(codes.iat[i])} mixes writing systems "
            f"({', '.join(mixed_scripts(str(codes.iat[i]))).lower()}); expected the letters of one "
            "script, e.g. Latin only",
            value=codes.iat[i],
            expected="letters of one script",
        ),
    )
    bad_code = codes.map(
        lambda c: (
            isinstance(c, str)
            and not (0 < len(c) <= 64 and c.replace("-", "").replace("_", "").isalnum())
        )
    ).to_numpy(dtype=bool)
    parsed.add(
        bad_code,
        lambda i: Issue(
            location=row_location(i, "client_code", first_line=first_line),
            message=f"client_code {describe_value(codes.iat[i])} is not a valid pseudonymous code; "
            "expected 1–64 letters, digits, '-' or '_'",
            value=codes.iat[i],
            expected="1–64 letters, digits, '-' or '_'",
        ),
    )


def client_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(frame, DECLARATIONS["clients"])
    return rows
