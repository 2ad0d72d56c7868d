"""Derive the right-hand side, the analytic Jacobian and its sparsity from the one definition.

sympy turns the rate laws of a :class:`~hostcap.mechanistic_model.definition.ModelDefinition`
into plain arithmetic (common subexpressions eliminated) that is compiled once into Python
functions. The functions work unchanged on scalars and on numpy arrays whose *leading* axis
indexes states / parameters / inputs and whose trailing axes are a batch: ``y`` of shape ``(S,)``
or ``(S, N)``, ``p`` of shape ``(P,)`` or ``(P, N)``, ``u`` of shape ``(U,)`` or ``(U, N)``. The
Jacobian is returned as its non-zero values in the order of :attr:`CompiledModel.sparsity`, so a
batched solver can assemble a sparse LU without re-deriving anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import sympy
from numpy.typing import NDArray
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import precedence
from typing_extensions import override

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model.definition import (
    ModelDefinition,
    load_definition,
    phenotype_preset,
)

__all__ = ["CompiledModel", "compile_model", "parse_symbolic"]

Array = NDArray[np.float64]
Kernel = Callable[[Any, Any, Any, Any], Array]
_RESERVED = {"t", "y", "p", "u", "out", "numpy", "_stack"}


def _stack(values: Sequence[Any]) -> Array:
    """Stack per-row results, broadcasting constants to the batch shape."""
    return np.array(np.broadcast_arrays(*values), dtype=float)


def parse_symbolic(
    definition: ModelDefinition, *, substitute: bool = True
) -> tuple[dict[str, sympy.Symbol], dict[str, sympy.Expr], dict[str, sympy.Expr], dict[str, Any]]:
    """Parse every expression, rate law and observable of ``definition`` with sympy.

    Parameters
    ----------
    definition
        A resolved variant.
    substitute
        True: expressions are substituted, so rates and observables are written in states,
        parameters and inputs only (for code generation). False: names of expressions stay as
        symbols (for SBML assignment rules and Antimony).

    Returns
    -------
    tuple
        ``(symbols, expressions, rates, observables)``, each by id.
    """
    symbols = {
        n: sympy.Symbol(n, real=True)
        for n in (*definition.state_ids, *definition.parameter_ids, *definition.input_ids)
    }
    for e in definition.expressions:
        symbols[e.id] = sympy.Symbol(e.id, real=True)
    local: dict[str, Any] = dict(symbols)
    exprs: dict[str, sympy.Expr] = {}
    for e in definition.expressions:
        parsed = sympy.sympify(e.expression, locals=local)
        exprs[e.id] = parsed
        if substitute:
            local[e.id] = parsed
    rates = {s: sympy.sympify(definition.rates[s], locals=local) for s in definition.state_ids}
    observables = {o.id: sympy.sympify(o.expression, locals=local) for o in definition.observables}
    return symbols, exprs, rates, observables


def _share_powers(
    replacements: list[tuple[sympy.Symbol, sympy.Expr]], reduced: list[sympy.Expr]
) -> tuple[list[tuple[sympy.Symbol, sympy.Expr]], list[sympy.Expr]]:
    """After common-subexpression elimination, write ``x**(k*e)`` as ``(x**e)**k``.

    Derivatives of Hill terms produce ``x**(2*n)`` beside ``x**n``; as written each is its own
    ``pow`` call (the costliest operation in the kernels). When ``x**e`` is already a named
    subexpression ``_c``, ``x**(k*e)`` (integer ``k > 1``) becomes ``_c**k``, which compiles to
    multiplications. Exact wherever ``x**e`` is real. (Done after CSE: sympy would fold
    ``(x**e)**2`` back into ``x**(2*e)`` before.)
    """
    definitions = dict(replacements)
    named: dict[tuple[sympy.Expr, sympy.Expr], sympy.Symbol] = {}
    for sym, expr in replacements:
        if expr.is_Pow and not expr.exp.is_number:
            named.setdefault((expr.base, expr.exp), sym)

    def rewrite(node: sympy.Expr) -> sympy.Expr:
        exponent = definitions.get(node.exp, node.exp)
        coefficient, rest = exponent.as_coeff_Mul()
        key = (node.base, rest)
        if coefficient.is_Integer and coefficient > 1 and key in named:
            return sympy.Pow(named[key], coefficient)
        return node

    def apply(expr: sympy.Expr) -> sympy.Expr:
        return expr.replace(lambda e: e.is_Pow and not e.exp.is_number, rewrite)

    return [(sym, apply(expr)) for sym, expr in replacements], [apply(e) for e in reduced]


def _hoist_constants(
    outputs: Sequence[sympy.Expr], states: Sequence[sympy.Symbol]
) -> tuple[list[sympy.Expr], list[tuple[sympy.Symbol, sympy.Expr]]]:
    """Replace every compound subexpression free of states by a named constant ``_kN``.

    Within one protocol phase the parameters and inputs do not change, so terms such as
    ``K**n``, ``a*u/(K + u)`` or a product of rate constants need computing once per member and
    phase, not at every stage of every step. Sums and products are split into their state-free
    part (one constant) and the rest. Returns the rewritten outputs and ``(constant, expr)``.
    """
    state_set = set(states)
    table: dict[sympy.Expr, sympy.Symbol] = {}

    def constant(expr: sympy.Expr) -> sympy.Expr:
        if expr.is_Atom:
            return expr
        if expr not in table:
            table[expr] = sympy.Symbol(f"_k{len(table)}", real=True)
        return table[expr]

    def visit(expr: sympy.Expr) -> sympy.Expr:
        if expr.is_Atom:
            return expr
        if not expr.free_symbols & state_set:
            return constant(expr)
        if expr.is_Add or expr.is_Mul:
            fixed = [a for a in expr.args if not a.free_symbols & state_set]
            varying = [visit(a) for a in expr.args if a.free_symbols & state_set]
            if len(fixed) > 1:
                fixed = [constant(expr.func(*fixed))]
            else:
                fixed = [constant(a) for a in fixed]
            return expr.func(*fixed, *varying)
        if expr.is_Pow:
            # Keep exponents such as 2*n visible to _share_powers (x**(2n) = (x**n)**2).
            coefficient, rest = expr.exp.as_coeff_Mul()
            simple = expr.exp.is_Atom or (coefficient.is_Integer and rest.is_Atom)
            return sympy.Pow(visit(expr.base), expr.exp if simple else visit(expr.exp))
        return expr.func(*(visit(a) for a in expr.args))

    rewritten = [visit(e) for e in outputs]
    return rewritten, [(sym, expr) for expr, sym in table.items()]


class _KernelPrinter(NumPyPrinter):  # type: ignore[misc]
    """NumPy printer that writes negative integer powers as divisions.

    ``NumPyPrinter`` prints ``x**(-2)`` as ``x**(-2.0)`` (so that integer arrays do not fail);
    numpy and numba evaluate a float exponent other than -1, 0.5 and 2 with a general ``pow``
    call (about 23 ns), where ``1.0/x**2`` is a multiplication and a division (about 2 ns).
    The inputs here are always floating point, so the integer power is safe.
    """

    @override
    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        exponent = expr.exp
        if exponent.is_Integer and exponent < 0:
            base = self.parenthesize(expr.base, precedence(expr), strict=False)
            return f"(1.0/{base})" if exponent == -1 else f"(1.0/{base}**{-exponent})"
        return str(super()._print_Pow(expr, rational=rational))


def _function_source(
    name: str,
    outputs: Sequence[sympy.Expr],
    states: Sequence[str],
    params: Sequence[str],
    inputs: Sequence[str],
    *,
    into: bool = False,
    split: int | None = None,
    constants: Sequence[str] = (),
) -> str:
    """Generated source of one kernel.

    ``into=False``: ``name(t, y, p, u)`` returns the stacked outputs (numpy rows or scalars).
    ``into=True``: ``name(y, p, u, out)`` writes output ``i`` to ``out[i]``: plain scalar
    arithmetic on 1-D arrays, which numba compiles as it is (the batch solver's kernels).
    ``split=k`` (with ``into``): ``name(y, p, u, out, out2)``, outputs from ``k`` on going to
    ``out2`` (one kernel, one common-subexpression pass, for two results at the same point).
    ``constants`` (with ``into``): names read from an extra argument ``k`` after ``u``
    (:func:`_hoist_constants`).
    Names are bound by indexing (``x = y[0]``), which reads a row of a batch or one scalar.
    """
    printer = _KernelPrinter({"fully_qualified_modules": True})
    replacements, reduced = _share_powers(
        *sympy.cse(list(outputs), symbols=sympy.numbered_symbols("_c"))
    )

    def unpack(names: Sequence[str], source: str) -> str:
        return "".join(f"    {n} = {source}[{i}]\n" for i, n in enumerate(names))

    if into:
        extra = ", k" if constants else ""
        lines = [f"def {name}(y, p, u{extra}, out{', out2' if split is not None else ''}):\n"]
    else:
        lines = [f"def {name}(t, y, p, u):\n"]
    lines.append(unpack(states, "y"))
    lines.append(unpack(params, "p"))
    lines.append(unpack(inputs, "u"))
    lines.append(unpack(constants, "k"))
    for sym, expr in replacements:
        lines.append(f"    {sym} = {printer.doprint(expr)}\n")
    if into:
        cut = len(reduced) if split is None else split
        lines.extend(f"    out[{i}] = {printer.doprint(e)}\n" for i, e in enumerate(reduced[:cut]))
        lines.extend(f"    out2[{i}] = {printer.doprint(e)}\n" for i, e in enumerate(reduced[cut:]))
        lines.append("    return None\n")
    else:
        body = ", ".join(printer.doprint(e) for e in reduced)
        lines.append(f"    return _stack([{body}])\n" if reduced else "    return _stack([])\n")
    return "".join(lines)


@dataclass(frozen=True)
class CompiledModel:
    """A variant compiled to numerical kernels; what ``simulate`` and batch solvers run.

    Attributes
    ----------
    definition
        The resolved variant this was derived from.
    state_ids, parameter_ids, input_ids
        Orderings of the leading axes of ``y``, ``p`` and ``u``.
    observable_ids, expression_ids
        Orderings of the rows returned by :meth:`observables` and :meth:`expressions`.
    sparsity
        ``(rows, cols)`` of the structurally non-zero Jacobian entries; :meth:`jacobian_values`
        returns values in this order.
    source
        The generated Python source of every kernel (for inspection and reuse).
    scalar_source
        The right-hand side, Jacobian and observables again as scalar statements from the same
        expressions, for compiled per-member solvers: ``consts_into(y, p, u, k)`` (the
        state-free subexpressions, once per member and protocol phase), ``rhs_into(y, p, u, k,
        out)``, ``jac_into(y, p, u, k, out)``, ``rhs_jac_into(y, p, u, k, f, jac)`` (both,
        sharing their common subexpressions) and ``obs_into(y, p, u, out)``.
    scalar_constants
        Length of ``k``: the number of state-free subexpressions ``consts_into`` computes.
        (:mod:`~hostcap.mechanistic_model.compiled_solver`).
    """

    definition: ModelDefinition
    state_ids: tuple[str, ...]
    parameter_ids: tuple[str, ...]
    input_ids: tuple[str, ...]
    observable_ids: tuple[str, ...]
    expression_ids: tuple[str, ...]
    sparsity: tuple[NDArray[np.int64], NDArray[np.int64]]
    source: str
    scalar_source: str
    scalar_constants: int
    _kernels: dict[str, Kernel] = field(repr=False)

    @property
    def variant(self) -> str:
        return self.definition.variant

    def rhs(self, t: Any, y: Any, p: Any, u: Any) -> Array:
        """d state / d t, shape ``(S, ...)``."""
        return self._kernels["rhs"](t, y, p, u)

    def jacobian_values(self, t: Any, y: Any, p: Any, u: Any) -> Array:
        """Non-zero Jacobian entries in :attr:`sparsity` order, shape ``(nnz, ...)``."""
        return self._kernels["jac"](t, y, p, u)

    def jacobian(self, t: Any, y: Any, p: Any, u: Any) -> Array:
        """The dense Jacobian d rhs / d y: shape ``(S, S)`` or ``(S, S, N)`` for a batch."""
        values = self.jacobian_values(t, y, p, u)
        n = len(self.state_ids)
        dense = np.zeros((n, n, *values.shape[1:]))
        rows, cols = self.sparsity
        dense[rows, cols] = values
        return dense

    def observables(self, t: Any, y: Any, p: Any, u: Any) -> Array:
        """Observable values, shape ``(O, ...)`` in :attr:`observable_ids` order."""
        return self._kernels["obs"](t, y, p, u)

    def expressions(self, t: Any, y: Any, p: Any, u: Any) -> Array:
        """Named intermediates (SBML assignment rules), shape ``(E, ...)``."""
        return self._kernels["expr"](t, y, p, u)

    def default_parameters(self) -> dict[str, float]:
        """Parameter values of the definition (the healthy preset), by id."""
        return {p.id: p.value for p in self.definition.parameters}

    def parameter_values(
        self, phenotype: str = "healthy", overrides: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Parameter values for a phenotype preset, then ``overrides``, by id.

        Preset entries for parameters this variant does not use (e.g. the ``null`` variant's
        personal mean threshold in the mechanistic variants) are skipped.

        Raises
        ------
        UnknownIdError
            For an unknown phenotype or an override naming no parameter of this variant.
        """
        values = self.default_parameters()
        preset = phenotype_preset(phenotype)
        values.update({k: v for k, v in preset.parameters.items() if k in values})
        for k, v in (overrides or {}).items():
            if k not in values:
                raise UnknownIdError(f"parameter of variant {self.variant}", k, values)
            values[k] = float(v)
        return values

    def parameter_vector(
        self, phenotype: str = "healthy", overrides: Mapping[str, float] | None = None
    ) -> Array:
        """:meth:`parameter_values` as a vector in :attr:`parameter_ids` order."""
        values = self.parameter_values(phenotype, overrides)
        return np.array([values[k] for k in self.parameter_ids], dtype=float)

    def input_vector(self, values: Mapping[str, float] | None = None) -> Array:
        """Inputs in :attr:`input_ids` order (missing inputs are 0)."""
        values = values or {}
        unknown = set(values) - set(self.input_ids)
        if unknown:
            raise UnknownIdError("model input", sorted(unknown)[0], self.input_ids)
        return np.array([float(values.get(k, 0.0)) for k in self.input_ids])


@cache
def compile_model(variant: str = "essay") -> CompiledModel:
    """Compile a variant's rate laws, Jacobian, observables and intermediates (cached).

    Parameters
    ----------
    variant
        ``essay``, ``biochemical``, ``butyrate_direct`` or ``null``.

    Returns
    -------
    CompiledModel

    Examples
    --------
    >>> from hostcap.mechanistic_model import compile_model
    >>> m = compile_model("essay")
    >>> y = [s.initial for s in m.definition.states]
    >>> m.rhs(0.0, y, m.parameter_vector("A"), m.input_vector()).shape
    (18,)
    """
    definition = load_definition(variant)
    clash = _RESERVED & {*definition.state_ids, *definition.parameter_ids, *definition.input_ids}
    if clash:
        raise ValidationError.single("names", sorted(clash), "no reserved names (t, y, p, u, out)")
    symbols, exprs_sub, rates, observables = parse_symbolic(definition)
    states = [symbols[s] for s in definition.state_ids]
    rate_list = [rates[s] for s in definition.state_ids]
    # Differentiate each rate only by the states it contains: the rest are structural zeros.
    rows, cols = [], []
    nonzero: list[sympy.Expr] = []
    for i, rate in enumerate(rate_list):
        present = rate.free_symbols
        for j, state in enumerate(states):
            if state not in present:
                continue
            entry = sympy.diff(rate, state)
            if entry != 0:
                rows.append(i)
                cols.append(j)
                nonzero.append(entry)
    args = (definition.state_ids, definition.parameter_ids, definition.input_ids)
    sources = {
        "rhs": _function_source("rhs", rate_list, *args),
        "jac": _function_source("jac", nonzero, *args),
        "obs": _function_source("obs", [observables[o.id] for o in definition.observables], *args),
        "expr": _function_source("expr", [exprs_sub[e.id] for e in definition.expressions], *args),
    }
    hoisted, constants = _hoist_constants([*rate_list, *nonzero], states)
    rates_k, jac_k = hoisted[: len(rate_list)], hoisted[len(rate_list) :]
    k_names = [str(sym) for sym, _ in constants]
    scalar_source = "\n\n".join(
        [
            _function_source(
                "consts_into", [expr for _, expr in constants], (), *args[1:], into=True
            ),
            _function_source("rhs_into", rates_k, *args, into=True, constants=k_names),
            _function_source("jac_into", jac_k, *args, into=True, constants=k_names),
            _function_source(
                "rhs_jac_into",
                [*rates_k, *jac_k],
                *args,
                into=True,
                split=len(rate_list),
                constants=k_names,
            ),
            _function_source(
                "obs_into", [observables[o.id] for o in definition.observables], *args, into=True
            ),
        ]
    )
    namespace: dict[str, Any] = {"numpy": np, "_stack": _stack}
    source = "\n\n".join(sources.values())
    exec(compile(source, f"<hostcap model {variant}>", "exec"), namespace)
    return CompiledModel(
        definition=definition,
        state_ids=definition.state_ids,
        parameter_ids=definition.parameter_ids,
        input_ids=definition.input_ids,
        observable_ids=tuple(o.id for o in definition.observables),
        expression_ids=tuple(e.id for e in definition.expressions),
        sparsity=(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)),
        source=source,
        scalar_source=scalar_source,
        scalar_constants=len(constants),
        _kernels={k: namespace[k] for k in sources},
    )
