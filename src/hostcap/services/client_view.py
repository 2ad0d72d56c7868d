"""What every view of a client shows: the safety banner first, then the records.

One function, so that ``hostcap client show``, the demo and (later) the web app cannot show a
client without the emergency / specialist-referral lines the clinical safety rules require.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from hostcap.clinical_store import Store
from hostcap.services.assessment_reports import client_safety_banner
from hostcap.services.store import client_overview

__all__ = ["client_view", "format_value"]


def client_view(store: Store, code: str) -> dict[str, Any]:
    """``client_overview`` plus ``safety``: the banner lines (live triage + newest assessment).

    An empty ``safety`` list means no safety rule fired on the stored data; when triage could
    not run, the banner says so instead of staying silent.
    """
    view = client_overview(store, code)
    view["safety"] = client_safety_banner(store, code)
    return view


def format_value(value: Any) -> str:
    """A stored value as ``client show`` prints it and the web app's tables show it: blank for
    missing, 4 significant digits, ``YYYY-MM-DD[ HH:MM]``, lists joined, booleans yes/no."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
