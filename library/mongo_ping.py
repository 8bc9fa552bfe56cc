#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mongo_ping
short_description: Ping MongoDB with the api's URI and check connection-pool headroom
description:
  - Read-only check of a MongoDB connection as the api makes it. It connects with PyMongo using a URI (or host,
    port, credentials, auth source, TLS and database), authenticates, runs C(ping) and returns the latency and the
    server version.
  - With O(server_status), it also reads C(serverStatus.connections) (C(current), C(available)). It raises
    C(MONGO_POOL_EXCEEDS_AVAILABLE) when the api's pool (O(max_pool_size), the configured C(DB_MAX_POOL_SIZE)) times
    O(api_replicas) exceeds the connections still available.
  - It raises C(MONGO_SERVER_SELECTION_TIMEOUT_LOW) when O(configured_server_selection_timeout_ms) (the configured
    C(DB_SERVER_SELECTION_TIMEOUT_MS)) is below O(min_server_selection_timeout_ms).
  - With O(compose_project), the Compose service O(service) is resolved to its container address through the Docker
    API. The module then connects there with C(directConnection=true), so a check run on the Docker host reaches a
    MongoDB that publishes no port.
  - Failures get distinct findings and messages. They cover server selection timeout and connection refused, DNS
    failure, authentication failure and TLS errors.
