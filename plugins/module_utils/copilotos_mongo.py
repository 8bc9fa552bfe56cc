# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MongoDB probe of mongo_ping and the verification.

Parse the URI, resolve the Compose service, ping, serverStatus, pool headroom.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from .copilotos_common import one_line
from .copilotos_docker import DOCKER_ARGS
from .copilotos_probe import Check, locate_service, verdict
from .copilotos_urls import (
    MONGO_DEFAULT_PORT,
    MongoUri,
    is_loopback_host,
    parse_mongo_uri,
)

PYMONGO_IMPORT_ERROR: str | None = None
try:
    import pymongo
    from pymongo import errors as mongo_errors
except ImportError:  # pragma: no cover - exercised on bare targets
    pymongo = None  # type: ignore[assignment]
    mongo_errors = None  # type: ignore[assignment]
    PYMONGO_IMPORT_ERROR = traceback.format_exc()

# Password characters PyMongo refuses (or, for '+', silently changes).
_DRIVER_BREAKING = frozenset(":/?#[]@%+")
# URI options passed on to MongoClient (others do not matter for a ping).
_PASSED_OPTIONS = {
    "authmechanism": "authMechanism",
    "replicaset": "replicaSet",
    "tlscafile": "tlsCAFile",
    "tlsallowinvalidcertificates": "tlsAllowInvalidCertificates",
    "tlsallowinvalidhostnames": "tlsAllowInvalidHostnames",
    "tlsinsecure": "tlsInsecure",
    "directconnection": "directConnection",
}
_DNS_WORDS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "errno -2]",
    "errno -3]",
    "errno -5]",
    "dns query name does not exist",
    "dns operation timed out",
    "no answer",
    "nxdomain",
)


def classify_error(exc: BaseException, tls: bool) -> tuple[str, str]:
    """(finding code, short explanation) for an exception raised by PyMongo."""
    text = str(exc)
    lowered = text.lower()
    if mongo_errors is not None and isinstance(exc, mongo_errors.OperationFailure):
        code = getattr(exc, "code", None)
        if code == 18:
            return "MONGO_AUTH_FAILED", "MongoDB rejected the credentials (code 18 AuthenticationFailed)"
        if code == 13:
            return "MONGO_AUTH_FAILED", "MongoDB requires authentication and none succeeded (code 13 Unauthorized)"
        if code == 334:
            return "MONGO_AUTH_FAILED", "the authentication mechanism is not enabled on the server (code 334)"
        return "MONGO_AUTH_FAILED", "MongoDB refused the command (code %s)" % code
    if any(word in lowered for word in _DNS_WORDS):
        return "MONGO_DNS_FAILURE", "DNS lookup of the MongoDB host failed"
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return "MONGO_TLS_ERROR", "TLS handshake with MongoDB failed (is the server TLS-enabled, is the CA right?)"
    if "connection refused" in lowered or "errno 111" in lowered:
        return "MONGO_UNREACHABLE", "server selection failed: connection refused (nothing listens there)"
    if mongo_errors is not None and isinstance(exc, mongo_errors.ServerSelectionTimeoutError):
        if tls:
            return "MONGO_UNREACHABLE", "server selection timed out (with TLS: is the server TLS-enabled?)"
        if "timed out" in lowered:
            return "MONGO_UNREACHABLE", "server selection timed out: the host did not answer in time"
        return "MONGO_UNREACHABLE", "server selection timed out: no usable MongoDB server"
    if mongo_errors is not None and isinstance(exc, mongo_errors.ConfigurationError):
        return "MONGO_URI_UNPARSEABLE", "PyMongo rejected the connection settings"
    return "MONGO_UNREACHABLE", "could not talk to MongoDB"


def _short_driver_error(exc: BaseException) -> str:
    """The first part of a driver error (no topology dump)."""
    text = str(exc)
    for cut in (", Timeout:", " (configured timeouts", ", full error:"):
        if cut in text:
            text = text.split(cut, 1)[0]
    return one_line(text, 200)


def _format_hostport(host: str, port: int | None) -> str:
    shown = "[%s]" % host if ":" in host else host
    return shown if port is None else "%s:%d" % (shown, port)


