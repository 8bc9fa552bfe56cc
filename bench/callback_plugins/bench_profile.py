# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
---
name: bench_profile
type: aggregate
short_description: Task and batch timings for bench/run
description:
  - Records, per task and host, when it started and ended, and when each play (each serial batch) started,
    and writes them as JSON to the file named by the environment variable BENCH_PROFILE_FILE at the end
    of the run. Only timestamps and names, no result data, so no secret.
  - Enabled by bench/run only (ANSIBLE_CALLBACKS_ENABLED), never by ansible.cfg.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.time()
        self._plays: list[dict[str, Any]] = []
        self._tasks: list[dict[str, Any]] = []
        self._open: dict[tuple[str, str], dict[str, Any]] = {}

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._plays.append({"name": play.get_name(), "start": time.time() - self._t0})

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        entry = {
            "task": task.get_name(),
            "action": task.action,
            "host": host.get_name(),
            "start": time.time() - self._t0,
            "end": None,
            "status": None,
            "play": len(self._plays) - 1,
        }
        self._open[(host.get_name(), task._uuid)] = entry
        self._tasks.append(entry)

    def _end(self, result: Any, status: str) -> None:
        entry = self._open.pop((result._host.get_name(), result._task._uuid), None)
        if entry is not None:
            entry["end"] = time.time() - self._t0
            entry["status"] = status

    def v2_runner_on_ok(self, result: Any) -> None:
        self._end(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._end(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._end(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._end(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("BENCH_PROFILE_FILE")
        if not path:
            return
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"end": time.time() - self._t0, "plays": self._plays, "tasks": self._tasks}, handle)
