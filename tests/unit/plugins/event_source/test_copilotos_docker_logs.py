"""The Docker-log event source: line -> event, re-attach decisions, cancellation (no Docker engine)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import queue as thread_queue
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[4]
PLUGIN = ROOT / "extensions" / "eda" / "plugins" / "event_source" / "copilotos_docker_logs.py"
_spec = importlib.util.spec_from_file_location("copilotos_docker_logs", PLUGIN)
assert _spec and _spec.loader
src: Any = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = src
_spec.loader.exec_module(src)

SECRET = "s3cr/et+Pass"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def settings(**args: Any) -> Any:
    return src.parse_args({"targets": [{"host": "lab1", "project": "proj", "service": "api"}], **args})


TARGET = src.Target("lab1", "proj", "api")


# --- line -> event ---------------------------------------------------------------


def test_json_event_line_matches_redis_signature() -> None:
    line = ('2026-12-04T19:00:00.123456789Z {"event": "Redis cache connection failed", "level": "warning", '
            '"error": "Error 111 connecting to localhost:6379"}')
    event = src.line_event(TARGET, "0123456789abcdef", "proj-api-1", line, settings())
    assert event is not None
    assert event["host"] == "lab1" and event["service"] == "api" and event["project"] == "proj"
    assert event["container"] == {"id": "0123456789ab", "name": "proj-api-1"}
    assert event["signature"] == "redis_connection_failed"
    assert set(event["signatures"]) == {"redis_connection_failed", "connection_refused"}
    assert event["severity"] == "critical" and event["area"] == "redis" and event["areas"] == ["redis"]
    assert event["level"] == "warning"
    assert event["time"] == "2026-12-04T19:00:00.123456789Z"
    assert event["meta"] == {"hosts": "lab1"}


def test_regex_line_and_non_matching_line() -> None:
    assert src.line_event(TARGET, "c1", "n", "INFO all good", settings()) is None
    event = src.line_event(TARGET, "c1", "n", "redis.exceptions.AuthenticationError: WRONGPASS invalid", settings())
    assert event and event["signature"] == "redis_auth_failed" and event["area"] == "redis"
    mongo = src.line_event(TARGET, "c1", "n", "pymongo.errors.ServerSelectionTimeoutError: x", settings())
    assert mongo and mongo["area"] == "mongo" and mongo["severity"] == "medium"


def test_areas_filter_drops_other_areas() -> None:
    only = settings(areas=["redis", "mongo"])
    assert src.line_event(TARGET, "c1", "n", "ReadTimeout talking to saptiva", only) is None
    assert src.line_event(TARGET, "c1", "n", "NOAUTH Authentication required", only) is not None


def test_excerpt_masked_bounded_and_no_secret_anywhere() -> None:
    line = ("WRONGPASS redis://:%s@redis:6379/0 and mongodb://user:pw-in-url@mongo/db and plain %s "
            % ("s3cr%2Fet%2BPass", SECRET)) + "x" * 500
    event = src.line_event(TARGET, "c1", "n", line, settings(secrets=[SECRET]))
    assert event is not None
    assert len(event["excerpt"]) <= 200
    dumped = json.dumps(event)
    for leak in (SECRET, "s3cr%2Fet%2BPass", "pw-in-url"):
        assert leak not in dumped
    assert "********" in event["excerpt"]


def test_custom_patterns_and_bad_args() -> None:
    custom = settings(patterns=[{"name": "boom", "regex": "BOOM", "severity": "critical", "area": "redis"}])
    assert src.line_event(TARGET, "c", "n", "BOOM", custom)["signature"] == "boom"
    assert src.line_event(TARGET, "c", "n", "WRONGPASS", custom) is None
    with pytest.raises(ValueError, match="targets or projects"):
        src.parse_args({})
    with pytest.raises(ValueError, match="invalid regex"):
        settings(patterns=[{"name": "bad", "regex": "("}])
    with pytest.raises(ValueError, match="needs a project"):
        src.parse_args({"targets": [{"host": "h"}]})


def test_projects_shorthand() -> None:
    parsed = src.parse_args({"projects": ["a", "b"], "services": ["api", "web"]})
    assert [t.key for t in parsed.targets] == ["a/a/api", "a/a/web", "b/b/api", "b/b/web"]
    assert src.parse_args({"projects": "one"}).targets == [src.Target("one", "one", "api")]


# --- re-attach decisions ----------------------------------------------------------


def docker_event(action: str, cid: str, project: str = "proj", service: str = "api") -> dict[str, Any]:
    return {"Type": "container", "Action": action,
            "Actor": {"ID": cid, "Attributes": {PROJECT_LABEL: project, SERVICE_LABEL: service}}}


def test_reattach_on_a_new_container_of_the_service() -> None:
    assert src.reattach_decision(TARGET, "old", docker_event("start", "new")) == "attach"
    assert src.reattach_decision(TARGET, None, docker_event("start", "new")) == "attach"
    assert src.reattach_decision(TARGET, "old", docker_event("start", "old")) is None
    assert src.reattach_decision(TARGET, "old", docker_event("die", "old")) == "detach"
    assert src.reattach_decision(TARGET, "old", docker_event("destroy", "old")) == "detach"
    assert src.reattach_decision(TARGET, "old", docker_event("die", "other")) is None


def test_reattach_ignores_other_services_projects_and_types() -> None:
    assert src.reattach_decision(TARGET, "old", docker_event("start", "new", service="redis")) is None
    assert src.reattach_decision(TARGET, "old", docker_event("start", "new", project="other")) is None
    assert src.reattach_decision(TARGET, "old", {"Type": "network", "Action": "connect", "Actor": {}}) is None


# --- a fake Docker client: follows, recreates, cancellation --------------------------


class FakeStream:
    """A blocking stream like the SDK's: yields what is fed, ends when closed."""

    def __init__(self, items: list[Any] | None = None) -> None:
        self.q: thread_queue.Queue[Any] = thread_queue.Queue()
        self.closed = threading.Event()
        for item in items or []:
            self.q.put(item)

    def feed(self, item: Any) -> None:
        self.q.put(item)

    def __iter__(self) -> Any:
        while True:
            item = self.q.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        self.closed.set()
        self.q.put(None)


