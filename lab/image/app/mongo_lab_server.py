#!/usr/bin/env python3
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A MongoDB wire-protocol stand-in for the offline copilotos lab.

No real ``mongod`` can be obtained offline, so the lab's ``mongodb`` service
runs this server instead. It speaks enough of the protocol for the real
PyMongo driver (4.x) to connect, authenticate and run commands:

* ``hello`` / ``isMaster`` over OP_QUERY and OP_MSG (maxWireVersion 21, no
  ``topologyVersion`` so the driver polls instead of streaming), with
  ``saslSupportedMechs`` and speculative SCRAM-SHA-256 authentication;
* ``saslStart`` / ``saslContinue`` with real SCRAM-SHA-256 and SCRAM-SHA-1
  verification (scramp); a wrong password gets code 18 ``Authentication
  failed.`` exactly like mongod;
* ``ping``, ``buildInfo``, ``serverStatus`` (``connections.current``,
  ``available``, ``totalCreated`` from the real open sockets), ``endSessions``,
  ``listDatabases``, ``connectionStatus``, ``whatsmyuri``; every other command
  answers a minimal ``ok: 1`` (empty cursors for ``find``/``aggregate``).

Differences from mongod, on purpose:

* ``ping`` requires an authenticated connection when credentials are
  configured (mongod answers ``ping`` without authentication). Pass
  ``--ping-without-auth`` (env ``MONGO_LAB_PING_WITHOUT_AUTH=1``) for the
  mongod behaviour.
* Only one user exists: ``MONGODB_USER``/``MONGODB_PASSWORD`` (falling back to
  ``MONGO_INITDB_ROOT_USERNAME``/``MONGO_INITDB_ROOT_PASSWORD``), defined in
  the ``admin`` database like the official image's root user. With no
  credentials configured, authentication is disabled.

It logs one JSON line per connection and authentication event to stdout, in
the spirit of mongod's structured log; it never logs a password. SIGTERM and
SIGINT stop it within a second. ``--healthcheck`` connects with PyMongo to
127.0.0.1 with the environment's credentials, runs ``ping`` and exits 0 or 1.
``--hello`` is the Docker HEALTHCHECK: one OP_MSG ``hello`` over a raw socket,
without importing PyMongo (a lab runs it every 2 s per host; the PyMongo
check costs ten times the CPU). Authentication is proven by the api's own
health endpoint, which pings through PyMongo with the credentials.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any

DEFAULT_VERSION = "7.0.0-lab"
MAX_WIRE_VERSION = 21
AUTH_DB = "admin"
SCRAM_ITERATIONS = {"SCRAM-SHA-1": 10000, "SCRAM-SHA-256": 15000}