version_added: "0.1.0"
author: copilotos-remediation contributors
options:
  uri:
    description:
      - The MongoDB URI, C(mongodb://user:password@host:port/db?authSource=admin) or C(mongodb+srv://).
      - Mutually exclusive with O(host), O(username), O(password).
    type: str
  host:
    description: MongoDB host, when no O(uri) is given.
    type: str
  port:
    description: MongoDB port, when no O(uri) is given. Defaults to C(27017).
    type: int
  username:
    description: User name, when no O(uri) is given.
    type: str
  password:
    description: Password, when no O(uri) is given.
    type: str
  auth_source:
    description: Authentication database. Defaults to the URI's C(authSource), else its database, else C(admin).
    type: str
  database:
    description: Database named in the URI path, when no O(uri) is given (it is the default auth source).
    type: str
  tls:
    description: Use TLS. Defaults to the URI's C(tls)/C(ssl) option (true for C(mongodb+srv)).
    type: bool
  tls_ca_cert:
    description: CA bundle to verify the server certificate with.
    type: path
  server_selection_timeout_ms:
    description: How long this check waits for a usable server (also its connect timeout), in milliseconds.
    type: int
    default: 5000
  server_status:
    description: Also read C(serverStatus) connections and check pool headroom.
    type: bool
    default: false
  max_pool_size:
    description: The api's configured maximum pool size per process (C(DB_MAX_POOL_SIZE)).
    type: int
  api_replicas:
    description: Number of api processes or containers, each with its own pool.
    type: int
    default: 1
  configured_server_selection_timeout_ms:
    description: The api's configured server selection timeout (C(DB_SERVER_SELECTION_TIMEOUT_MS)), to review.
    type: int
  min_server_selection_timeout_ms:
    description: Below this, O(configured_server_selection_timeout_ms) raises C(MONGO_SERVER_SELECTION_TIMEOUT_LOW).
    type: int
    default: 10000
  mode:
    description:
      - V(enforce) fails the task when any finding is C(critical), with a one-line message naming the problems and
        the (masked) target.
      - V(audit) never fails; the problems are only returned as RV(findings).
    type: str
    choices: [enforce, audit]
    default: enforce
  compose_project:
    description:
      - Compose project in which MongoDB runs as service O(service). When given, a URI host that is the service name,
        a loopback address or C(localhost) is resolved to the container's address, and the connection is direct.
    type: str
  service:
    description: Compose service name of MongoDB.
    type: str
    default: mongodb
  docker_host:
    description: Docker daemon URL; defaults to C(DOCKER_HOST) or the local socket.
    type: str
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
notes:
  - Secrets never appear in the results. Passwords (plain and percent-encoded) are masked as C(********) in
    RV(target), messages and evidence, including error texts from the driver.
  - "PyMongo refuses a URI whose password holds C(: / ? # [ ] @) or a C(%) that is not an C(%XX) escape, and it
    decodes C(+) as a space. The module still parses such a URI, so it can test the intended credentials. It reports
    C(MONGO_URI_PASSWORD_NOT_ENCODED) (critical); other characters that RFC 3986 wants encoded make it medium."
  - The module does not pass the URI string itself to PyMongo. It passes the parsed parts, so a malformed URI
    cannot leak its password through a driver error message.
requirements:
  - pymongo (Python library); dnspython for C(mongodb+srv)
  - docker (Python SDK), only with O(compose_project)
"""

EXAMPLES = r"""
- name: Ping the lab MongoDB with the api's MONGODB_URL and check pool headroom
  mongo_ping:
    uri: "{{ copilotos_env_values.MONGODB_URL }}"
    compose_project: copilotos
    server_status: true
    max_pool_size: 100
    api_replicas: 1
    configured_server_selection_timeout_ms: 5000
    mode: audit
  register: mongo_check
  no_log: true

- name: Fail unless MongoDB answers with these credentials
  mongo_ping:
    host: 127.0.0.1
    port: 27017
    username: copilotos
    password: "{{ vault_mongo_password }}"
    auth_source: admin
"""

RETURN = r"""
ok:
  description: Whether C(ping) succeeded (after authentication, when credentials were given).
  returned: always
  type: bool
authenticated:
  description: Whether credentials were given and accepted.
  returned: always
  type: bool
latency_ms:
  description: Round trip of one C(ping) on an established connection, in milliseconds.
  returned: always
  type: float
server_version:
  description: Version from C(buildInfo) (or C(serverStatus)).
  returned: always
  type: str
  sample: 7.0.0
connections:
  description: C(serverStatus.connections) numbers, with O(server_status) when they could be read.
  returned: when server_status
  type: dict
  sample: {current: 12, available: 188, total_created: 40}
target:
  description: The URI checked, rebuilt with the password masked.
  returned: always
  type: str
  sample: mongodb://copilotos:********@mongodb:27017/copilotos?authSource=admin
resolved_address:
  description: The C(host:port) connected to (the service container's address with O(compose_project)).
  returned: always
  type: str
findings:
  description:
    - Problems found, each with a stable C(code), C(severity), C(message) and masked C(evidence).
    - "Codes: C(MONGO_URI_UNPARSEABLE), C(MONGO_URI_PASSWORD_NOT_ENCODED), C(MONGO_URI_LOCALHOST),
      C(MONGO_SERVICE_UNRESOLVED), C(MONGO_UNREACHABLE), C(MONGO_DNS_FAILURE), C(MONGO_AUTH_FAILED),
      C(MONGO_TLS_ERROR), C(MONGO_SERVER_STATUS_UNAVAILABLE), C(MONGO_POOL_EXCEEDS_AVAILABLE),
      C(MONGO_SERVER_SELECTION_TIMEOUT_LOW)."
  returned: always
  type: list
  elements: dict
msg:
  description: One line summarising the result.
  returned: always
  type: str
"""

import time
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_common import one_line
from ansible.module_utils.copilotos_docker import DOCKER_IMPORT_ERROR
from ansible.module_utils.copilotos_probe import Check, locate_service, verdict
from ansible.module_utils.copilotos_urls import (
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


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
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
            return finish(module, check, result)
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
            return finish(module, check, result)
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
    return finish(module, check, result)


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


def finish(module: AnsibleModule, check: Check, result: dict[str, Any]) -> dict[str, Any]:
    result["findings"] = check.findings
    result["msg"] = verdict(check, "mongo_ping", result, "the MongoDB target", "ping ok", bool(result.get("ok")))
    return result


def main() -> None:
    module = AnsibleModule(
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
            docker_host=dict(type="str"),
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
        supports_check_mode=True,
    )
    if PYMONGO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=PYMONGO_IMPORT_ERROR)
    if module.params["compose_project"] and DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    result = run(module)
    if module.params["mode"] == "enforce" and any(f["severity"] == "critical" for f in result["findings"]):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
