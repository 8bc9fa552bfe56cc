# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""copilotos_docker_logs: an ansible-rulebook event source following Compose services' logs.

It follows the logs of one or more Compose services through the Docker API
(the ``docker`` Python SDK) and puts one event on the queue per log line that
matches an error signature: the signatures of the ``container_logs`` module
(``plugins/module_utils/copilotos_logs.py``: JSON ``level``/``event`` or a
regex), imported, not copied.

Arguments (all optional but one of ``targets``/``projects``):

``targets``
    A list of ``{host, project, service, docker_host}``: ``host`` is the
    inventory name the events carry (``meta.hosts``, so ``run_playbook``
    limits itself to it), ``project`` the Compose project, ``service`` the
    service (default ``api``), ``docker_host`` the engine that runs it
    (default the source's ``docker_host``).
``projects``
    A Compose project name or a list of them; the host is the project name.
``services``
    The services followed for ``projects`` (default ``[api]``).
``docker_host``
    The Docker engine of the targets that name none (default: DOCKER_HOST or
    the local socket). Targets on several engines are followed side by side,
    one client and one container-event stream per engine; every engine must
    answer at start, or the source fails naming it.
``patterns``
    Signature patterns, as ``container_logs``'s ``patterns`` (default theirs).
``areas``
    Only emit lines whose signatures belong to these areas (default: all).
``secrets``
    Values masked in every excerpt (URL passwords are masked anyway).
``decision_log``
    A JSON-lines file that gets one record per emitted event (``signature``)
    and per container followed (``follow``: at start and after a recreate); no secrets.
``poll_interval``
    Seconds between checks for a new container of each service (default 5);
    Docker's container events trigger the same check at once.

Each event::

    {"host": "lab1", "project": "copilotos", "service": "api",
     "container": {"id": "0123456789ab", "name": "copilotos-api-1"},
     "signature": "redis_auth_failed", "signatures": ["redis_auth_failed"],
     "severity": "critical", "area": "redis", "areas": ["redis"],
     "level": "error", "time": "2026-12-04T19:00:00.123456789Z",
     "excerpt": "... at most 200 characters, masked ...",
     "meta": {"hosts": "lab1"}}

Recreates: when the service's container changes (Compose recreated it), the
source leaves the old stream and follows the new container from its first
line. It stops on cancellation, closing the Docker streams; each stream is
read by a daemon thread that ends when its stream is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The project's module_utils, by the collection's name. ansible-rulebook runs a
# source with runpy, outside Ansible's collection loader, so the directory that
# holds ansible_collections/ must be importable: scripts/watch.sh puts the
# checkout's collections/ (a link back to it) on PYTHONPATH; with the built
# collection installed, PYTHONPATH names the collections directory it is in.
from ansible_collections.copilotos.remediation.plugins.module_utils import (
    copilotos_common as common,
)
from ansible_collections.copilotos.remediation.plugins.module_utils import (
    copilotos_docker as docker_utils,
)
from ansible_collections.copilotos.remediation.plugins.module_utils import (
    copilotos_logs as logs,
)

DOCUMENTATION = r"""
---
short_description: Follow Compose services' logs and emit one event per error signature line.
description:
  - An ansible-rulebook source plugin of copilotos-remediation (see the module docstring).
"""

_SEVERITY_ORDER = ("critical", "medium", "low", "info")


# --- Arguments -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    host: str
    project: str
    service: str
    docker_host: str | None = None  # None: the source's docker_host

    @property
    def key(self) -> str:
        return "%s/%s/%s" % (self.host, self.project, self.service)


@dataclass
class Settings:
    targets: list[Target]
    patterns: list[dict[str, Any]]
    areas: set[str] | None = None
    secrets: list[str] = field(default_factory=list)
    docker_host: str | None = None
    decision_log: str | None = None
    poll_interval: float = 5.0

    def engines(self) -> dict[str | None, list[Target]]:
        """The targets by the Docker engine they run on (None: DOCKER_HOST or the local socket)."""
        by_engine: dict[str | None, list[Target]] = {}
        for target in self.targets:
            by_engine.setdefault(target.docker_host or self.docker_host, []).append(target)
        return by_engine

    def for_targets(self, targets: list[Target]) -> Settings:
        return type(self)(**{**self.__dict__, "targets": targets})


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def parse_args(args: dict[str, Any]) -> Settings:
    """Check the source's arguments; ValueError names the bad one."""
    targets: list[Target] = []
    for index, raw in enumerate(_as_list(args.get("targets"))):
        if not isinstance(raw, dict) or not raw.get("project"):
            raise ValueError("targets #%d needs a project" % (index + 1))
        project = str(raw["project"])
        targets.append(Target(str(raw.get("host") or project), project, str(raw.get("service") or "api"),
                              str(raw["docker_host"]) if raw.get("docker_host") else None))
    services = [str(s) for s in _as_list(args.get("services"))] or ["api"]
    for project in _as_list(args.get("projects")):
        targets.extend(Target(str(project), str(project), service) for service in services)
    if not targets:
        raise ValueError("copilotos_docker_logs needs targets or projects")
    try:
        patterns = logs.normalise_patterns(args.get("patterns") or None)
    except logs.PatternError as exc:
        raise ValueError(str(exc)) from None
    areas = {str(a) for a in _as_list(args.get("areas"))} or None
    interval = float(args.get("poll_interval") or 5)
    if interval <= 0:
        raise ValueError("poll_interval must be positive")
    return Settings(
        targets=list(dict.fromkeys(targets)),
        patterns=patterns,
        areas=areas,
        secrets=[str(s) for s in _as_list(args.get("secrets")) if s],
        docker_host=args.get("docker_host") or None,
        decision_log=args.get("decision_log") or None,
        poll_interval=interval,
    )


# --- Line -> event (pure) ------------------------------------------------------------


def line_event(target: Target, container_id: str, container_name: str, line: str, settings: Settings
               ) -> dict[str, Any] | None:
    """The event for one log line (``<RFC 3339 stamp> <text>`` or plain text), or None."""
    stamp, text = logs.split_timestamp(line.rstrip("\r\n"))
    names, level, _event = logs.line_signatures(text, settings.patterns)
    if not names:
        return None
    by_name = {p["name"]: p for p in settings.patterns}
    matched = [by_name[n] for n in names]
    if settings.areas is not None:
        matched = [p for p in matched if p["area"] in settings.areas]
        if not matched:
            return None
    best = min(matched, key=lambda p: _SEVERITY_ORDER.index(p["severity"]) if p["severity"] in _SEVERITY_ORDER
               else len(_SEVERITY_ORDER))
    masked_level = common.mask_text(level, settings.secrets) if level is not None else None
    return {
        "host": target.host,
        "project": target.project,
        "service": target.service,
        "container": {"id": container_id[:12], "name": container_name},
        "signature": best["name"],
        "signatures": [p["name"] for p in matched],
        "severity": best["severity"],
        "area": best["area"],
        "areas": sorted({p["area"] for p in matched}),
        "level": masked_level,
        "time": stamp or _now(),
        "excerpt": logs.excerpt(text, settings.secrets),
        "meta": {"hosts": target.host},
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Re-attach decision (pure) -------------------------------------------------------


def reattach_decision(target: Target, attached_id: str | None, event: dict[str, Any]) -> str | None:
    """What a Docker event means for a target's stream: "attach", "detach" or None.

    ``attach``: a container of the target's project and service started and
    it is not the one followed (Compose recreated the service). ``detach``:
    the followed container died, stopped or was removed.
    """
    if (event.get("Type") or event.get("type")) != "container":
        return None
    actor = event.get("Actor") or {}
    labels = actor.get("Attributes") or {}
    wanted = (target.project, target.service)
    if (labels.get(docker_utils.PROJECT_LABEL), labels.get(docker_utils.SERVICE_LABEL)) != wanted:
        return None
    action = str(event.get("Action") or event.get("status") or "")
    cid = str(actor.get("ID") or event.get("id") or "")
    if action == "start" and cid and cid != attached_id:
        return "attach"
    if action in ("die", "stop", "kill", "destroy") and attached_id and cid == attached_id:
        return "detach"
    return None


# --- Streams -------------------------------------------------------------------------


class _Stream:
    """One Docker stream read by a daemon thread; each item goes to the loop's inbox."""

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[tuple[Any, ...]], stream: Any,
                 tag: tuple[Any, ...], lines: bool) -> None:
        self.stream = stream
        self._loop, self._inbox, self._tag, self._lines = loop, inbox, tag, lines
        self.alive = True
        self.thread = threading.Thread(target=self._pump, name="copilotos-docker-logs", daemon=True)
        self.thread.start()

    def _send(self, item: tuple[Any, ...]) -> None:
        try:
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, item)
        except RuntimeError:  # the loop is closed: the source is gone
            pass

    def _pump(self) -> None:
        buf = b""
        try:
            for chunk in self.stream:
                if not self.alive:
                    break
                if not self._lines:
                    self._send((*self._tag, chunk))
                    continue
                buf += chunk if isinstance(chunk, bytes) else str(chunk).encode()
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self._send((*self._tag, line.decode("utf-8", "replace")))
        except Exception:  # noqa: S110 (a closed or broken stream ends the thread; the loop re-checks)
            pass
        finally:
            if buf and self._lines and self.alive:
                self._send((*self._tag, buf.decode("utf-8", "replace")))
            self.alive = False
            self._send(("end", *self._tag[1:2]))

    def close(self, join: float = 2.0) -> None:
        self.alive = False
        with contextlib.suppress(Exception):  # closing a dead stream
            self.stream.close()
        self.thread.join(join)


