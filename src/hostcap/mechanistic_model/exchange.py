"""SBML Level 3 Version 2 (with units) and Antimony, generated from the one definition.

States become species (``hasOnlySubstanceUnits``, governed by rate rules) in their compartments;
parameters are constant global parameters; named intermediates and observables are assignment
rules; model inputs are non-constant parameters that events set at every protocol boundary (phase
starts and antibiotic course ends). The initial species amounts are the phenotype's pre-treatment
steady state, so a tool that runs the file reproduces :func:`~hostcap.mechanistic_model.simulate`.
Ids are identical to the names in ``simulate``'s trajectories.

References
----------
Hucka M, et al. The Systems Biology Markup Language (SBML): Language Specification for Level 3
Version 2 Core. J Integr Bioinform 2019;16(2):20190021.
Smith LP, et al. Antimony: a modular model definition language. Bioinformatics 2009;25:2452-4.
"""

from __future__ import annotations

import re
from typing import Any

import libsbml
import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from hostcap.errors import ComputationError
from hostcap.mechanistic_model.compilation import CompiledModel, compile_model, parse_symbolic
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE, ExpressionSpec, ObservableSpec
from hostcap.mechanistic_model.protocols import Protocol, input_segments
from hostcap.mechanistic_model.simulation import initial_state

__all__ = ["sbml_errors", "to_antimony", "to_sbml"]

# (kind, exponent, scale, multiplier) factors of each unit string used in the definition.
_H = (libsbml.UNIT_KIND_SECOND, 3600.0)
_D = (libsbml.UNIT_KIND_SECOND, 86400.0)
_UNITS: dict[str, list[tuple[int, float, int, float]]] = {
    "1": [(libsbml.UNIT_KIND_DIMENSIONLESS, 1, 0, 1.0)],
    "h": [(_H[0], 1, 0, _H[1])],
    "1/h": [(_H[0], -1, 0, _H[1])],
    "mM": [(libsbml.UNIT_KIND_MOLE, 1, -3, 1.0), (libsbml.UNIT_KIND_LITRE, -1, 0, 1.0)],
    "mM/h": [
        (libsbml.UNIT_KIND_MOLE, 1, -3, 1.0),
        (libsbml.UNIT_KIND_LITRE, -1, 0, 1.0),
        (_H[0], -1, 0, _H[1]),
    ],
    "uM": [(libsbml.UNIT_KIND_MOLE, 1, -6, 1.0), (libsbml.UNIT_KIND_LITRE, -1, 0, 1.0)],
    "uM/h": [
        (libsbml.UNIT_KIND_MOLE, 1, -6, 1.0),
        (libsbml.UNIT_KIND_LITRE, -1, 0, 1.0),
        (_H[0], -1, 0, _H[1]),
    ],
    "EU/mL": [(libsbml.UNIT_KIND_ITEM, 1, 0, 1.0), (libsbml.UNIT_KIND_LITRE, -1, -3, 1.0)],
    "EU/mL/h": [
        (libsbml.UNIT_KIND_ITEM, 1, 0, 1.0),
        (libsbml.UNIT_KIND_LITRE, -1, -3, 1.0),
        (_H[0], -1, 0, _H[1]),
    ],
    "ng/mL": [(libsbml.UNIT_KIND_GRAM, 1, -9, 1.0), (libsbml.UNIT_KIND_LITRE, -1, -3, 1.0)],
    "mg/L": [(libsbml.UNIT_KIND_GRAM, 1, -3, 1.0), (libsbml.UNIT_KIND_LITRE, -1, 0, 1.0)],
    "ug/L": [(libsbml.UNIT_KIND_GRAM, 1, -6, 1.0), (libsbml.UNIT_KIND_LITRE, -1, 0, 1.0)],
    "g/d": [(libsbml.UNIT_KIND_GRAM, 1, 0, 1.0), (_D[0], -1, 0, _D[1])],
    "mg/d": [(libsbml.UNIT_KIND_GRAM, 1, -3, 1.0), (_D[0], -1, 0, _D[1])],
    "1e9 CFU/d": [(libsbml.UNIT_KIND_ITEM, 1, 9, 1.0), (_D[0], -1, 0, _D[1])],
    "DDD/d": [(libsbml.UNIT_KIND_DIMENSIONLESS, 1, 0, 1.0), (_D[0], -1, 0, _D[1])],
    "repair_unit": [(libsbml.UNIT_KIND_DIMENSIONLESS, 1, 0, 1.0)],
}


def _unit_id(unit: str) -> str:
    if unit == "1":
        return "dimensionless"
    return "u_" + re.sub(r"[^A-Za-z0-9]", "_", unit.replace("/", "_per_"))


