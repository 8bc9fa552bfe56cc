"""A Redis client that keeps its pooled connection open and uses it.

Both Redis clients of the api (the cache, the token blacklist) are one of
these: a redis-py client whose connection is made when the api starts and
pinged every few seconds, so Redis's own CLIENT LIST shows the api's
connection, as old as the api. A failure is only logged (a warning, with
redis-py's message as ``error``); the api keeps serving, and the client tries
again a little later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis

PING_EVERY = 5.0
RETRY_EVERY = 10.0


def _safe_error(exc: Exception) -> str:
    # redis-py's connection and authentication errors name host and port only;
    # a URL it cannot parse may quote part of the password: say only that.
    if isinstance(exc, (redis.RedisError, OSError)):
        return str(exc)
    return "invalid Redis URL (%s)" % type(exc).__name__


class KeptRedis:
    def __init__(self, url_of: Callable[[], str], logger: Any, failed: str, connected: str) -> None:
        self._url_of = url_of
        self._log = logger
        self._failed = failed
        self._connected = connected
        self._client: redis.Redis | None = None
        self._ok = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self) -> redis.Redis | None:
        return self._client if self._ok else None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="redis-keeper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()

    def _attempt(self) -> bool:
        try:
            if self._client is None:
                self._client = redis.Redis.from_url(self._url_of(), socket_connect_timeout=5, socket_timeout=5)
            self._client.ping()
        except Exception as exc:  # every failure is logged and retried, never raised
            self._ok = False
            self._log.warning(self._failed, error=_safe_error(exc))
            return False
        if not self._ok:
            self._ok = True
            self._log.info(self._connected)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(PING_EVERY if self._attempt() else RETRY_EVERY)