@dataclass
class _Follow:
    container_id: str
    name: str
    stream: _Stream


class Watch:
    """Follows every target; one inbox for lines, stream ends, Docker events and polls."""

    def __init__(self, client: Any, settings: Settings, queue: asyncio.Queue[Any]) -> None:
        self.client, self.settings, self.queue = client, settings, queue
        self.loop = asyncio.get_running_loop()
        self.inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.follows: dict[str, _Follow] = {}
        self.by_key = {t.key: t for t in settings.targets}
        self.last_seen: dict[str, int] = {}  # container id -> epoch ns of its last line read
        self.started = time.time()
        self.events: _Stream | None = None

    async def run(self) -> None:
        try:
            self._start_events()
            for target in self.settings.targets:
                await self.sync(target)
            poller = asyncio.ensure_future(self._poll())
            try:
                while True:
                    await self.dispatch(await self.inbox.get())
            finally:
                poller.cancel()
        finally:
            await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(self.close)))

    def _start_events(self) -> None:
        try:
            stream = self.client.events(decode=True,
                                        filters={"type": "container", "label": [docker_utils.PROJECT_LABEL]})
        except Exception:  # no events: polling alone re-attaches
            return
        self.events = _Stream(self.loop, self.inbox, stream, ("docker",), lines=False)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            self.inbox.put_nowait(("poll",))

    async def dispatch(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "line":
            await self.on_line(item[1], item[2], item[3])
        elif kind == "end":
            target = self.by_key.get(item[1]) if len(item) > 1 else None  # the events stream ending: polls go on
            if target is not None:
                await self.sync(target)
        elif kind == "docker":
            for target in self.settings.targets:
                follow = self.follows.get(target.key)
                if reattach_decision(target, follow.container_id if follow else None, item[1]):
                    await self.sync(target)
        elif kind == "poll":
            for target in self.settings.targets:
                await self.sync(target)

    async def on_line(self, key: str, container_id: str, line: str) -> None:
        follow, target = self.follows.get(key), self.by_key.get(key)
        if follow is None or target is None or follow.container_id != container_id:
            return  # a late line of a stream already left
        stamp, _text = logs.split_timestamp(line)
        ns = logs.to_epoch_ns(stamp) if stamp else None
        if ns is not None:
            if ns <= self.last_seen.get(container_id, -1):
                return  # already read before a re-attach to the same container
            self.last_seen[container_id] = ns
        event = line_event(target, container_id, follow.name, line, self.settings)
        if event is None:
            return
        self.record(event)
        await self.queue.put(event)

    def record(self, event: dict[str, Any]) -> None:
        if not self.settings.decision_log:
            return
        entry = {"time": _now(), "decision": "signature", "host": event["host"], "service": event["service"],
                 "container": event["container"]["name"], "signature": event["signature"],
                 "severity": event["severity"], "area": event["area"], "excerpt": event["excerpt"]}
        append_decision(self.settings.decision_log, entry)

    async def sync(self, target: Target) -> None:
        """Follow the target's running container, re-attaching when it changed."""
        try:
            running = await asyncio.to_thread(docker_utils.service_containers, self.client, target.project,
                                              target.service, False)
        except docker_utils.DockerError:
            return
        newest = running[0] if running else None
        follow = self.follows.get(target.key)
        if follow is not None and newest is not None and follow.container_id == newest.id and follow.stream.alive:
            return
        if follow is not None and (newest is None or follow.container_id != newest.id or not follow.stream.alive):
            self.follows.pop(target.key)
            await asyncio.to_thread(follow.stream.close)
        if newest is None:
            return
        since_ns = max(int(self.started * 1_000_000_000), self.last_seen.get(newest.id, 0))
        try:
            stream = await asyncio.to_thread(newest.logs, stream=True, follow=True, timestamps=True,
                                             since=since_ns // 1_000_000_000)
        except Exception:  # the container went away meanwhile: the next event or poll retries
            return
        name = str(getattr(newest, "name", "") or "")
        self.follows[target.key] = _Follow(newest.id, name,
                                           _Stream(self.loop, self.inbox, stream, ("line", target.key, newest.id),
                                                   lines=True))
        if self.settings.decision_log:
            append_decision(self.settings.decision_log,
                            {"time": _now(), "decision": "follow", "host": target.host, "service": target.service,
                             "container": name, "container_id": newest.id[:12]})

    def close(self) -> None:
        for follow in list(self.follows.values()):
            follow.stream.close()
        self.follows.clear()
        if self.events is not None:
            self.events.close()
        with contextlib.suppress(Exception):  # closing on the way out
            self.client.close()


def append_decision(path: str, entry: dict[str, Any]) -> None:
    """Append one JSON line (0600 when created); a failed write never stops the watch."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError:
        pass


def connect(docker_host: str | None) -> Any:
    """The Docker client (tests replace this)."""
    return docker_utils.get_client(docker_host)


async def main(queue: asyncio.Queue[Any], args: dict[str, Any]) -> None:
    """ansible-rulebook's entry point: follow until cancelled, one Watch per Docker engine."""
    settings = parse_args(args)
    watches: list[Watch] = []
    try:
        for engine, targets in settings.engines().items():
            client = await asyncio.to_thread(connect, engine)
            watches.append(Watch(client, settings.for_targets(targets), queue))
    except BaseException:
        for watch in watches:  # an engine that does not answer: close the others' clients, fail naming it
            await asyncio.to_thread(watch.close)
        raise
    tasks = [asyncio.ensure_future(watch.run()) for watch in watches]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    # Try it by hand: python copilotos_docker_logs.py <compose project> [service]

    class _PrintQueue:
        async def put(self, event: dict[str, Any]) -> None:
            print(json.dumps(event, sort_keys=True), flush=True)

    _args: dict[str, Any] = {"projects": sys.argv[1:2], "services": sys.argv[2:3] or ["api"]}
    try:
        asyncio.run(main(_PrintQueue(), _args))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
