"""The api's ASGI app (current generation): uvicorn src.main:app.

CORS origins come from the settings' parsed_cors_origins.
"""

from __future__ import annotations

from .application import create_app
from .core.config import get_settings

settings = get_settings()
app = create_app(settings, allow_origins=settings.parsed_cors_origins)