class FakeContainer:
    def __init__(self, cid: str, created: str, lines: list[str]) -> None:
        self.id, self.name = cid, "proj-api-1"
        self.attrs = {"Created": created}
        self.lines = lines
        self.streams: list[FakeStream] = []

    def logs(self, **kwargs: Any) -> FakeStream:
        assert kwargs["stream"] and kwargs["follow"] and kwargs["timestamps"]
        stream = FakeStream([(line + "\n").encode() for line in self.lines])
        self.streams.append(stream)
        return stream


class FakeContainers:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[FakeContainer]:
        labels = set((filters or {}).get("label", []))
        assert labels == {"%s=proj" % PROJECT_LABEL, "%s=api" % SERVICE_LABEL}
        return list(self.client.running)


class FakeClient:
    def __init__(self) -> None:
        self.running: list[FakeContainer] = []
        self.containers = FakeContainers(self)
        self.event_stream = FakeStream()
        self.closed = False

    def events(self, **kwargs: Any) -> FakeStream:
        return self.event_stream

    def close(self) -> None:
        self.closed = True


async def next_event(queue: asyncio.Queue[Any], timeout: float = 5.0) -> dict[str, Any]:
    return await asyncio.wait_for(queue.get(), timeout)  # type: ignore[no-any-return]


def test_follow_reattach_after_recreate_and_clean_cancel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client = FakeClient()
    old = FakeContainer("a" * 64, "2026-12-04T19:00:00Z",
                        ["2099-01-01T00:00:00.000000001Z INFO starting",
                         "2099-01-01T00:00:01.000000000Z WRONGPASS invalid username-password pair"])
    client.running = [old]
    monkeypatch.setattr(src, "connect", lambda docker_host: client)
    log = tmp_path / "decisions.jsonl"

    async def scenario() -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        args = {"targets": [{"host": "lab1", "project": "proj", "service": "api"}], "poll_interval": 30,
                "decision_log": str(log), "secrets": [SECRET]}
        task = asyncio.ensure_future(src.main(queue, args))
        first = await next_event(queue)
        assert first["container"]["id"] == "a" * 12 and first["signature"] == "redis_auth_failed"
        # Compose recreates the api: the old stream ends, a new container starts.
        new = FakeContainer("b" * 64, "2026-12-04T19:05:00Z",
                            ['2099-01-01T00:01:00.000000000Z {"event": "Redis cache connection failed", '
                             '"level": "warning", "error": "password %s"}' % SECRET])
        client.running = [new]
        old.streams[-1].close()
        client.event_stream.feed({"Type": "container", "Action": "start",
                                  "Actor": {"ID": new.id, "Attributes": {PROJECT_LABEL: "proj", SERVICE_LABEL: "api"}}})
        second = await next_event(queue)
        assert second["container"]["id"] == "b" * 12 and second["signature"] == "redis_connection_failed"
        assert SECRET not in json.dumps(second)
        # A line fed later to the live stream is an event too.
        new.streams[-1].feed(b"2099-01-01T00:02:00.000000000Z NOAUTH Authentication required.\n")
        third = await next_event(queue)
        assert third["signature"] == "redis_auth_failed"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert all(s.closed.is_set() for s in old.streams + new.streams)
        assert client.event_stream.closed.is_set() and client.closed
        assert queue.empty()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    threads = [t for t in threading.enumerate() if t.name == "copilotos-docker-logs"]
    assert threads == []
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["decision"], r.get("signature") or r["container_id"]) for r in records] == [
        ("follow", "a" * 12), ("signature", "redis_auth_failed"), ("follow", "b" * 12),
        ("signature", "redis_connection_failed"), ("signature", "redis_auth_failed")]
    assert all(r["host"] == "lab1" for r in records)
    assert SECRET not in log.read_text()


