"""A straight-line sparse LU for ``W = c I - J`` generated once from the fixed Jacobian pattern.

The Jacobian's sparsity is known from the model definition (sympy derives it), so the LU of the
Rosenbrock iteration matrix ``W = c I - J`` can be planned once: an elimination order is chosen
by greedy minimum degree, the fill-in is found by symbolic factorisation, and the factorisation
and the triangular solves are generated as plain numpy statements on rows of shape ``(N,)``
(one row per stored entry, one column per batch member). No pivoting: ``W`` is dominated by its
diagonal for the step sizes a stiff solver takes (``c = 1/(γh)`` plus the decay terms on the
diagonal of ``-J``), which is the standard assumption of Rosenbrock codes with structured LU.

References
----------
Hairer E, Wanner G. Solving Ordinary Differential Equations II, 2nd ed. Springer, 1996, §IV.7
(Rosenbrock methods and their linear algebra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SparseLU", "plan_sparse_lu"]

Array = NDArray[np.float64]


def _minimum_degree_order(n: int, pattern: set[tuple[int, int]]) -> list[int]:
    """Greedy minimum-degree elimination order on the symmetrised pattern (ties by index)."""
    adjacency: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in pattern:
        if i != j:
            adjacency[i].add(j)
            adjacency[j].add(i)
    order: list[int] = []
    remaining = set(range(n))
    while remaining:
        node = min(remaining, key=lambda k: (len(adjacency[k] & remaining), k))
        order.append(node)
        remaining.discard(node)
        neighbours = adjacency[node] & remaining
        for a in neighbours:
            adjacency[a] |= neighbours - {a}
    return order


@dataclass(frozen=True)
class SparseLU:
    """A planned sparse LU: storage layout plus generated ``factor`` and ``solve`` kernels.

    Attributes
    ----------
    n
        Matrix size (number of states).
    order
        Elimination order (original state indices).
    size
        Rows of the work array: stored entries plus one reciprocal pivot per state.
    jacobian_slots
        Work-array row of each structurally non-zero Jacobian entry (in the model's sparsity order).
    diagonal_slots
        Work-array row of each diagonal entry, by original state index.
    fill_in
        Entries created by the elimination that are not in the Jacobian pattern.
    source
        The generated Python source (for inspection).
    """

    n: int
    order: tuple[int, ...]
    size: int
    jacobian_slots: NDArray[np.int64]
    diagonal_slots: NDArray[np.int64]
    fill_in: int
    source: str
    _factor: Callable[[Array], None] = field(repr=False)
    _solve: Callable[[Array, Array], None] = field(repr=False)

    def assemble(self, c: Array, jacobian_values: Array) -> Array:
        """The work array holding ``W = c I - J`` for a batch (``c`` of shape ``(N,)``)."""
        work = np.zeros((self.size, jacobian_values.shape[1]))
        work[self.jacobian_slots] = -jacobian_values
        work[self.diagonal_slots] += c
        return work

    def factor(self, work: Array) -> None:
        """Factor ``work`` in place (L unit lower, U upper, reciprocal pivots)."""
        self._factor(work)

    def solve(self, work: Array, rhs: Array) -> None:
        """Overwrite ``rhs`` (shape ``(n, N)``, state order) with ``W⁻¹ rhs``."""
        self._solve(work, rhs)


def plan_sparse_lu(n: int, rows: Sequence[int], cols: Sequence[int]) -> SparseLU:
    """Plan the LU of ``c I - J`` for a Jacobian with non-zeros at ``(rows, cols)``.

    Parameters
    ----------
    n
        Number of states.
    rows, cols
        Structurally non-zero Jacobian entries (the diagonal is always added).

    Returns
    -------
    SparseLU
    """
    base = {(int(i), int(j)) for i, j in zip(rows, cols, strict=True)}
    base |= {(i, i) for i in range(n)}
    order = _minimum_degree_order(n, base)
    position = {orig: k for k, orig in enumerate(order)}
    # Work in permuted coordinates; remember original coordinates for slots.
    pattern = {(position[i], position[j]) for i, j in base}
    ops: list[tuple[int, list[int], list[int]]] = []
    for k in range(n):
        below = sorted(i for (i, j) in pattern if j == k and i > k)
        right = sorted(j for (i, j) in pattern if i == k and j > k)
        for i in below:
            for j in right:
                pattern.add((i, j))
        ops.append((k, below, right))
    entries = sorted(pattern)
    slot = {e: s for s, e in enumerate(entries)}
    inverse = {k: len(entries) + k for k in range(n)}
    size = len(entries) + n

    f_lines = ["def factor(A):\n"]
    for k, below, right in ops:
        f_lines.append(f"    r = 1.0 / A[{slot[(k, k)]}]\n")
        f_lines.append(f"    A[{inverse[k]}] = r\n")
        for i in below:
            f_lines.append(f"    A[{slot[(i, k)]}] *= r\n")
            for j in right:
                f_lines.append(f"    A[{slot[(i, j)]}] -= A[{slot[(i, k)]}] * A[{slot[(k, j)]}]\n")
    f_lines.append("    return None\n")

    # b is in original state order: permuted row k is original row order[k].
    s_lines = ["def solve(A, b):\n"]
    for i in range(n):
        terms = [k for k in range(i) if (i, k) in pattern]
        for k in terms:
            s_lines.append(f"    b[{order[i]}] -= A[{slot[(i, k)]}] * b[{order[k]}]\n")
    for i in reversed(range(n)):
        for j in range(i + 1, n):
            if (i, j) in pattern:
                s_lines.append(f"    b[{order[i]}] -= A[{slot[(i, j)]}] * b[{order[j]}]\n")
        s_lines.append(f"    b[{order[i]}] *= A[{inverse[i]}]\n")
    s_lines.append("    return None\n")
    source = "".join(f_lines) + "\n\n" + "".join(s_lines)
    namespace: dict[str, Any] = {}
    exec(compile(source, "<hostcap sparse LU>", "exec"), namespace)

    jacobian_slots = np.array(
        [slot[(position[int(i)], position[int(j)])] for i, j in zip(rows, cols, strict=True)],
        dtype=np.int64,
    )
    diagonal_slots = np.array([slot[(position[i], position[i])] for i in range(n)], dtype=np.int64)
    return SparseLU(
        n=n,
        order=tuple(order),
        size=size,
        jacobian_slots=jacobian_slots,
        diagonal_slots=diagonal_slots,
        fill_in=len(entries) - len(base),
        source=source,
        _factor=namespace["factor"],
        _solve=namespace["solve"],
    )
