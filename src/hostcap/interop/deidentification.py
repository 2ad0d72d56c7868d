"""De-identification of records in input form before they leave hostcap as FHIR or REDCap.

- client codes are replaced by the pseudonyms the caller drew (random per export, see
  ``clinical_store.export.new_pseudonyms``), the same within one export;
- free text (fields declared ``free_text``) is left out;
- every date and date-time of a client moves back by that client's shift in days (REDCap's
  "date shifting": constant within a client, so intervals are kept), never to before 1 January
  of the birth year, so that the records stay valid; the birth year itself is kept and nothing
  finer is ever written.

Shifted dates are still dates: this is REDCap's de-identified export, not HIPAA Safe Harbor
(which keeps no date element but the year). Pure: the caller draws the random numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hostcap.interop.fields import KindFields, Records

__all__ = ["date_shifts", "deidentify"]


def _date_fields(fields: KindFields) -> dict[str, list[str]]:
    return {
        kind: [f.name for f in specs if str(f.type) in ("date", "datetime")]
        for kind, specs in fields.items()
    }


def date_shifts(records: Records, fields: KindFields, drawn: Mapping[str, int]) -> dict[str, int]:
    """Each client's shift in days: the drawn one, or less where it would cross 1 January of
    the birth year (an event dated before birth is refused by every store)."""
    earliest: dict[str, dt.date] = {}
    for kind, names in _date_fields(fields).items():
        for record in records.get(kind, ()):
            code = str(record["client_code"])
            for name in names:
                text = record.get(name)
                if text:
                    day = dt.date.fromisoformat(str(text)[:10])
                    if code not in earliest or day < earliest[code]:
                        earliest[code] = day
    shifts: dict[str, int] = {}
    for record in records.get("clients", ()):
        code = str(record["client_code"])
        first = earliest.get(code)
        room = (first - dt.date(int(str(record["birth_year"])), 1, 1)).days if first else 10**6
        shifts[code] = max(0, min(int(drawn.get(code, 0)), room))
    return shifts


def _shift(text: str, days: int) -> str:
    if len(text) <= 10:
        return (dt.date.fromisoformat(text) - dt.timedelta(days=days)).isoformat()
    moment = dt.datetime.fromisoformat(text) - dt.timedelta(days=days)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec)


def deidentify(
    records: Records,
    fields: KindFields,
    pseudonyms: Mapping[str, str],
    shifts: Mapping[str, int],
) -> dict[str, list[dict[str, str | None]]]:
    """``records`` with pseudonyms for codes, no free text and dates shifted per client."""
    dates = _date_fields(fields)
    out: dict[str, list[dict[str, str | None]]] = {}
    for kind, rows in records.items():
        free = {f.name for f in fields[kind] if f.free_text}
        changed = []
        for record in rows:
            code = str(record["client_code"])
            new = {k: v for k, v in record.items() if k not in free}
            new["client_code"] = pseudonyms[code]
            for name in dates.get(kind, ()):
                if new.get(name):
                    new[name] = _shift(str(new[name]), shifts.get(code, 0))
            changed.append(new)
        out[kind] = changed
    return out
