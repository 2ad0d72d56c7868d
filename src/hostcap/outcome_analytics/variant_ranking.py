"""Which hypothesis do the data favour: cohort-level ranking of model variants.

Input: one held-out predictive error per client and variant (the error of each variant, fitted to
a client's earlier visits, in predicting the held-out last visit; produced by the per-client
fitting, issue 4). Lower is better.

Only clients with an error for *every* variant enter (the comparison is paired). The cohort
statistic is the mean error per variant; uncertainty comes from resampling clients (bootstrap):
each resample ranks the variants, giving each variant's mean rank and the probability of being
best, and the paired difference ``variant − reference`` (reference ``null``) with a percentile
95 % interval. A variant "ranks above null" only when that interval lies wholly below 0; "ranks
below null" when wholly above; otherwise the data do not distinguish them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from hostcap.errors import Issue, ValidationError

__all__ = ["VARIANT_COMPARISON_COLUMNS", "VariantComparison", "compare_variants"]

VARIANT_COMPARISON_COLUMNS: tuple[str, ...] = (
    "variant",
    "n_clients",
    "mean_error",
    "mean_rank",
    "p_best",
    "diff_vs_reference",
    "diff_ci_low",
    "diff_ci_high",
    "verdict",
    "note",
)


@dataclass(frozen=True)
class VariantComparison:
    """Result of :func:`compare_variants`; ``table`` has :data:`VARIANT_COMPARISON_COLUMNS`."""

    table: pd.DataFrame
    reference: str
    n_clients: int
    n_excluded: int
    n_bootstrap: int
    note: str

    def ranks_above(self, variant: str) -> bool:
        """Whether ``variant`` ranks above the reference with a CI excluding 0."""
        row = self.table.loc[self.table["variant"] == variant]
        return bool(len(row)) and row["verdict"].iloc[0] == "ranks above reference"


def _empty(reference: str, note: str) -> VariantComparison:
    return VariantComparison(
        table=pd.DataFrame(columns=list(VARIANT_COMPARISON_COLUMNS)),
        reference=reference,
        n_clients=0,
        n_excluded=0,
        n_bootstrap=0,
        note=note,
    )


def _input_issues(errors: pd.DataFrame, values: pd.Series, reference: str) -> list[Issue]:
    """Every problem of the errors frame: non-finite errors, repeated rows, a reference
    without errors."""
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    issues: list[Issue] = []
    if bad.any():
        first = errors["held_out_error"].iloc[int(np.flatnonzero(bad)[0])]
        issues.append(
            Issue(
                "errors.held_out_error",
                f"{int(bad.sum())} value(s) are not finite numbers (first {first!r}); "
                "expected a finite error",
                value=first,
                expected="a finite float",
            )
        )
    if errors.duplicated(["client", "variant"]).any():
        first = errors.loc[errors.duplicated(["client", "variant"])].iloc[0]
        issues.append(
            Issue(
                "errors.variant",
                f"client {first['client']!r} has variant {first['variant']!r} more than once; "
                "expected one error per client and variant",
                value=(first["client"], first["variant"]),
                expected="unique (client, variant) rows",
            )
        )
    variants = sorted(errors["variant"].astype(str).unique())
    if reference not in variants:
        issues.append(
            Issue(
                "reference",
                f"reference variant {reference!r} has no errors; expected one of {variants}",
                value=reference,
                expected="one of " + ", ".join(variants),
            )
        )
    return issues


def compare_variants(
    errors: pd.DataFrame,
    *,
    reference: str = "null",
    n_bootstrap: int = 1000,
    seed: int = 0,
    min_clients: int = 5,
) -> VariantComparison:
    """Rank model variants by held-out error, with bootstrap uncertainty over clients.

    Parameters
    ----------
    errors
        Columns ``client, variant, held_out_error`` (one row per client and variant).
    reference
        The variant every other is compared with.
    n_bootstrap
        Resamples of clients (≥ 100).
    seed
        Seed of the resampling.
    min_clients
        With fewer paired clients the means are reported but no interval or verdict: a
        bootstrap over two or three clients describes those clients, not the variants.

    Raises
    ------
    ValidationError
        For missing columns, non-finite errors, repeated (client, variant) rows, a reference
        that is not among the variants, or too few resamples.
    """
    needed = ("client", "variant", "held_out_error")
    missing = [c for c in needed if c not in errors.columns]
    if missing:
        raise ValidationError.single(
            "errors", sorted(map(str, errors.columns)), f"a frame with columns {', '.join(needed)}"
        )
    if n_bootstrap < 100:
        raise ValidationError.single("n_bootstrap", n_bootstrap, "an integer ≥ 100")
    if errors.empty:
        return _empty(reference, "no per-client fits were given")
    values = pd.to_numeric(errors["held_out_error"], errors="coerce")
    issues = _input_issues(errors, values, reference)
    if issues:
        raise ValidationError(issues, context="variant comparison")
    wide = errors.assign(held_out_error=values).pivot(
        index="client", columns="variant", values="held_out_error"
    )
    complete = wide.dropna()
    n_excluded = len(wide) - len(complete)
    if len(complete) < 2:
        return _empty(reference, f"only {len(complete)} client(s) have every variant's error")
    names = list(complete.columns.astype(str))
    matrix = complete.to_numpy(dtype=float)
    ref = names.index(reference)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(matrix), size=(n_bootstrap, len(matrix)))
    boot_means = matrix[idx].mean(axis=1)  # (n_bootstrap, variants)
    boot_ranks = stats.rankdata(boot_means, axis=1)
    boot_diff = boot_means - boot_means[:, [ref]]
    point = matrix.mean(axis=0)
    rows = []
    for j, name in enumerate(names):
        low, high = np.percentile(boot_diff[:, j], [2.5, 97.5])
        if j == ref:
            verdict, low, high = "reference", math.nan, math.nan
        elif len(matrix) < min_clients:
            verdict, low, high = f"too few clients to rank (< {min_clients})", math.nan, math.nan
        elif high < 0:
            verdict = "ranks above reference"
        elif low > 0:
            verdict = "ranks below reference"
        else:
            verdict = "not distinguishable from reference"
        rows.append(
            {
                "variant": name,
                "n_clients": len(matrix),
                "mean_error": float(point[j]),
                "mean_rank": float(boot_ranks[:, j].mean()),
                "p_best": float((boot_ranks[:, j] == 1).mean()),
                "diff_vs_reference": float(point[j] - point[ref]),
                "diff_ci_low": float(low),
                "diff_ci_high": float(high),
                "verdict": verdict,
                "note": "",
            }
        )
    table = pd.DataFrame(rows, columns=list(VARIANT_COMPARISON_COLUMNS)).sort_values(
        ["mean_error", "variant"], kind="stable"
    )
    note = (
        f"paired over {len(matrix)} clients with every variant's error; "
        f"{n_excluded} client(s) lacking a variant's error left out"
    )
    return VariantComparison(
        table=table.reset_index(drop=True),
        reference=reference,
        n_clients=len(matrix),
        n_excluded=n_excluded,
        n_bootstrap=n_bootstrap,
        note=note,
    )
