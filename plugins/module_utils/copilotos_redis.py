# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis probe of redis_auth and the verification.

Parse the URL, resolve the Compose service, authenticate, classify failures.
"""

from __future__ import annotations

import errno
import ssl
import time
import traceback
from typing import Any

from .copilotos_common import one_line
from .copilotos_docker import DOCKER_ARGS
from .copilotos_probe import Check, locate_service, verdict
from .copilotos_urls import (
    REDIS_DEFAULT_PORT,
    RedisUrl,
    is_loopback_host,
    parse_redis_url,
)

REDIS_IMPORT_ERROR: str | None = None
try:
    import redis
    from redis import exceptions as redis_exceptions
except ImportError:  # pragma: no cover - exercised on bare targets
    redis = None  # type: ignore[assignment]
    redis_exceptions = None  # type: ignore[assignment]
    REDIS_IMPORT_ERROR = traceback.format_exc()

# Characters that make redis-py read another host, path or password.
_BREAKING_CHARS = frozenset("/?#")


def classify_error(exc: BaseException, tls: bool) -> tuple[str, str]:
    """(finding code, short explanation) for an exception raised by redis-py."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 5:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    is_ssl = any(isinstance(e, ssl.SSLError) for e in chain) or any(
        word in lowered for word in ("ssl", "certificate", "handshake", "tls")
    )
    if redis_exceptions is not None and isinstance(exc, redis_exceptions.AuthenticationError):
        if "without any password configured" in lowered:
            return "REDIS_AUTH_FAILED", "Redis has no password configured but the client sends one"
        if "authentication required" in lowered or "noauth" in lowered or "hello must be called" in lowered:
            return "REDIS_AUTH_FAILED", "Redis requires a password and none was given (NOAUTH)"
        if "wrongpass" in lowered or "invalid username-password" in lowered or "invalid password" in lowered:
            return "REDIS_AUTH_FAILED", "Redis rejected the credentials (WRONGPASS: invalid username-password pair)"
        return "REDIS_AUTH_FAILED", "Redis rejected the authentication"
    if tls and is_ssl:
        return "REDIS_TLS_ERROR", "TLS handshake with Redis failed (is the server TLS-enabled, is the CA right?)"
    if redis_exceptions is not None and isinstance(exc, redis_exceptions.TimeoutError):
        return "REDIS_UNREACHABLE", "timed out connecting to or waiting for Redis"
    if "error 111" in lowered or "connection refused" in lowered or _errno_in(chain, errno.ECONNREFUSED):
        return "REDIS_UNREACHABLE", "connection refused (Error 111): nothing listens on that address and port"
    if (
        "name or service not known" in lowered
        or "temporary failure in name resolution" in lowered
        or "nodename nor servname" in lowered
        or "error -2 " in lowered
        or "error -3 " in lowered
        or "error -5 " in lowered
    ):
        return "REDIS_UNREACHABLE", "DNS lookup of the Redis host failed"
    if "timed out" in lowered or "timeout" in lowered:
        return "REDIS_UNREACHABLE", "timed out connecting to or waiting for Redis"
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return "REDIS_UNREACHABLE", "no route to the Redis host"
    if redis_exceptions is not None and isinstance(exc, redis_exceptions.ResponseError):
        return "REDIS_AUTH_FAILED", "Redis answered with an error"
    return "REDIS_UNREACHABLE", "could not talk to Redis"


def _errno_in(chain: list[BaseException], number: int) -> bool:
    return any(getattr(e, "errno", None) == number for e in chain)


def try_redis(
    address: str,
    port: int,
    db: int,
    username: str | None,
    password: str | None,
    tls: bool,
    timeout: float,
    ca_cert: str | None,
    verify: bool,
) -> dict[str, Any]:
    """Connect, PING and read the version; never raises."""
    kwargs: dict[str, Any] = {
        "host": address,
        "port": port,
        "db": db,
        "username": username,
        "password": password,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "protocol": 2,
    }
    try:  # one attempt: a check must report the first failure, not retry it away
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        kwargs["retry"] = Retry(NoBackoff(), 0)
    except ImportError:  # pragma: no cover - very old redis-py
        pass
    if tls:
        kwargs.update(ssl=True, ssl_ca_certs=ca_cert, ssl_cert_reqs="required" if verify else "none")
        kwargs["ssl_check_hostname"] = bool(verify)
    outcome: dict[str, Any] = {"reachable": False, "authenticated": False, "error": None}
    client = None
    try:
        try:
            client = redis.Redis(**kwargs)
        except TypeError:  # older redis-py: no protocol / ssl_check_hostname / retry keywords
            kwargs.pop("protocol", None)
            kwargs.pop("retry", None)
            kwargs.pop("ssl_check_hostname", None)
            client = redis.Redis(**kwargs)
        start = time.monotonic()
        client.ping()
        outcome["latency_ms"] = round((time.monotonic() - start) * 1000, 2)
        outcome["reachable"] = outcome["authenticated"] = True
        try:
            outcome["server_version"] = str(client.info("server").get("redis_version"))
        except redis_exceptions.RedisError:
            outcome["server_version"] = None
    except Exception as exc:  # every failure becomes a finding, never a traceback
        outcome["error"] = exc
        outcome["reachable"] = isinstance(exc, redis_exceptions.AuthenticationError) or (
            isinstance(exc, redis_exceptions.ResponseError)
        )
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: S110 - closing a failed client is best effort
                pass
    return outcome


