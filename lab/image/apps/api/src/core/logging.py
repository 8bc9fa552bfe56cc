"""JSON log lines, one per event, with the module's name as ``logger``.

A line looks like the ones in the production diagnosis::

    {"error": "...", "event": "Redis cache connection failed", "level": "warning",
     "logger": "src.core.redis_cache", "timestamp": "2025-09-30T20:19:00.585060Z"}
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def setup_logging(level: str = "INFO") -> None:
    threshold = logging.getLevelName(level.upper())
    if not isinstance(threshold, int):
        threshold = logging.INFO
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    # One access line per request would be one every 2 s from the lab's
    # health check alone.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class _NamedLogger:
    """Bound at each use, so loggers made at import follow setup_logging."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(structlog.get_logger().bind(logger=self._name), method)


def get_logger(name: str) -> Any:
    return _NamedLogger(name)


setup_logging()
