"""Numbers, units and rule thresholds written the way a clinician reads them (``docs/evidence.md``,
the rulebook page): ``≥ 20 % + 2 ng/mL``, ``1.5 × 10⁹/L``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "format_parameter",
    "format_thresholds",
    "link",
    "md",
    "num",
    "signed",
    "unit_text",
    "with_unit",
]

# --- formatting ------------------------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def num(value: float) -> str:
    """A number as a clinician writes it: no trailing ``.0``, powers of ten for large counts."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or float(value).is_integer():
        number = int(value)
        if abs(number) >= 1_000_000:
            exponent = len(str(abs(number))) - 1
            mantissa = number / 10**exponent
            head = "" if mantissa == 1 else f"{mantissa:g} × "
            return f"{head}10{str(exponent).translate(_SUPERSCRIPT)}"
        return str(number)
    text = f"{value:.6g}"
    if "e" in text:  # small rate constants: 0.00005, not 5e-05
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def signed(value: float) -> str:
    text = num(abs(value))
    return ("+" if value > 0 else "−" if value < 0 else "") + text


_UNITS: dict[str, str] = {
    "1": "",
    "1/h": "per h",
    "10*9/L": "× 10⁹/L",
    "{creat}": "",
    "repair_unit": "repair units",
}


def unit_text(unit: str) -> str:
    """A UCUM or model unit in clinical spelling (``ug/g{creat}`` → ``µg/g creatinine``)."""
    if unit in _UNITS:
        return _UNITS[unit]
    text = unit.replace("{creat}", " creatinine").replace("10*9", "× 10⁹")
    text = re.sub(r"\b1e(\d+)\b", lambda m: "10" + m.group(1).translate(_SUPERSCRIPT), text)
    return re.sub(r"(?<![A-Za-z])u(?=(g|mol|M|L|m)\b|(g|mol|M|L|m)/)", "µ", text)


def with_unit(value: str, unit: str) -> str:
    shown = unit_text(unit)
    if not shown:
        return value
    if len(shown) > 2 and shown.startswith("10") and shown[2] in "⁰¹²³⁴⁵⁶⁷⁸⁹":
        return f"{value} × {shown}"
    return f"{value} {shown}"


def md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def link(key: str) -> str:
    return f"[`{key}`](#{key})"


# --- rule thresholds -------------------------------------------------------------------------

#: Multi-word comparator tokens in parameter names, longest first.
_COMPARATORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("at", "least"), "≥"),
    (("at", "most"), "≤"),
    (("below",), "<"),
    (("above",), ">"),
    (("under",), "<"),
    (("over",), ">"),
    (("min",), "≥"),
    (("max",), "≤"),
)
#: Unit tokens in parameter names and their display (``fraction`` shows as a percentage).
_PARAM_UNITS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("10e9", "l"), "× 10⁹/L"),
    (("ng", "ml"), "ng/mL"),
    (("mg", "l"), "mg/L"),
    (("g", "dl"), "g/dL"),
    (("g", "l"), "g/L"),
    (("mmhg",), "mmHg"),
    (("bpm",), "bpm"),
    (("pct",), "%"),
    (("fraction",), "%"),
    (("cm",), "cm"),
    (("hours",), "h"),
    (("days",), "days"),
    (("weeks",), "weeks"),
    (("years",), "years"),
)
_WORDS = {
    "hs": "hs-CRP",
    "crp": "",
    "who": "WHO",
    "icc": "ICC",
    "kit": "KIT",
    "hat": "HαT",
    "vaf": "KIT D816V VAF",
    "rema": "REMA",
    "nicas": "NICAS",
    "minor": "minor criteria",
    "spindle": "spindle-shaped mast cells",
}
#: Parameters whose value names input fields, criteria or items rather than a number.
_NAME_PARAMS = {
    "item": "item",
    "field": "input field",
    "criterion": "criterion",
    "criteria": "criteria",
    "all_of": "all of",
    "any_of": "any of",
    "flag": "flag",
    "pattern": "pattern",
}


def _find(
    tokens: Sequence[str], table: Iterable[tuple[tuple[str, ...], str]]
) -> tuple[int, int, str]:
    """(start, end, display) of the first ``table`` entry found in ``tokens``; (-1, -1, "")."""
    for i in range(len(tokens)):
        for words, display in table:
            if tuple(tokens[i : i + len(words)]) == words:
                return i, i + len(words), display
    return -1, -1, ""


def _words(tokens: Iterable[str]) -> str:
    words = list(tokens)
    shown = [_WORDS.get(w, w) for w in words]
    for i, word in enumerate(words):
        if word == "upper" and (i + 1 == len(words) or words[i + 1] != "limit"):
            shown[i] = "upper limit"
    return " ".join(w for w in shown if w)


