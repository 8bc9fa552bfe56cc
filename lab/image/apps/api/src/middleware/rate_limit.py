"""Rate limit per client address, in memory.

RATE_LIMIT_CALLS requests per RATE_LIMIT_PERIOD seconds from one address
(the last RATE_LIMIT_PERIOD seconds, counted at each request); past that,
429 with Retry-After. RATE_LIMIT_ENABLED=false turns it off. Nothing here
reads RATE_LIMIT_REQUESTS_PER_MINUTE. The limit is per api process: a new
container starts with empty counters.

It is the outermost layer: every request counts, preflights and requests
with a refused Host included.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any


class RateLimitMiddleware:
    def __init__(self, app: Any, calls: int, period: int, enabled: bool = True) -> None:
        self.app = app
        self.calls = calls
        self.period = period
        self.enabled = enabled
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and now - seen[0] >= self.period:
                seen.popleft()
            if len(seen) >= self.calls:
                return False
            seen.append(now)
            return True

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if self._allow(client):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "Rate limit exceeded"}).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.period).encode())]})
        await send({"type": "http.response.body", "body": body})
