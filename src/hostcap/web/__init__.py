"""The practitioner's web app: FastAPI + Jinja2 pages (htmx served by the app), /api/v1 JSON.

A face like the CLI: it imports only :mod:`hostcap.services` and the ground floor, and turns
``hostcap.errors`` into one error page and one JSON error shape. ``hostcap serve`` runs it.
"""

from hostcap.web.app import create_app

__all__ = ["create_app"]
