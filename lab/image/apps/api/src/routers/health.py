"""Health endpoints, mounted under /api, without authentication.

GET /api/health always answers 200 and checks the database only: a broken
Redis does not show here. /api/health/live answers while the process runs;
/api/health/ready answers 503 while the database does not.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..core.config import get_settings
from ..core.database import Database

router = APIRouter()
_started = time.monotonic()


@router.get("/health")
def health() -> dict[str, Any]:
    database = Database.ping()
    return {
        "status": "healthy" if database["status"] == "healthy" else "degraded",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "version": get_settings().app_version,
        "uptime_seconds": round(time.monotonic() - _started, 1),
        "checks": {"database": database},
    }


@router.get("/health/live")
def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready")
def ready() -> JSONResponse:
    database = Database.ping()
    if database["status"] == "healthy":
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready", "checks": {"database": database}}, status_code=503)