def client_kwargs(parsed: MongoUri, p: dict[str, Any], direct_address: str | None) -> dict[str, Any]:
    """Keyword arguments for MongoClient built from the parsed parts (never the URI string)."""
    timeout = int(p["server_selection_timeout_ms"])
    kwargs: dict[str, Any] = {
        "serverSelectionTimeoutMS": timeout,
        "connectTimeoutMS": timeout,
        "socketTimeoutMS": max(timeout, 1000),
        "appname": "copilotos-mongo_ping",
        "retryReads": False,
        "retryWrites": False,
    }
    for key, value in parsed.options.items():
        name = _PASSED_OPTIONS.get(key.lower())
        if name:
            kwargs[name] = value.lower() == "true" if value.lower() in ("true", "false") else value
    if direct_address is not None:
        kwargs["host"] = direct_address
        kwargs["port"] = parsed.port or MONGO_DEFAULT_PORT
        kwargs["directConnection"] = True
        kwargs.pop("replicaSet", None)
    elif parsed.srv:
        kwargs["host"] = "mongodb+srv://%s/" % parsed.host
    else:
        kwargs["host"] = [_format_hostport(h, port) for h, port in parsed.hosts]
    if parsed.username:
        kwargs["username"] = parsed.username
        kwargs["password"] = parsed.password
        kwargs["authSource"] = p["auth_source"] or parsed.auth_source
    tls = p["tls"] if p["tls"] is not None else parsed.tls
    kwargs["tls"] = bool(tls)
    if p["tls_ca_cert"]:
        kwargs["tlsCAFile"] = p["tls_ca_cert"]
    return kwargs


def run_probe(p: dict[str, Any]) -> dict[str, Any]:
    """The probe on a module's parameters (defaults filled in); never exits."""
    check = Check([p["password"], p["uri"]])
    result: dict[str, Any] = {
        "changed": False,
        "ok": False,
        "authenticated": False,
        "latency_ms": None,
        "server_version": None,
        "target": None,
        "resolved_address": None,
    }

    # Configuration-only review first: it needs no server.
    configured = p["configured_server_selection_timeout_ms"]
    minimum = p["min_server_selection_timeout_ms"]
    if configured is not None and configured < minimum:
        check.add(
            "MONGO_SERVER_SELECTION_TIMEOUT_LOW",
            "medium",
            "The configured server selection timeout (%d ms) is below %d ms: short primary elections or network "
            "hiccups surface as ServerSelectionTimeoutError" % (configured, minimum),
            configured_ms=configured,
            minimum_ms=minimum,
        )

    # 1. The target.
    if p["uri"] is not None:
        try:
            parsed = parse_mongo_uri(p["uri"])
        except ValueError as exc:
            result["target"] = check.mask(p["uri"])
            check.add(
                "MONGO_URI_UNPARSEABLE",
                "critical",
                "The MongoDB URI cannot be parsed: %s" % one_line(exc),
                target=result["target"],
            )
            return finish(check, result)
        check.secrets += [s for s in (parsed.password, parsed.password_raw) if s]
        bad = parsed.password_unencoded_chars()
        if bad:
            breaking = any(c in _DRIVER_BREAKING for c in bad)
            check.add(
                "MONGO_URI_PASSWORD_NOT_ENCODED",
                "critical" if breaking else "medium",
                "The password in the MongoDB URI has characters that must be percent-encoded (RFC 3986)"
                + ("; PyMongo rejects or misreads this URI" if breaking else ""),
                target=check.mask(parsed.masked),
                unencoded_characters=bad,
                fix="build the URI with urllib.parse.quote(password, safe='')",
            )
    else:
        parsed = MongoUri(
            scheme="mongodb",
            hosts=((p["host"], p["port"] or MONGO_DEFAULT_PORT),),
            database=p["database"],
            username=p["username"],
            password=p["password"],
            options={"authSource": p["auth_source"]} if p["auth_source"] else {},
        )
    target = check.mask(parsed.masked)
    result["target"] = target
    tls = p["tls"] if p["tls"] is not None else parsed.tls

    if p["compose_project"] and is_loopback_host(parsed.host):
        check.add(
            "MONGO_URI_LOCALHOST",
            "critical",
            "The MongoDB URI points at %s, but MongoDB runs in another container (service %r of project %r)"
            % (parsed.host, p["service"], p["compose_project"]),
            target=target,
            host=parsed.host,
            service=p["service"],
            compose_project=p["compose_project"],
        )

    # 2. Where to connect.
    direct: str | None = None
    if p["compose_project"] and not parsed.srv:
        direct, stop = locate_service(
            check, p["docker_host"], p["compose_project"], parsed.host, p["service"], "MongoDB", "MONGO"
        )
        if stop:
            return finish(check, result)
    if direct is not None:
        result["resolved_address"] = _format_hostport(direct, parsed.port or MONGO_DEFAULT_PORT)
    else:
        result["resolved_address"] = ",".join(_format_hostport(h, port) for h, port in parsed.hosts)

    # 3. Connect, authenticate, ping.
    client = None
    try:
        client = pymongo.MongoClient(**client_kwargs(parsed, p, direct))
        client.admin.command("ping")  # connects and authenticates
        start = time.monotonic()
        client.admin.command("ping")
        result["latency_ms"] = round((time.monotonic() - start) * 1000, 2)
        result["ok"] = True
        result["authenticated"] = bool(parsed.username)
        try:
            result["server_version"] = str(client.admin.command("buildInfo").get("version"))
        except mongo_errors.PyMongoError:
            result["server_version"] = None
        if p["server_status"]:
            server_status(client, p, check, result)
    except Exception as exc:  # every failure becomes a finding, never a traceback
        code, why = classify_error(exc, bool(tls))
        check.add(
            code,
            "critical",
            why,
            target=target,
            resolved_address=result["resolved_address"],
            error=check.mask(_short_driver_error(exc)),
            error_type=type(exc).__name__,
        )
    finally:
        if client is not None:
            client.close()
    return finish(check, result)


