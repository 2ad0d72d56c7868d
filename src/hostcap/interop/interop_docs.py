"""``docs/interop.md``: the hostcap ↔ FHIR and hostcap ↔ REDCap mapping tables, from the data."""

from __future__ import annotations

from hostcap import catalog
from hostcap.interop.fhir_codes import FHIR_MAPPING, FHIR_NOT_EXPORTED, UCUM_SYSTEM
from hostcap.interop.fields import KIND_ORDER, KindFields
from hostcap.interop.redcap_dictionary import DICTIONARY_COLUMNS, FIELD_TYPES, data_dictionary

__all__ = ["VALIDATOR_NOTES", "interop_markdown"]

#: What each independent validator rejected while this mapping was developed, and the change.
VALIDATOR_NOTES: tuple[tuple[str, str, str], ...] = (
    (
        "fhir.resources 8.3.0 (R4B)",
        "Nothing in hostcap's exports (the 4-client demo store, the every-field test store, a "
        "50-client synthetic cohort: seed 7, 4,480 records). In the validators' own test it "
        "refuses a "
        "malformed dateTime (2026-13-45), which FHIR.js accepts.",
        "Nothing needed changing.",
    ),
    (
        "FHIR.js 4.12.0 (npm fhir, R4 definitions)",
        "No errors in the same exports. Warnings and information only: codes not found in the "
        "value sets bound to Observation.code, component.code and meta.tag (LOINC and hostcap's "
        "urn:hostcap: codes; those bindings are of example strength) and 'value set could not "
        "be found'. In the validators' own test it refuses status 'bogus', which "
        "fhir.resources accepts.",
        "Nothing needed changing; the tests fail on any message of severity error.",
    ),
    (
        "conformance review (no validator flagged it)",
        "The first draft gave each Questionnaire the fullUrl of its canonical URL "
        "(urn:hostcap:questionnaire:fss) and an id unlike the others.",
        "fullUrl urn:uuid:<uuid> and id <uuid> for every resource, as Bundle.entry.fullUrl "
        "expects; Questionnaire.url stays the canonical URL the responses cite.",
    ),
    (
        "PyCap 2.7 (REDCap client)",
        "Project() refuses (AssertionError) a URL not ending in /api/ and a token that is not "
        "32 characters long, before any request.",
        "pull and push check both first and say what was expected; tokens are read from the "
        "environment variable named by --token-env, never from the command line.",
    ),
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def interop_markdown(fields: KindFields) -> str:
    """The mapping document for the record kinds declared in ``fields``."""
    lines = _commands_and_deidentification()
    lines += _fhir_section(fields)
    lines += _redcap_section(fields)
    lines += _validators_section()
    return "\n".join(lines)


def _commands_and_deidentification() -> list[str]:
    return [
        "# Interoperability: FHIR R4B and REDCap",
        "",
        "Generated from the record kinds' declarations and the mapping data in "
        "`hostcap.interop` (do not edit by hand).",
        "",
        "```",
        "hostcap fhir export --out bundle.json [--client CODE] [--identified]",
        "hostcap fhir import bundle.json [--dry-run]",
        "hostcap redcap dictionary --out dictionary.csv",
        "hostcap redcap export --out records.csv [--type flat|eav] [--identified]",
        "hostcap redcap import records.csv --dictionary dictionary.csv [--dry-run]",
        "hostcap redcap pull --url URL --token-env VAR [--dry-run]",
        "hostcap redcap push --url URL --token-env VAR [--identified]",
        "```",
        "",
        "## De-identification",
        "",
        "Exports are de-identified unless `--identified` is given (which asks for confirmation "
        "and is recorded in the audit log as `export_identified`):",
        "",
        "- each client is known by a pseudonym drawn at random for this export (`P-7F3K2Q`); "
        "nobody can recompute it from the client code and the mapping is not written;",
        "- the birth year is the only birth date element written (FHIR `birthDate` = `YYYY`); "
        "no name, address, telephone or e-mail is ever written, identified or not;",
        "- free text (fields declared free text: notes, treatment, source, phase) is left out;",
        "- every date of a client moves back by the same random 1–364 days (REDCap's date "
        "shifting: intervals are kept; never before 1 January of the birth year). Shifted dates "
        "are still dates: this is REDCap's de-identified export, not HIPAA Safe Harbor.",
        "",
        "`--identified` writes the real client codes (FHIR identifier system "
        "`urn:hostcap:client-code`), real dates and free text.",
        "",
    ]


def _fhir_section(fields: KindFields) -> list[str]:
    lines = [
        "## FHIR R4B",
        "",
        "A Bundle of type `collection`; resource ids are UUIDs computed from each resource's "
        "content, so the "
        "same records always give the same bundle. Times are written with the clinic's UTC "
        "offset; on import they are converted to the clinic's local time (what the store holds). "
        f"Quantities use UCUM (`{UCUM_SYSTEM}`); lab values are written in the UCUM spelling of "
        "the unit they were entered in, and converted on import like the CSV import.",
        "",
        "| record kind | field | FHIR resource | element |",
        "| --- | --- | --- | --- |",
    ]
    for kind in KIND_ORDER:
        mapping = FHIR_MAPPING[kind]
        for spec in fields.get(kind, ()):
            element = mapping.fields.get(spec.name, "(not mapped)")
            lines.append(f"| {kind} | {spec.name} | {mapping.resource} | {_cell(element)} |")
    lines += ["", "How each resource is recognised on import, and notes:", ""]
    for kind in KIND_ORDER:
        mapping = FHIR_MAPPING[kind]
        note = f" {mapping.note}" if mapping.note else ""
        lines.append(
            f"- **{kind}** → {mapping.resource}, recognised by {mapping.recognised_by}.{note}"
        )
    lines += ["", "Never exported:", ""]
    lines += [f"- **{what}**: {why}" for what, why in FHIR_NOT_EXPORTED.items()]
    lines += [
        "",
        "### Laboratory codes (from the catalog)",
        "",
        "| analyte | code system | code | UCUM units accepted | canonical |",
        "| --- | --- | --- | --- | --- |",
    ]
    for a in catalog.analytes().values():
        lines.append(
            f"| {a.id} | {a.code_system} | {a.code} | {', '.join(a.accepted_units)} | "
            f"{a.canonical_unit} |"
        )
    lines += [
        "",
        "### Import",
        "",
        "All or nothing: every problem is named with the resource (`entry[3] Observation/…`), "
        "the element path, the value and what was expected, and nothing is written while one "
        "remains. LOINC codes map to catalog analytes and units are converted like the CSV "
        "import. A resource type hostcap does not import (Condition, AllergyIntolerance …), "
        "identifying elements of a Patient (name, telecom, address) and survey totals (recomputed "
        "from the answers, and checked) are listed, never dropped silently. Importing the same "
        "bundle twice adds nothing; a record whose key is stored with other values is refused. "
        "A de-identified bundle imported into the store it came from brings its clients in as "
        "new clients (their pseudonyms cannot be linked back, by design).",
        "",
    ]
    return lines


def _redcap_section(fields: KindFields) -> list[str]:
    lines = [
        "## REDCap",
        "",
        "The data dictionary has REDCap's 18 columns in their order: "
        + ", ".join(f"`{c}`" for c in DICTIONARY_COLUMNS)
        + ". `record_id` (the client code) comes first. One instrument per record kind (named "
        "after the kind) and one per questionnaire of the catalog (instead of the "
        "`questionnaires` kind: its date and one field per item). Every instrument but "
        "`clients` is a repeating instrument. Free-text fields are flagged `Identifier? = y`.",
        "",
        "| declared type | REDCap field type | text validation |",
        "| --- | --- | --- |",
    ]
    for declared, (field_type, validation) in FIELD_TYPES.items():
        lines.append(f"| {declared} | {field_type} | {validation or '—'} |")
    lines += [
        "",
        "Free text becomes `notes`; catalog ids (analyte, drug, intervention) become `dropdown` "
        "fields of the catalog's entries; limits become Text Validation Min/Max.",
        "",
        "| field | form | type | validation | min | max | required | identifier | choices |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in data_dictionary(fields):
        values = [row[c] for c in DICTIONARY_COLUMNS]
        choices = values[5] if len(values[5]) <= 60 else values[5][:57] + "…"
        lines.append(
            f"| {values[0]} | {values[1]} | {values[3]} | {values[7]} | {values[8]} | "
            f"{values[9]} | {values[12]} | {values[10]} | {_cell(choices)} |"
        )
    lines += [
        "",
        "Records are exported flat (one row per client, plus one per repeat instance: "
        "`redcap_repeat_instrument`, `redcap_repeat_instance`; checkboxes as `field___code` "
        "0/1; `<form>_complete` = 2) or as EAV (`record, field_name, value, "
        "redcap_repeat_instrument, redcap_repeat_instance`; one row per ticked checkbox code). "
        "Import checks every value against the dictionary given (type, validation, limits, "
        "choices) and then the store's own rules, all or nothing.",
        "",
        "`pull` and `push` talk to REDCap's API (`POST /api/`: metadata, record, version) through "
        "PyCap. They are tested against a small local fake of that API (a contract test, not a "
        "REDCap test): no REDCap instance was available.",
        "",
    ]
    return lines


def _validators_section() -> list[str]:
    lines = [
        "## What the validators rejected during development",
        "",
        "Exports are checked in the tests by two implementations hostcap did not write: "
        "`fhir.resources` (R4B, Python) and FHIR.js (npm `fhir`, R4 definitions, run under Node).",
        "",
    ]
    if VALIDATOR_NOTES:
        lines += ["| validator | rejected | changed |", "| --- | --- | --- |"]
        lines += [f"| {a} | {_cell(b)} | {_cell(c)} |" for a, b, c in VALIDATOR_NOTES]
    else:
        lines.append("Nothing was rejected.")
    lines.append("")
    return lines
