"""Redis cache of chat history (diagnosis generation).

The cache does not use the settings' Redis URL: it takes the Celery broker's
URL with "/1" replaced by "/0" (every occurrence, as str.replace does). The
broker URL defaults to redis://localhost:6379/1, so where it is not set the
cache dials the api container itself: "Error 111 connecting to
localhost:6379. Connection refused."
"""

from __future__ import annotations

from .config import Settings, get_settings
from .logging import get_logger
from .redis_keeper import KeptRedis

logger = get_logger(__name__)


def cache_url(settings: Settings) -> str:
    return settings.celery_broker_url.replace("/1", "/0")


redis_cache = KeptRedis(lambda: cache_url(get_settings()), logger,
                        failed="Redis cache connection failed", connected="Redis cache connected successfully")