def _value(value: object, unit: str, fraction: bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        number = value * 100 if fraction else value
        return with_unit(num(number), unit)
    if isinstance(value, list | tuple):
        parts = [num(v * 100 if fraction else v) for v in value]
        joined = "–".join(parts) if len(parts) == 2 else ", ".join(parts)
        return with_unit(joined, unit)
    if isinstance(value, Mapping):
        return ", ".join(f"{_words(str(k).split('_'))} {num(v)}" for k, v in value.items())
    return ", ".join(f"`{part.strip()}`" for part in str(value).split(","))


def format_parameter(name: str, value: object) -> str:
    """One rule parameter in words with its comparison sign and unit.

    The parameter name carries the meaning (``haemoglobin_below_g_dl``: 10 → ``haemoglobin <
    10 g/dL``; ``min_total_rise_fraction``: 0.235 → ``total rise ≥ 23.5 %``); a name without a
    comparator reads ``words: value`` (``acute_window_hours``: [1, 4] → ``acute window: 1–4 h``).

    Examples
    --------
    >>> format_parameter("platelets_below_10e9_l", 100)
    'platelets < 100 × 10⁹/L'
    >>> format_parameter("baseline_min_hours_after_resolution", 24)
    'baseline ≥ 24 h after resolution'
    """
    if name in _NAME_PARAMS:
        return f"{_NAME_PARAMS[name]}: {_value(value, '', False)}"
    tokens = name.split("_")
    c_start, c_end, sign = _find(tokens, _COMPARATORS)
    rest = tokens if c_start < 0 else [*tokens[:c_start], "\0", *tokens[c_end:]]
    u_start, u_end, unit = _find(rest, _PARAM_UNITS)
    fraction = u_start >= 0 and rest[u_start] == "fraction"
    if u_start >= 0:
        rest = [*rest[:u_start], *rest[u_end:]]
    shown = _value(value, unit, fraction)
    if c_start < 0:
        return f"{_words(rest)}: {shown}"
    split = rest.index("\0")
    before, after = rest[:split], rest[split + 1 :]
    if not before:
        before, after = after, []
    tail = f" {_words(after)}" if after else ""
    return f"{_words(before)} {sign} {shown}{tail}"


def _points_thresholds(params: Mapping[str, object]) -> dict[str, str]:
    """``X_<comparator>_points`` → the parameter holding the threshold it refers to."""
    found: dict[str, str] = {}
    for name in params:
        if not name.endswith("_points"):
            continue
        stem = name.removesuffix("_points")
        head = stem.split("_")[0]
        for other in params:
            if other.endswith("_points"):
                continue
            if other.startswith(stem + "_") or other.startswith(head + "_threshold_"):
                found[name] = other
                break
    return found


def format_thresholds(params: Mapping[str, object]) -> str:
    """A rule's ``params`` in readable form, joined by ``; ``.

    Compound forms are read where the names say so: ``rise_factor`` with ``rise_addend_ng_ml``
    (the consensus-1 rise), ``X_base_U`` with ``X_per_year_U`` (age-dependent limits), score item
    points beside a ``cut_off`` (REMA, NICAS), and ``X_below_points`` / ``X_at_least_points``
    with the threshold they refer to.

    Examples
    --------
    >>> format_thresholds({"rise_factor": 1.2, "rise_addend_ng_ml": 2.0})
    'acute tryptase > 1.2 × baseline + 2 ng/mL'
    >>> format_thresholds({"male": 1, "female": -1, "cut_off": 2})
    'male +1; female −1; score ≥ 2'
    """
    points_of = _points_thresholds(params)
    consumed = set(points_of.values())
    scored = "cut_off" in params
    out: list[str] = []
    for name, value in params.items():
        number = float(value) if isinstance(value, int | float) else None
        if name in consumed:
            continue
        if name == "rise_factor" and "rise_addend_ng_ml" in params:
            addend = _value(params["rise_addend_ng_ml"], "ng/mL", False)
            out.append(f"acute tryptase > {_value(value, '', False)} × baseline + {addend}")
            continue
        if name == "rise_addend_ng_ml" and "rise_factor" in params:
            continue
        base = re.match(r"^(.*)_base_(\w+)$", name)
        if base and f"{base.group(1)}_per_year_{base.group(2)}" in params:
            per_year = params[f"{base.group(1)}_per_year_{base.group(2)}"]
            _, _, unit = _find(base.group(2).split("_"), _PARAM_UNITS)
            label = _words(base.group(1).split("_"))
            shown = f"{_value(value, '', False)} + {_value(per_year, '', False)} × age in years"
            out.append(f"{label} limit: {with_unit(shown, unit)}")
            continue
        if re.match(r"^(.*)_per_year_(\w+)$", name) and any(
            k.endswith("_base_" + name.split("_per_year_")[1]) for k in params
        ):
            continue
        if name in points_of and number is not None:
            threshold = points_of[name]
            tokens = name.removesuffix("_points").split("_")
            c_start, _, sign = _find(tokens, _COMPARATORS)
            _, _, unit = _find(threshold.split("_"), _PARAM_UNITS)
            subject = _words(tokens[:c_start] if c_start > 0 else tokens[:1])
            limit = _value(params[threshold], unit, False)
            out.append(f"{subject} {sign or '≥'} {limit} {signed(number)}")
            continue
        if name == "cut_off" and number is not None:
            out.append(f"score ≥ {num(number)}")
            continue
        tokens = name.split("_")
        is_points = (
            scored
            and isinstance(value, int)
            and not isinstance(value, bool)
            and _find(tokens, _COMPARATORS)[0] < 0
            and _find(tokens, _PARAM_UNITS)[0] < 0
            and name not in _NAME_PARAMS
        )
        if is_points and number is not None:
            out.append(f"{_words(tokens)} {signed(number)}")
            continue
        out.append(format_parameter(name, value))
    return "; ".join(out)
