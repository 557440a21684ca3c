"""``consent_api.asgi:app``: the application built from ``$SMSGW_CONFIG`` (for uvicorn's
worker processes, and for any ASGI server an operator prefers)."""

from __future__ import annotations

from config.settings import settings_for
from consent_api.app import create_app
from consent_api.services import build

app = create_app(build(settings_for(None)))
