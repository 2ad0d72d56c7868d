"""Units: read what people type, spell it the UCUM way, convert with pint.

Three steps, kept apart so that each can be tested:

1. ``normalise_unit`` turns what a person types (``µg/l``, ``mcg/g creat``, ``x10^9/L``) into one
   UCUM spelling (``ug/L``, ``ug/g{creat}``, ``10*9/L``) or names the unit it cannot read.
2. ``ucum_to_pint`` rewrites a UCUM spelling as a pint expression; UCUM annotations in braces
   (``{creat}``, ``{CFU}``) carry no dimension, so they are split off and compared separately.
3. ``unit_factor`` computes (once, cached) the multiplicative factor between two units. Values are
   then converted by one multiplication, never by a pint call per value: the clinical store imports
   hundreds of thousands of rows.

References
----------
.. [1] Schadow G, McDonald CJ. The Unified Code for Units of Measure (UCUM). (key ``ucum``)
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from hostcap.errors import Issue, ValidationError

if TYPE_CHECKING:
    import pint

__all__ = [
    "convert_unit",
    "normalise_unit",
    "split_annotation",
    "ucum_to_pint",
    "unit_factor",
    "unit_registry",
]


@cache
def unit_registry() -> pint.UnitRegistry[Any]:
    """The one pint registry of hostcap, created on first use.

    pint takes about a second to import and build its registry; creating it lazily keeps
    ``hostcap --help`` and every command that converts nothing fast. Units pint lacks are
    declared here.
    """
    import pint

    ureg: pint.UnitRegistry[Any] = pint.UnitRegistry()
    # International units are substance-specific: give them their own dimension so that nothing
    # converts them to mass by accident.
    ureg.define("international_unit = [international_unit] = IU")
    # Colony-forming units are counts; UCUM writes them as the annotation {CFU}.
    ureg.define("colony_forming_unit = 1 = CFU")
    return ureg


_EXAMPLES = "ng/mL, mg/L, ug/g{creat}, umol/L, 10*9/L, g/dL"

# Case-insensitive atoms -> UCUM spelling. Typed units are often all lower or all upper case;
# where a lower-case reading is ambiguous (mg: milligram or megagram) the clinical reading wins.
_PREFIXES = ("", "k", "d", "c", "m", "u", "n", "p", "f")
_ATOMS: dict[str, str] = {}
for _p in _PREFIXES:
    _ATOMS[f"{_p}g"] = f"{_p}g"
    _ATOMS[f"{_p}l"] = f"{_p}L"
    _ATOMS[f"{_p}mol"] = f"{_p}mol"
_ATOMS.update(
    {
        "gm": "g",
        "u": "U",
        "mu": "mU",
        "ku": "kU",
        "iu": "[IU]",
        "[iu]": "[IU]",
        "miu": "m[IU]",
        "m[iu]": "m[IU]",
        "kiu": "k[IU]",
        "k[iu]": "k[IU]",
        "h": "h",
        "hr": "h",
        "min": "min",
        "s": "s",
        "d": "d",
        "day": "d",
        "wk": "wk",
        "%": "%",
        "cfu": "{CFU}",
        "{cfu}": "{CFU}",
    }
)
del _p

# Whole-unit spellings that the atom rules cannot read (checked case-sensitively first).
_WHOLE: dict[str, str] = {
    "G/L": "10*9/L",
    "T/L": "10*12/L",
    "K/uL": "10*3/uL",
    "k/uL": "10*3/uL",
    "K/ul": "10*3/uL",
    "k/ul": "10*3/uL",
    "thou/uL": "10*3/uL",
    "/nL": "10*9/L",
    "pM": "pmol/L",
    "nM": "nmol/L",
    "uM": "umol/L",
    "mM": "mmol/L",
    "M": "mol/L",
}

_CREAT = re.compile(r"\s*\{?\s*(?:creat(?:inine)?|crea|cr)\s*\}?\s*$", re.IGNORECASE)
_POWER = re.compile(r"^(?:x|\*)?\s*10\s*(?:\^|\*\*|\*|e)\s*([0-9]{1,2})\s*", re.IGNORECASE)
_ANNOTATION = re.compile(r"\{[^{}]*\}")


def _unknown(text: str, why: str = "") -> ValidationError:
    detail = f" ({why})" if why else ""
    return ValidationError(
        [
            Issue(
                location="unit",
                message=f"unit {text!r} is not a recognised unit{detail}; expected a UCUM unit "
                f"such as {_EXAMPLES}",
                value=text,
                expected=f"a UCUM unit such as {_EXAMPLES}",
            )
        ]
    )


def split_annotation(unit: str) -> tuple[str, str]:
    """Split a UCUM unit into its dimensional part and its annotations.

    Examples
    --------
    >>> split_annotation("ug/g{creat}")
    ('ug/g', '{creat}')
    """
    annotations = "".join(_ANNOTATION.findall(unit))
    return _ANNOTATION.sub("", unit), annotations


def ucum_to_pint(unit: str) -> str:
    """Rewrite a UCUM unit (without meaning loss for the units hostcap uses) as a pint expression.

    Annotations are dropped (compare them with ``split_annotation``); ``10*9`` becomes ``1e9``;
    UCUM's ``.`` multiplication becomes ``*``; ``[IU]`` becomes pint's ``IU`` defined above.
    """
    body, _ = split_annotation(unit)
    expr = re.sub(r"10\*([0-9]+)", r"1e\1", body)
    expr = re.sub(r"\.(?=[A-Za-z(\[])", "*", expr)
    expr = expr.replace("[IU]", "IU").replace("%", "percent")
    if expr == "" or expr.startswith("/"):
        expr = "1" + expr
    return expr


def _quantity(unit: str) -> Any:
    return unit_registry().parse_expression(ucum_to_pint(unit))


def _pint_errors() -> Any:
    import pint.errors

    return pint.errors


def _normalise_atoms(text: str) -> str:
    parts = re.split(r"([/.()])", text)
    out: list[str] = []
    for part in parts:
        if part in {"/", ".", "(", ")", ""}:
            out.append(part)
            continue
        atom, annotation = split_annotation(part.strip())
        if atom == "" or re.fullmatch(r"[0-9]+(?:\*[0-9]+)?", atom):
            out.append(atom + annotation)
            continue
        spelled = _ATOMS.get(atom.lower())
        if spelled is None:
            raise _unknown(text, f"{atom!r} is not a unit hostcap knows")
        out.append(spelled + annotation)
    return "".join(out)


@cache
def normalise_unit(text: str) -> str:
    """The UCUM spelling of a unit as people type it.

    Accepts the micro sign and Greek mu (``µg/L``, ``μg/L``), ``mcg``, any letter case for the
    usual clinical atoms (``ng/ml``, ``MG/DL``), powers of ten (``x10^9/L``, ``10^9/L``, ``G/L``,
    ``K/uL``), molar shorthand (``µM``) and creatinine ratios (``mcg/g creat``, ``pg/mg Cr``).

    Parameters
    ----------
    text
        The unit as typed.

    Returns
    -------
    str
        UCUM spelling, e.g. ``"ug/L"``, ``"10*9/L"``, ``"ug/g{creat}"``.

    Raises
    ------
    ValidationError
        Naming the unit (field ``unit``) when it cannot be read.

    Examples
    --------
    >>> normalise_unit("mcg/g creat")
    'ug/g{creat}'
    >>> normalise_unit("x10^9/L")
    '10*9/L'
    """
    if not isinstance(text, str) or not text.strip():
        raise _unknown(str(text), "empty")
    s = text.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x")
    s = re.sub(r"\s*/\s*", "/", s)
    s = re.sub(r"(?i)mcg", "ug", s)
    s = re.sub(r"(?i)micro(?:gram)?s?(?=/|$)", "ug", s)
    s = re.sub(r"(?i)micromol", "umol", s)
    s = re.sub(r"(?i)/(?:day|24\s*h(?:ours?)?)$", "/d", s)
    if s in _WHOLE:
        return _WHOLE[s]
    annotation = ""
    creat = _CREAT.search(s)
    if creat and creat.start() > 0 and "/" in s:
        s = s[: creat.start()]
        annotation = "{creat}"
    power = _POWER.match(s)
    prefix = ""
    if power:
        prefix = f"10*{int(power.group(1))}"
        s = s[power.end() :]
        if not s.startswith("/"):
            raise _unknown(text, "a power of ten must be followed by '/volume'")
    if " " in s.strip():
        raise _unknown(text, "it contains a space")
    spelled = prefix + _normalise_atoms(s.strip()) + annotation
    try:
        _quantity(spelled)
    except (_pint_errors().PintError, ValueError, TypeError, AttributeError, SyntaxError) as exc:
        raise _unknown(text, type(exc).__name__) from None
    return spelled


def _snap(x: float) -> float:
    # pint composes prefixes in binary floating point (ug/L -> ng/mL gives 0.9999999999999999);
    # 12 significant digits keep every factor exact to well below any assay's precision.
    return float(f"{x:.12g}")


@cache
def unit_factor(from_unit: str, to_unit: str, molar_mass_g_per_mol: float | None = None) -> float:
    """The number that converts a value in ``from_unit`` to ``to_unit`` by multiplication.

    Parameters
    ----------
    from_unit, to_unit
        Units as typed; both are normalised first.
    molar_mass_g_per_mol
        When given, amount-of-substance units convert to mass units through it (creatinine
        umol/L <-> mg/dL, haemoglobin mmol/L <-> g/dL).

    Returns
    -------
    float
        ``value_in_to_unit = value_in_from_unit * factor``.

    Raises
    ------
    ValidationError
        Field ``unit``: a unit that cannot be read, different annotations (``ug/g{creat}`` is not
        ``ug/g``), or dimensions that do not match.
    """
    src = normalise_unit(from_unit)
    dst = normalise_unit(to_unit)
    expected = f"a unit convertible to {dst}"

    def incompatible(why: str) -> ValidationError:
        return ValidationError(
            [
                Issue(
                    location="unit",
                    message=f"unit {from_unit!r} cannot be converted to {dst} ({why}); "
                    f"expected {expected}",
                    value=from_unit,
                    expected=expected,
                )
            ]
        )

    if split_annotation(src)[1] != split_annotation(dst)[1]:
        a, b = split_annotation(src)[1] or "none", split_annotation(dst)[1] or "none"
        raise incompatible(f"annotation {a} differs from {b}")
    q_src, q_dst = _quantity(src), _quantity(dst)
    candidates = [q_src]
    if molar_mass_g_per_mol is not None:
        molar = unit_registry().Quantity(molar_mass_g_per_mol, "g/mol")
        candidates += [q_src * molar, q_src / molar]
    for q in candidates:
        try:
            converted = q.to(q_dst.units)
        except _pint_errors().DimensionalityError:
            continue
        return _snap(float(converted.magnitude) / float(q_dst.magnitude))
    raise incompatible(f"dimension {q_src.dimensionality} is not {q_dst.dimensionality}")


def convert_unit(
    value: float, from_unit: str, to_unit: str, *, molar_mass_g_per_mol: float | None = None
) -> float:
    """Convert ``value`` from ``from_unit`` to ``to_unit``.

    Parameters
    ----------
    value
        The number in ``from_unit``.
    from_unit, to_unit
        Units as typed (normalised with ``normalise_unit``).
    molar_mass_g_per_mol
        Optional molar mass to convert between amount and mass.

    Returns
    -------
    float
        The number in ``to_unit``.

    Raises
    ------
    ValidationError
        Field ``unit``, expected "a unit convertible to X", when the units are incompatible.

    Examples
    --------
    >>> convert_unit(0.3, "mg/dL", "mg/L")
    3.0
    """
    if not math.isfinite(value):
        raise ValidationError.single("value", value, "a finite number")
    return value * unit_factor(from_unit, to_unit, molar_mass_g_per_mol)