def run_probe(p: dict[str, Any]) -> dict[str, Any]:
    """The probe on a module's parameters (defaults filled in); never exits."""
    check = Check([p["password"], p["expected_password"], p["url"]])
    result: dict[str, Any] = {
        "changed": False,
        "reachable": False,
        "authenticated": False,
        "expected_password_authenticated": None,
        "server_version": None,
        "latency_ms": None,
        "target": None,
        "resolved_address": None,
    }

    # 1. The target, from the URL or the parts.
    parsed: RedisUrl | None = None
    if p["url"] is not None:
        try:
            parsed = parse_redis_url(p["url"])
        except ValueError as exc:
            result["target"] = check.mask(p["url"])
            check.add(
                "REDIS_URL_UNPARSEABLE",
                "critical",
                "The Redis URL cannot be parsed: %s" % one_line(exc),
                target=result["target"],
            )
            return finish(check, result)
        check.secrets += [s for s in (parsed.password, parsed.password_raw) if s]
    else:
        parsed = RedisUrl(
            scheme="rediss" if p["tls"] else "redis",
            host=p["host"],
            port=p["port"] or REDIS_DEFAULT_PORT,
            db=p["db"] or 0,
            username=p["username"],
            password=p["password"],
        )
    target = check.mask(parsed.masked)
    result["target"] = target

    # 2. What the URL says, before any network.
    if p["url"] is not None:
        bad = parsed.password_unencoded_chars()
        if bad:
            breaking = parsed.lenient or any(c in _BREAKING_CHARS for c in bad)
            check.add(
                "REDIS_URL_PASSWORD_NOT_ENCODED",
                "critical" if breaking else "medium",
                "The password in the Redis URL has characters that must be percent-encoded (RFC 3986)"
                + ("; clients will read another host or password" if breaking else ""),
                target=target,
                unencoded_characters=bad,
                fix="build the URL with urllib.parse.quote(password, safe='')",
            )
    if p["expected_password"] is not None and parsed.password != p["expected_password"]:
        check.add(
            "REDIS_URL_PASSWORD_MISMATCH",
            "critical",
            "The password in the Redis URL differs from the expected password"
            if parsed.password
            else "The Redis URL has no password but one is expected",
            target=target,
            url_has_password=bool(parsed.password),
        )
    if p["compose_project"] and is_loopback_host(parsed.host):
        check.add(
            "REDIS_URL_LOCALHOST",
            "critical",
            "The Redis URL points at %s, but Redis runs in another container (service %r of project %r): "
            "inside the client container that address is the client itself (Error 111 connection refused)"
            % (parsed.host, p["service"], p["compose_project"]),
            target=target,
            host=parsed.host,
            service=p["service"],
            compose_project=p["compose_project"],
        )

    # 3. Where to connect.
    address = parsed.host
    if p["compose_project"]:
        resolved, stop = locate_service(
            check, p["docker_host"], p["compose_project"], parsed.host, p["service"], "Redis", "REDIS"
        )
        if stop:
            return finish(check, result)
        address = resolved or address
    result["resolved_address"] = "%s:%d" % (address, parsed.port)

    # 4. Connect and authenticate with the URL's credentials.
    timeout = float(p["connect_timeout"])
    outcome = try_redis(
        address,
        parsed.port,
        parsed.db,
        parsed.username,
        parsed.password,
        parsed.tls,
        timeout,
        p["tls_ca_cert"],
        p["tls_verify"],
    )
    result["reachable"] = outcome["reachable"]
    result["authenticated"] = outcome["authenticated"]
    result["server_version"] = outcome.get("server_version")
    result["latency_ms"] = outcome.get("latency_ms")
    if outcome["error"] is not None:
        code, why = classify_error(outcome["error"], parsed.tls)
        check.add(
            code,
            "critical",
            why,
            target=target,
            resolved_address=result["resolved_address"],
            error=one_line(check.mask(outcome["error"]), 200),
            error_type=type(outcome["error"]).__name__,
        )
        # 5. Would the expected password work? Tells the operator what the fix is.
        if (
            code == "REDIS_AUTH_FAILED"
            and p["expected_password"] is not None
            and p["expected_password"] != parsed.password
        ):
            second = try_redis(
                address,
                parsed.port,
                parsed.db,
                parsed.username,
                p["expected_password"],
                parsed.tls,
                timeout,
                p["tls_ca_cert"],
                p["tls_verify"],
            )
            result["expected_password_authenticated"] = bool(second["authenticated"])
            if second["authenticated"]:
                result["server_version"] = second.get("server_version")
    return finish(check, result)


def finish(check: Check, result: dict[str, Any]) -> dict[str, Any]:
    result["findings"] = check.findings
    result["msg"] = verdict(check, "redis_auth", result, "the Redis target", "authenticated", True)
    return result


MODULE_KWARGS: dict[str, Any] = dict(
    argument_spec=dict(
        url=dict(type="str", no_log=True),
        host=dict(type="str"),
        port=dict(type="int"),
        db=dict(type="int"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        expected_password=dict(type="str", no_log=True),
        tls=dict(type="bool"),
        tls_ca_cert=dict(type="path"),
        tls_verify=dict(type="bool", default=True),
        mode=dict(type="str", default="enforce", choices=["enforce", "audit"]),
        compose_project=dict(type="str"),
        service=dict(type="str", default="redis"),
        **DOCKER_ARGS,
        connect_timeout=dict(type="float", default=5),
    ),
    required_one_of=[("url", "host")],
    mutually_exclusive=[
        ("url", "host"),
        ("url", "port"),
        ("url", "db"),
        ("url", "username"),
        ("url", "password"),
        ("url", "tls"),
    ],
)
