"""Secrets of the api (current generation).

REDIS_URL from the environment wins. Without it, the URL is built from
REDIS_PASSWORD (when it is at least 8 characters and not a known weak value),
REDIS_HOST, REDIS_PORT and REDIS_DB, the password not percent-encoded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .secret_checks import build_redis_url, get_mongodb_url, get_secret, validate_critical_secrets

__all__ = ["get_mongodb_url", "get_redis_url", "get_secret"]


def get_redis_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    return build_redis_url(get_secret("REDIS_PASSWORD", required=False, min_length=8, environ=env), env)


validate_critical_secrets()
