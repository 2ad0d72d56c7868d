"""The one layer the faces call: opens stores, loads records, calls the pure core, stores results
with provenance."""

__all__: list[str] = []
