"""A webhook receiver on 127.0.0.1 for the notification tests (Slack-compatible JSON POSTs)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A webhook on 127.0.0.1: records each POST's JSON body, answers ``status`` after ``delay`` seconds."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.headers.append(dict(self.headers))
                receiver.bodies.append(json.loads(self.rfile.read(length).decode("utf-8")))
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/hooks/T000/B000/token-in-the-path" % self.server.server_address[1]

    def reset(self, status: int = 200, delay: float = 0.0) -> None:
        self.bodies.clear()
        self.headers.clear()
        self.status, self.delay = status, delay


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A started Receiver, shut down on exit (module fixtures wrap it)."""
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
