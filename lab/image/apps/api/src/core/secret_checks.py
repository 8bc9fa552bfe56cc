"""Secrets from the environment, with the checks the api applies when it starts.

``secrets.py`` (one per generation) imports this module and runs
``validate_critical_secrets()`` when it is imported: with
``NODE_ENV=production`` a missing, short or weak critical secret raises, and
since the settings import ``secrets.py``, the api does not start. Elsewhere the
failure is only logged. Messages name the variable and the rule, never the
value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

logger = logging.getLogger(__name__)

# Compared case-insensitively with the whole value.
WEAK_VALUES = frozenset({
    "password", "changeme", "change_me", "change-me", "secret", "admin", "default", "test",
    "redis_password_change_me", "mongodb_password_change_me", "your-secret-key", "dev-secret-key",
})

# Checked at import: (variable, minimum length).
CRITICAL_SECRETS = (
    ("MONGODB_PASSWORD", 12),
    ("REDIS_PASSWORD", 12),
    ("JWT_SECRET_KEY", 32),
    ("SECRET_KEY", 32),
)


class SecretNotFoundError(Exception):
    """A required secret is not set."""


class SecretValidationError(Exception):
    """A secret is empty, too short or a known weak value."""


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def check_secret(name: str, value: str, min_length: int) -> None:
    if not value.strip():
        raise SecretValidationError("secret %s is empty" % name)
    if len(value) < min_length:
        raise SecretValidationError("secret %s is shorter than %d characters" % (name, min_length))
    if value.lower() in WEAK_VALUES:
        raise SecretValidationError("secret %s is a known weak or placeholder value" % name)


def get_secret(name: str, required: bool = True, min_length: int = 8,
               environ: Mapping[str, str] | None = None) -> str | None:
    """The secret's value, checked; None when it is optional and missing or invalid."""
    value = _env(environ).get(name)
    if not value:
        if required:
            raise SecretNotFoundError("required secret %s is not set" % name)
        return None
    try:
        check_secret(name, value, min_length)
    except SecretValidationError as exc:
        if required:
            raise
        logger.warning("%s", exc)
        return None
    return value


def validate_critical_secrets(environ: Mapping[str, str] | None = None) -> None:
    env = _env(environ)
    for name, min_length in CRITICAL_SECRETS:
        try:
            get_secret(name, required=True, min_length=min_length, environ=env)
        except (SecretNotFoundError, SecretValidationError) as exc:
            logger.error("Critical secret validation failed: %s", exc)
            if env.get("NODE_ENV") == "production":
                raise
            logger.warning("Not production (NODE_ENV): starting anyway")


def build_redis_url(password: str | None, environ: Mapping[str, str] | None = None) -> str:
    """redis://[:password@]host:port/db from REDIS_HOST, REDIS_PORT, REDIS_DB.

    The password goes in as it is, not percent-encoded: one with ``@ : / # ? %``
    gives a URL that does not say what was meant.
    """
    env = _env(environ)
    where = "%s:%s/%s" % (env.get("REDIS_HOST", "redis"), env.get("REDIS_PORT", "6379"), env.get("REDIS_DB", "0"))
    return "redis://:%s@%s" % (password, where) if password else "redis://%s" % where


def get_mongodb_url(environ: Mapping[str, str] | None = None) -> str:
    """MONGODB_URL when set, else built from MONGODB_USER/PASSWORD/HOST/PORT/DATABASE."""
    env = _env(environ)
    if env.get("MONGODB_URL"):
        return env["MONGODB_URL"]
    password = get_secret("MONGODB_PASSWORD", required=True, environ=env)
    return "mongodb://%s:%s@%s:%s/%s?authSource=admin" % (
        env.get("MONGODB_USER", "copilotos_user"), password, env.get("MONGODB_HOST", "mongodb"),
        env.get("MONGODB_PORT", "27017"), env.get("MONGODB_DATABASE", "copilotos"))