# Commands that mongod answers on a connection that has not authenticated.
_NO_AUTH_COMMANDS = frozenset(
    {
        "hello",
        "ismaster",
        "saslstart",
        "saslcontinue",
        "authenticate",
        "getnonce",
        "buildinfo",
        "endsessions",
        "logout",
        "whatsmyuri",
        "connectionstatus",
        "getlasterror",
        "killsessions",
    }
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def log(msg: str, component: str = "NETWORK", **attr: Any) -> None:
    """Print one JSON log line (never pass a password in ``attr``)."""
    line = {
        "t": {"$date": _now().isoformat(timespec="milliseconds")},
        "s": "I",
        "c": component,
        "msg": msg,
        "attr": attr,
    }
    try:
        sys.stdout.write(json.dumps(line, default=str) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # stdout closed: logging must never kill a connection
        pass


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def env_credentials() -> tuple[str | None, str | None]:
    """(user, password) from the environment; (None, None) when unset."""
    user = os.environ.get("MONGODB_USER") or os.environ.get("MONGO_INITDB_ROOT_USERNAME") or None
    password = os.environ.get("MONGODB_PASSWORD") or os.environ.get("MONGO_INITDB_ROOT_PASSWORD") or None
    if not user or not password:
        return None, None
    return user, password


def _sasl_unescape(name: str) -> str:
    return name.replace("=2C", ",").replace("=3D", "=")


class _Conversation:
    def __init__(self, conv_id: int, mechanism: str, server: Any, user: str, db: str, skip_empty: bool):
        self.conv_id = conv_id
        self.mechanism = mechanism
        self.server = server
        self.user = user
        self.db = db
        self.skip_empty = skip_empty
        self.final_sent = False


class _ConnState:
    def __init__(self, conn_id: int, remote: str):
        self.conn_id = conn_id
        self.remote = remote
        self.user: str | None = None
        self.conversation: _Conversation | None = None
        self.next_conv_id = 1


class LabMongo:
    """The command logic; one instance serves every connection."""

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = 27017,
        user: str | None = None,
        password: str | None = None,
        max_connections: int = 200,
        ping_requires_auth: bool = True,
        version: str = DEFAULT_VERSION,
    ) -> None:
        import scramp

        self.host = host
        self.port = port
        self.user = user
        self.max_connections = max_connections
        self.ping_requires_auth = ping_requires_auth
        self.version = version
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._conns: dict[Any, _ConnState] = {}
        self.total_created = 0
        self.rejected = 0
        self._server: Any = None
        # Precompute the SCRAM keys once; the password itself is not kept.
        self._auth_info: dict[str, tuple[bytes, bytes, bytes, int]] = {}
        if user and password:
            for mech, iterations in SCRAM_ITERATIONS.items():
                secret = password
                if mech == "SCRAM-SHA-1":
                    # MongoDB's SCRAM-SHA-1 uses the legacy digest as the password.
                    secret = hashlib.md5(("%s:mongo:%s" % (user, password)).encode("utf-8")).hexdigest()  # noqa: S324 - the protocol mandates MD5 here
                self._auth_info[mech] = scramp.ScramMechanism(mech).make_auth_info(secret, iteration_count=iterations)

    @property
    def auth_enabled(self) -> bool:
        return bool(self._auth_info)

    # -- connections -------------------------------------------------------
    def open_connection(self, client: Any, client_addr: Any) -> _ConnState | None:
        remote = "%s:%s" % (client_addr[0], client_addr[1]) if isinstance(client_addr, tuple) else str(client_addr)
        with self._lock:
            if len(self._conns) >= self.max_connections:
                self.rejected += 1
                count = len(self._conns)
                state = None
            else:
                self.total_created += 1
                state = _ConnState(self.total_created, remote)
                self._conns[client] = state
                count = len(self._conns)
        if state is None:
            log("Connection refused because there are too many open connections", remote=remote, connectionCount=count)
            return None
        log("Connection accepted", remote=remote, connectionId=state.conn_id, connectionCount=count)
        return state

    def close_connection(self, client: Any) -> None:
        with self._lock:
            state = self._conns.pop(client, None)
            count = len(self._conns)
        if state is not None:
            log("Connection ended", remote=state.remote, connectionId=state.conn_id, connectionCount=count)

    def connection_counts(self) -> dict[str, int]:
        with self._lock:
            current = len(self._conns)
            return {
                "current": current,
                "available": max(self.max_connections - current, 0),
                "totalCreated": self.total_created,
                "rejected": self.rejected,
                "active": current,
            }

    # -- request dispatch --------------------------------------------------
    def handle(self, request: Any) -> bool:
        """mockupdb autoresponder: answer every request, return True."""
        try:
            return self._handle(request)
        except Exception as exc:  # a handler bug must not kill the connection thread
            log("Command handler error", component="COMMAND", error=type(exc).__name__)
            try:
                return bool(request.command_err(code=1, errmsg="internal error in the lab stand-in"))
            except Exception:
                return True

    def _handle(self, request: Any) -> bool:
        if not getattr(request, "is_command", False):
            if hasattr(request, "fail") and type(request).__name__ == "OpQuery":
                return bool(request.fail("legacy queries are not supported by the lab stand-in"))
            return True  # legacy writes, getMore, killCursors expect no reply
        with self._lock:
            state = self._conns.get(request._client)
        if state is None:  # not tracked (should not happen); serve it anyway
            state = _ConnState(0, "unknown")
        name = (request.command_name or "").lower()
        doc = request.doc
        db = request.namespace or "admin"
        if db.endswith(".$cmd"):
            db = db[: -len(".$cmd")]
        if name in ("hello", "ismaster"):
            return bool(request.replies(self._hello(request, state, doc, name)))
        if name == "saslstart":
            return self._reply_result(request, self._sasl_start(state, doc, db))
        if name == "saslcontinue":
            return self._reply_result(request, self._sasl_continue(state, doc))
        needs_auth = name not in _NO_AUTH_COMMANDS and (name != "ping" or self.ping_requires_auth)
        if self.auth_enabled and needs_auth and state.user is None:
            return bool(
                request.command_err(
                    code=13,
                    errmsg="Command %s requires authentication" % request.command_name,
                    codeName="Unauthorized",
                )
            )
        return bool(request.replies(self._command(name, doc, db, state)))

    @staticmethod
    def _reply_result(request: Any, result: dict[str, Any]) -> bool:
        return bool(request.replies(result))

    # -- commands ----------------------------------------------------------
    def _hello(self, request: Any, state: _ConnState, doc: Any, name: str) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        if name == "hello" or doc.get("helloOk"):
            reply["helloOk"] = True
        reply["isWritablePrimary" if name == "hello" else "ismaster"] = True
        reply.update(
            {
                "maxBsonObjectSize": 16 * 1024 * 1024,
                "maxMessageSizeBytes": 48000000,
                "maxWriteBatchSize": 100000,
                "localTime": _now(),
                "logicalSessionTimeoutMinutes": 30,
                "connectionId": state.conn_id,
                "minWireVersion": 0,
                "maxWireVersion": MAX_WIRE_VERSION,
                "readOnly": False,
            }
        )
        asked = doc.get("saslSupportedMechs")
        if asked and self.auth_enabled:
            db, _, user = str(asked).partition(".")
            if db == AUTH_DB and user == self.user:
                reply["saslSupportedMechs"] = sorted(self._auth_info)
        spec = doc.get("speculativeAuthenticate")
        if isinstance(spec, dict) and spec.get("saslStart") and self.auth_enabled:
            result = self._sasl_start(state, spec, str(spec.get("db") or "admin"), speculative=True)
            if result.get("ok") == 1:
                result.pop("ok", None)
                reply["speculativeAuthenticate"] = result
        return reply

    def _fail_auth(self, state: _ConnState, mechanism: str, user: str, db: str, reason: str) -> dict[str, Any]:
        state.conversation = None
        log(
            "Authentication failed",
            component="ACCESS",
            mechanism=mechanism,
            user=user,
            db=db,
            remote=state.remote,
            connectionId=state.conn_id,
            error=reason,
        )
        return {"ok": 0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"}

    def _sasl_start(self, state: _ConnState, doc: Any, db: str, speculative: bool = False) -> dict[str, Any]:
        import scramp

        mechanism = str(doc.get("mechanism") or "")
        payload = _as_bytes(doc.get("payload"))
        if mechanism not in SCRAM_ITERATIONS:
            return {
                "ok": 0,
                "errmsg": "Received authentication for mechanism %s which is not enabled" % mechanism[:40],
                "code": 334,
                "codeName": "MechanismUnavailable",
            }
        try:
            client_first = payload.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail_auth(state, mechanism, "?", db, "BadValue: invalid SCRAM payload")
        user = _sasl_unescape(_scram_attr(client_first, "n"))
        info = self._auth_info.get(mechanism)
        if info is None or db != AUTH_DB or user != self.user:
            if speculative:
                return {"ok": 0}
            return self._fail_auth(
                state, mechanism, user, db, 'UserNotFound: Could not find user "%s" for db "%s"' % (user, db)
            )

        def auth_fn(_username: str) -> tuple[bytes, bytes, bytes, int]:
            return info

        server = scramp.ScramMechanism(mechanism).make_server(auth_fn)
        try:
            server.set_client_first(client_first)
            server_first = server.get_server_first()
        except scramp.ScramException as exc:
            return self._fail_auth(state, mechanism, user, db, "ProtocolError: %s" % str(exc)[:80])
        options = doc.get("options") or {}
        conv = _Conversation(state.next_conv_id, mechanism, server, user, db, bool(options.get("skipEmptyExchange")))
        state.next_conv_id += 1
        state.conversation = conv
        return {"ok": 1, "conversationId": conv.conv_id, "done": False, "payload": server_first.encode("utf-8")}

    def _sasl_continue(self, state: _ConnState, doc: Any) -> dict[str, Any]:
        import scramp

        conv = state.conversation
        if conv is None or doc.get("conversationId") != conv.conv_id:
            return {"ok": 0, "errmsg": "No SASL session state found", "code": 17, "codeName": "ProtocolError"}
        payload = _as_bytes(doc.get("payload"))
        if conv.final_sent:
            state.conversation = None
            return {"ok": 1, "conversationId": conv.conv_id, "done": True, "payload": b""}
        try:
            conv.server.set_client_final(payload.decode("utf-8"))
            server_final = conv.server.get_server_final()
        except (scramp.ScramException, UnicodeDecodeError):
            return self._fail_auth(
                state,
                conv.mechanism,
                conv.user,
                conv.db,
                "AuthenticationFailed: SCRAM authentication failed, storedKey mismatch",
            )
        conv.final_sent = True
        state.user = conv.user
        log(
            "Authentication succeeded",
            component="ACCESS",
            mechanism=conv.mechanism,
            user=conv.user,
            db=conv.db,
            remote=state.remote,
            connectionId=state.conn_id,
        )
        done = conv.skip_empty
        if done:
            state.conversation = None
        return {"ok": 1, "conversationId": conv.conv_id, "done": done, "payload": server_final.encode("utf-8")}

    def _command(self, name: str, doc: Any, db: str, state: _ConnState) -> dict[str, Any]:
        if name == "ping":
            return {"ok": 1}
        if name == "buildinfo":
            return self._build_info()
        if name == "serverstatus":
            uptime = time.monotonic() - self.started
            return {
                "host": socket.gethostname(),
                "version": self.version,
                "process": "mongod",
                "pid": os.getpid(),
                "uptime": int(uptime),
                "uptimeMillis": int(uptime * 1000),
                "localTime": _now(),
                "connections": self.connection_counts(),
                "ok": 1,
            }
        if name == "listdatabases":
            dbs = [{"name": n, "sizeOnDisk": 8192, "empty": False} for n in ("admin", "config", "local")]
            if doc.get("nameOnly"):
                dbs = [{"name": d["name"]} for d in dbs]
            return {"databases": dbs, "totalSize": 8192 * len(dbs), "totalSizeMb": 0, "ok": 1}
        if name == "connectionstatus":
            users = [{"user": state.user, "db": AUTH_DB}] if state.user else []
            roles = [{"role": "root", "db": AUTH_DB}] if state.user else []
            return {"authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles}, "ok": 1}
        if name == "whatsmyuri":
            return {"you": state.remote, "ok": 1}
        if name == "logout":
            state.user = None
            return {"ok": 1}
        if name in ("find", "aggregate", "listcollections", "listindexes"):
            coll = doc.get(next(iter(doc)))
            ns = "%s.%s" % (db, coll if isinstance(coll, str) else "$cmd.%s" % name)
            return {"cursor": {"id": 0, "ns": ns, "firstBatch": []}, "ok": 1}
        if name in ("insert", "update", "delete"):
            key = {"insert": "documents", "update": "updates", "delete": "deletes"}[name]
            items = doc.get(key) or []
            reply: dict[str, Any] = {"n": len(items), "ok": 1}
            if name == "update":
                reply["nModified"] = 0
            return reply
        if name in ("count", "countdocuments"):
            return {"n": 0, "ok": 1}
        return {"ok": 1}

    def _build_info(self) -> dict[str, Any]:
        parts = [int(p) if p.isdigit() else 0 for p in self.version.split("-")[0].split(".")][:3]
        parts += [0] * (4 - len(parts))
        return {
            "version": self.version,
            "gitVersion": "copilotos-lab",
            "versionArray": parts,
            "bits": 64,
            "debug": False,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "storageEngines": ["lab"],
            "ok": 1,
        }

    # -- server lifecycle --------------------------------------------------
    def start(self) -> int:
        """Bind and serve in background threads; return the bound port."""
        from mockupdb import MockupDB

        lab = self

        class _Server(MockupDB):  # type: ignore[misc]
            def _server_loop(self, client: Any, client_addr: Any) -> None:
                if lab.open_connection(client, client_addr) is None:
                    _close_quietly(client)
                    return
                try:
                    super()._server_loop(client, client_addr)
                except Exception as exc:  # malformed message, unknown opcode, ...
                    log("Connection error", remote=str(client_addr), error=type(exc).__name__)
                finally:
                    _close_quietly(client)
                    lab.close_connection(client)

        server = _Server(port=self.port or None, request_timeout=int(1e6))
        server._address = (self.host, self.port or None)
        server.autoresponds(self.handle)
        self.port = int(server.run())
        self._server = server
        return self.port

    def shutdown(self) -> None:
        """Stop accepting and hang up every client, without long joins."""
        server = self._server
        if server is None:
            return
        server._stopped = True
        _close_quietly(server._listening_sock)
        for sock in list(server._server_socks):
            _close_quietly(sock)
        self._server = None


def _close_quietly(sock: Any) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode("utf-8")


def _scram_attr(message: str, key: str) -> str:
    """The value of attribute ``key`` in a SCRAM client-first message."""
    for part in message.split(","):
        if part.startswith(key + "="):
            return part[len(key) + 1 :]
    return ""


def healthcheck(port: int, timeout_ms: int = 3000) -> int:
    """Ping 127.0.0.1:port with the environment's credentials; 0 when OK."""
    try:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError
    except ImportError:
        print("healthcheck: pymongo is not importable", file=sys.stderr)
        return 1
    user, password = env_credentials()
    kwargs: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "directConnection": True,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
    }
    if user and password:
        kwargs.update(username=user, password=password, authSource=AUTH_DB)
    client: Any = None
    try:
        client = MongoClient(**kwargs)
        client.admin.command("ping")
    except PyMongoError as exc:
        text = str(exc)
        if password:
            text = text.replace(password, "********")
        print("healthcheck: ping failed: %s" % " ".join(text.split())[:200], file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print("healthcheck: ok")
    return 0


def hello(port: int, timeout_s: float = 3.0) -> int:
    """One OP_MSG ``{hello: 1}`` to 127.0.0.1:port over a raw socket; 0 when it answers ok: 1."""
    body = b"\x10hello\x00" + (1).to_bytes(4, "little") + b"\x02$db\x00" + (6).to_bytes(4, "little") + b"admin\x00"
    doc = (len(body) + 5).to_bytes(4, "little") + body + b"\x00"
    payload = (0).to_bytes(4, "little") + b"\x00" + doc  # flagBits, section kind 0
    header = b"".join(n.to_bytes(4, "little", signed=True) for n in (16 + len(payload), 1, 0, 2013))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(header + payload)
            reply = b""
            while len(reply) < 4 or len(reply) < int.from_bytes(reply[:4], "little"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        print("hello: %s" % exc, file=sys.stderr)
        return 1
    # "ok": 1 as BSON, a double (0x01, as mongod sends it) or an int32 (0x10).
    if b"\x01ok\x00" + struct.pack("<d", 1.0) in reply or b"\x10ok\x00" + struct.pack("<i", 1) in reply:
        print("hello: ok")
        return 0
    print("hello: no ok: 1 in the reply", file=sys.stderr)
    return 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="MongoDB wire-protocol stand-in for the copilotos lab")
    parser.add_argument("--host", default=os.environ.get("MONGO_LAB_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=_env_int("MONGO_LAB_PORT", 27017))
    parser.add_argument(
        "--max-connections",
        type=int,
        default=_env_int("MONGO_LAB_MAX_CONNECTIONS", 200),
        help="connections accepted at once (serverStatus available = this minus current)",
    )
    parser.add_argument(
        "--ping-without-auth",
        action="store_true",
        default=os.environ.get("MONGO_LAB_PING_WITHOUT_AUTH", "") in ("1", "true", "yes"),
        help="answer ping on unauthenticated connections, as mongod does",
    )
    parser.add_argument("--version-string", default=os.environ.get("MONGO_LAB_VERSION", DEFAULT_VERSION))
    parser.add_argument("--healthcheck", action="store_true", help="ping 127.0.0.1:PORT and exit 0/1")
    parser.add_argument("--hello", action="store_true", help="raw OP_MSG hello to 127.0.0.1:PORT, exit 0/1")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.healthcheck:
        return healthcheck(args.port)
    if args.hello:
        return hello(args.port)
    user, password = env_credentials()
    lab = LabMongo(
        host=args.host,
        port=args.port,
        user=user,
        password=password,
        max_connections=args.max_connections,
        ping_requires_auth=not args.ping_without_auth,
        version=args.version_string,
    )
    password = None  # the SCRAM keys are derived; drop the clear text
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        port = lab.start()
    except OSError as exc:
        log("Failed to bind", host=args.host, port=args.port, error=str(exc))
        return 1
    log(
        "Waiting for connections",
        host=args.host,
        port=port,
        version=lab.version,
        auth=lab.auth_enabled,
        user=user or "",
        maxConnections=lab.max_connections,
    )
    while not stop.wait(0.2):
        pass
    log("Shutting down", component="CONTROL")
    lab.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