class _InfixPrinter(StrPrinter):  # type: ignore[misc]  # sympy ships no types
    """sympy -> SBML L3 infix / Antimony (``^`` for powers, no Python-only syntax)."""

    # sympy dispatches on these exact method names.
    def _print_Pow(self, expr: Any, rational: bool = False) -> str:  # noqa: N802
        base, exp = expr.as_base_exp()
        if exp == -1:
            return f"1/({self._print(base)})"
        return f"({self._print(base)})^({self._print(exp)})"

    def _print_Float(self, expr: Any) -> str:  # noqa: N802
        return repr(float(expr))

    def _print_Rational(self, expr: Any) -> str:  # noqa: N802
        return f"({expr.p}/{expr.q})"


def _infix(expr: sympy.Expr) -> str:
    return str(_InfixPrinter().doprint(expr))


def _context(
    model: CompiledModel | str, phenotype: str, protocol: Protocol | None, weeks: float
) -> tuple[CompiledModel, dict[str, float], np.ndarray, list[tuple[float, dict[str, float]]]]:
    m = compile_model(model) if isinstance(model, str) else model
    params = m.parameter_values(phenotype)
    y0 = initial_state(m, phenotype)
    segments = input_segments(protocol, m.definition, weeks * 168.0)
    changes = [(seg.start_h, seg.values) for seg in segments]
    return m, params, y0, changes


def to_sbml(
    model: CompiledModel | str = "essay",
    phenotype: str = "healthy",
    protocol: Protocol | None = None,
    *,
    weeks: float = 52.0,
) -> str:
    """The model as an SBML L3V2 document with units; protocol boundaries become events.

    Parameters
    ----------
    model
        A compiled variant or a variant name.
    phenotype
        Parameter preset; initial amounts are its pre-treatment steady state.
    protocol
        Phases to encode as events (none: every input stays 0).
    weeks
        Horizon used to cut open-ended phases (events after it are left out).

    Returns
    -------
    str
        The SBML document; :func:`sbml_errors` of it is empty.
    """
    m, params, y0, changes = _context(model, phenotype, protocol, weeks)
    d = m.definition
    _, exprs, rates, observables = parse_symbolic(d, substitute=False)
    doc = libsbml.SBMLDocument(3, 2)
    sm = doc.createModel()
    sm.setId(f"{d.id}_{d.variant}")
    sm.setName(f"Host Capacity Model, variant {d.variant}, phenotype {phenotype}")
    sm.setNotes(
        '<body xmlns="http://www.w3.org/1999/xhtml"><p>'
        + HYPOTHESIS_NOTE.replace("&", "&amp;").replace("<", "&lt;")
        + f" Variant: {d.variant_title}."
        + f" Protocol: {protocol.id if protocol else 'none'}.</p></body>"
    )
    used_units = {s.unit for s in d.states} | {p.unit for p in d.parameters}
    used_units |= {i.unit for i in d.inputs} | {e.unit for e in d.expressions}
    used_units |= {o.unit for o in d.observables} | {"h", "1/h"}
    for unit in sorted(used_units - {"1"}):
        ud = sm.createUnitDefinition()
        ud.setId(_unit_id(unit))
        ud.setName(unit)
        for kind, exponent, scale, multiplier in _UNITS[unit]:
            u = ud.createUnit()
            u.setKind(kind)
            u.setExponent(float(exponent))
            u.setScale(int(scale))
            u.setMultiplier(float(multiplier))
    sm.setTimeUnits(_unit_id("h"))
    sm.setVolumeUnits("litre")
    sm.setExtentUnits("mole")
    sm.setSubstanceUnits("mole")
    for cid, meaning in d.compartments.items():
        c = sm.createCompartment()
        c.setId(cid)
        c.setName(meaning)
        c.setConstant(True)
        c.setSize(1.0)
        c.setSpatialDimensions(3.0)
        c.setUnits("litre")
    for i, s in enumerate(d.states):
        sp = sm.createSpecies()
        sp.setId(s.id)
        sp.setName(s.meaning)
        sp.setCompartment(s.compartment)
        sp.setHasOnlySubstanceUnits(True)
        sp.setBoundaryCondition(False)
        sp.setConstant(False)
        sp.setInitialAmount(float(y0[i]))
        sp.setSubstanceUnits(_unit_id(s.unit))
    for p in d.parameters:
        par = sm.createParameter()
        par.setId(p.id)
        par.setConstant(True)
        par.setValue(float(params[p.id]))
        par.setUnits(_unit_id(p.unit))
    first = changes[0][1] if changes else {}
    for inp in d.inputs:
        par = sm.createParameter()
        par.setId(inp.id)
        par.setName(inp.meaning)
        par.setConstant(False)
        par.setValue(float(first.get(inp.id, 0.0)))
        par.setUnits(_unit_id(inp.unit))
    named: list[ExpressionSpec | ObservableSpec] = [*d.expressions, *d.observables]
    for spec in named:
        par = sm.createParameter()
        par.setId(spec.id)
        par.setName(spec.meaning)
        par.setConstant(False)
        par.setUnits(_unit_id(spec.unit))
    for e in d.expressions:
        _assignment(sm, e.id, exprs[e.id])
    for o in d.observables:
        _assignment(sm, o.id, observables[o.id])
    for s in d.states:
        rule = sm.createRateRule()
        rule.setVariable(s.id)
        rule.setMath(_math(rates[s.id], s.id))
    for k, (start, values) in enumerate(changes[1:], start=1):
        ev = sm.createEvent()
        ev.setId(f"boundary_{k}")
        ev.setName(f"protocol boundary at {start:g} h")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        trig.setMath(libsbml.parseL3Formula(f"time >= {float(start)!r}"))
        for inp in d.inputs:
            ea = ev.createEventAssignment()
            ea.setVariable(inp.id)
            ea.setMath(libsbml.parseL3Formula(repr(float(values.get(inp.id, 0.0)))))
    text = libsbml.writeSBMLToString(doc)
    return str(text)


