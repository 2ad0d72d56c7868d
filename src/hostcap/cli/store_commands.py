"""Clinical store commands: init, client, lab, med, questionnaire, import, export, audit, backup."""

from __future__ import annotations

from hostcap.cli.main import app

__all__ = ["app"]
