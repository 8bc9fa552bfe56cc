"""The api's ASGI app (diagnosis generation): uvicorn src.main:app.

CORS origins are the settings' cors_origins, that is CORS_ORIGINS decoded
as a JSON list.
"""

from __future__ import annotations

from .application import create_app
from .core.config import get_settings

settings = get_settings()
app = create_app(settings, allow_origins=settings.cors_origins)
