"""How the record commands report what they stored (one record, an import, a dry run)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hostcap.cli.consoles import console, err

if TYPE_CHECKING:
    from hostcap.services.store import ImportReport

__all__ = ["console", "err", "print_report"]


def print_report(report: ImportReport, what: str) -> None:
    """Warnings first, then what was stored (or would be, on a dry run)."""
    for w in report.warnings:
        err.print(f"warning: {w}", markup=False)
    if report.dry_run:
        console.print(
            f"dry run: {report.rows_read} {what} rows are valid; {report.inserted} would be "
            f"written ({report.replaced} replacing existing records). Nothing was written."
        )
    elif report.batch is None:
        replaced = f" (replaced {report.replaced})" if report.replaced else ""
        console.print(f"stored {what} record {', '.join(map(str, report.ids))}{replaced}")
    else:
        console.print(
            f"imported {report.inserted} {what} rows (batch {report.batch}; replaced "
            f"{report.replaced})"
        )