def _math(expr: sympy.Expr, where: str) -> Any:
    ast = libsbml.parseL3Formula(_infix(expr))
    if ast is None:
        raise ComputationError(f"SBML export: cannot encode the math of {where}: {expr}")
    return ast


def _assignment(sm: Any, pid: str, expr: sympy.Expr) -> None:
    rule = sm.createAssignmentRule()
    rule.setVariable(pid)
    rule.setMath(_math(expr, pid))


def sbml_errors(sbml: str) -> list[str]:
    """libsbml consistency-check messages of severity error or fatal (empty when valid)."""
    doc = libsbml.readSBMLFromString(sbml)
    doc.checkConsistency()
    found = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            found.append(f"{err.getErrorId()}: {err.getMessage().strip()}")
    return found


def to_antimony(
    model: CompiledModel | str = "essay",
    phenotype: str = "healthy",
    protocol: Protocol | None = None,
    *,
    weeks: float = 52.0,
) -> str:
    """The same model as Antimony text (written from the definition; no ``antimony`` needed)."""
    m, params, y0, changes = _context(model, phenotype, protocol, weeks)
    d = m.definition
    _, exprs, rates, observables = parse_symbolic(d, substitute=False)
    out: list[str] = [
        f"// {HYPOTHESIS_NOTE}",
        f"// Variant {d.variant}: {d.variant_title}. Phenotype {phenotype}. "
        f"Protocol {protocol.id if protocol else 'none'}. Time unit: hour.",
        f"model {d.id}_{d.variant}()",
        "",
        "  // Compartments",
    ]
    out += [f"  compartment {cid} = 1;  // {meaning}" for cid, meaning in d.compartments.items()]
    out += ["", "  // States (species, amounts), pre-treatment steady state"]
    for i, s in enumerate(d.states):
        out.append(f"  substanceOnly species {s.id} in {s.compartment};  // [{s.unit}] {s.meaning}")
        out.append(f"  {s.id} = {float(y0[i])!r};")
    out += ["", "  // Rate rules"]
    out += [f"  {s.id}' = {_infix(rates[s.id])};" for s in d.states]
    out += ["", "  // Intermediates and observables (assignment rules)"]
    out += [f"  {e.id} := {_infix(exprs[e.id])};  // [{e.unit}]" for e in d.expressions]
    out += [f"  {o.id} := {_infix(observables[o.id])};  // [{o.unit}]" for o in d.observables]
    out += ["", "  // Parameters"]
    out += [f"  {p.id} = {float(params[p.id])!r};  // [{p.unit}] {p.source}" for p in d.parameters]
    first = changes[0][1] if changes else {}
    out += ["", "  // Inputs (set by protocol events)"]
    out += [f"  var {i.id} = {float(first.get(i.id, 0.0))!r};  // [{i.unit}]" for i in d.inputs]
    if len(changes) > 1:
        out += ["", "  // Protocol boundaries"]
    for k, (start, values) in enumerate(changes[1:], start=1):
        assigns = ", ".join(f"{i.id} = {float(values.get(i.id, 0.0))!r}" for i in d.inputs)
        out.append(f"  boundary_{k}: at (time >= {float(start)!r}): {assigns};")
    out += ["end", ""]
    return "\n".join(out)