def test_poll_attaches_when_the_service_appears_late(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    monkeypatch.setattr(src, "connect", lambda docker_host: client)

    async def scenario() -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(src.main(queue, {"projects": ["proj"], "poll_interval": 0.05}))
        await asyncio.sleep(0.2)
        assert queue.empty()
        client.running = [FakeContainer("c" * 64, "2026-12-04T19:00:00Z",
                                        ["2099-01-01T00:00:00.000000000Z Error 111 connecting to localhost:6379"])]
        event = await next_event(queue)
        assert event["host"] == "proj" and event["signature"] == "connection_refused"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)

    asyncio.run(asyncio.wait_for(scenario(), 30))


# --- several Docker engines (a per-host docker_host) ---------------------------------

TWO_ENGINES = {"docker_host": "unix:///run/default.sock", "poll_interval": 30, "targets": [
    {"host": "lab1", "project": "proj", "service": "api"},
    {"host": "prod1", "project": "proj", "service": "api", "docker_host": "tcp://prod1:2375"}]}


def test_per_target_docker_host_and_the_default_engine() -> None:
    args = {**TWO_ENGINES, "targets": [*TWO_ENGINES["targets"],  # type: ignore[misc]
                                       {"host": "lab2", "project": "other", "docker_host": ""}]}
    parsed = src.parse_args(args)
    assert [t.docker_host for t in parsed.targets] == [None, "tcp://prod1:2375", None]
    assert {engine: [t.host for t in targets] for engine, targets in parsed.engines().items()} == {
        "unix:///run/default.sock": ["lab1", "lab2"], "tcp://prod1:2375": ["prod1"]}
    without_default = src.parse_args({**args, "docker_host": ""}).engines()
    assert list(without_default) == [None, "tcp://prod1:2375"]  # None: DOCKER_HOST or the local socket
    assert parsed.for_targets(parsed.targets[1:2]).targets == [parsed.targets[1]]


def test_one_watch_per_engine_same_project_on_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production servers run the same Compose project; each host's api is
    # followed on its own engine and its events carry that host.
    clients = {"unix:///run/default.sock": FakeClient(), "tcp://prod1:2375": FakeClient()}
    for n, (engine, client) in enumerate(clients.items()):
        client.running = [FakeContainer(str(n) * 64, "2026-12-04T19:00:00Z",
                                        ["2099-01-01T00:00:00.000000000Z WRONGPASS on %s" % engine])]
    connected: list[str | None] = []

    def connect(docker_host: str | None) -> FakeClient:
        connected.append(docker_host)
        return clients[str(docker_host)]

    monkeypatch.setattr(src, "connect", connect)

    async def scenario() -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(src.main(queue, TWO_ENGINES))
        by_host = {e["host"]: e for e in [await next_event(queue), await next_event(queue)]}
        assert set(by_host) == {"lab1", "prod1"}
        assert "tcp://prod1:2375" in by_host["prod1"]["excerpt"] and by_host["prod1"]["container"]["id"] == "1" * 12
        assert "default.sock" in by_host["lab1"]["excerpt"] and by_host["lab1"]["container"]["id"] == "0" * 12
        assert by_host["prod1"]["meta"] == {"hosts": "prod1"}
        # A recreate on one engine re-attaches that engine's target only.
        prod = clients["tcp://prod1:2375"]
        new = FakeContainer("9" * 64, "2026-12-04T19:05:00Z", ["2099-01-01T00:01:00.000000000Z NOAUTH on prod1"])
        prod.running = [new]
        prod.event_stream.feed(docker_event("start", new.id))
        again = await next_event(queue)
        assert again["host"] == "prod1" and again["container"]["id"] == "9" * 12
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert queue.empty()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert connected == ["unix:///run/default.sock", "tcp://prod1:2375"]  # one client per engine
    for client in clients.values():
        assert client.closed and client.event_stream.closed.is_set()
        assert all(s.closed.is_set() for c in client.running for s in c.streams)
    assert [t for t in threading.enumerate() if t.name == "copilotos-docker-logs"] == []


def test_an_engine_that_does_not_answer_fails_the_source_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    first = FakeClient()

    def connect(docker_host: str | None) -> FakeClient:
        if docker_host == "tcp://prod1:2375":
            raise src.docker_utils.DockerError("Docker engine unreachable at tcp://prod1:2375: refused")
        return first

    monkeypatch.setattr(src, "connect", connect)
    with pytest.raises(src.docker_utils.DockerError, match="tcp://prod1:2375"):
        asyncio.run(asyncio.wait_for(src.main(asyncio.Queue(), TWO_ENGINES), 10))
    assert first.closed  # the engine that answered is not left open