def server_status(client: Any, p: dict[str, Any], check: Check, result: dict[str, Any]) -> None:
    try:
        status = client.admin.command("serverStatus")
    except Exception as exc:
        check.add(
            "MONGO_SERVER_STATUS_UNAVAILABLE",
            "low",
            "serverStatus could not be read, so pool headroom is unknown",
            error=check.mask(_short_driver_error(exc)),
        )
        return
    conns = status.get("connections") or {}
    current, available = conns.get("current"), conns.get("available")
    result["connections"] = {
        "current": current,
        "available": available,
        "total_created": conns.get("totalCreated"),
    }
    if not result.get("server_version") and status.get("version"):
        result["server_version"] = str(status["version"])
    if p["max_pool_size"] is not None and isinstance(available, int):
        replicas = max(int(p["api_replicas"]), 1)
        demand = int(p["max_pool_size"]) * replicas
        if demand > available:
            check.add(
                "MONGO_POOL_EXCEEDS_AVAILABLE",
                "medium",
                "The api pools may open %d connections (max_pool_size %d x %d replicas) but MongoDB has only %d "
                "available (%d in use): under load new connections are refused"
                % (demand, p["max_pool_size"], replicas, available, current or 0),
                max_pool_size=p["max_pool_size"],
                api_replicas=replicas,
                pool_demand=demand,
                current=current,
                available=available,
            )


def finish(check: Check, result: dict[str, Any]) -> dict[str, Any]:
    result["findings"] = check.findings
    result["msg"] = verdict(check, "mongo_ping", result, "the MongoDB target", "ping ok", bool(result.get("ok")))
    return result


MODULE_KWARGS: dict[str, Any] = dict(
    argument_spec=dict(
        uri=dict(type="str", no_log=True),
        host=dict(type="str"),
        port=dict(type="int"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        auth_source=dict(type="str"),
        database=dict(type="str"),
        tls=dict(type="bool"),
        tls_ca_cert=dict(type="path"),
        server_selection_timeout_ms=dict(type="int", default=5000),
        server_status=dict(type="bool", default=False),
        max_pool_size=dict(type="int"),
        api_replicas=dict(type="int", default=1),
        configured_server_selection_timeout_ms=dict(type="int"),
        min_server_selection_timeout_ms=dict(type="int", default=10000),
        mode=dict(type="str", default="enforce", choices=["enforce", "audit"]),
        compose_project=dict(type="str"),
        service=dict(type="str", default="mongodb"),
        **DOCKER_ARGS,
    ),
    required_one_of=[("uri", "host")],
    mutually_exclusive=[
        ("uri", "host"),
        ("uri", "port"),
        ("uri", "username"),
        ("uri", "password"),
        ("uri", "database"),
    ],
    required_by={"password": "username"},
)
