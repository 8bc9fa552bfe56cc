"""The copilotos_state action: the controller vouches for its own dead run's lock, and for nothing else."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[4]


def load_action() -> ModuleType:
    spec = importlib.util.spec_from_file_location("copilotos_state_action", ROOT / "plugins/action/copilotos_state.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ACTION = load_action()
MACHINE, BOOT = "a" * 32, "boot-1"


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def refusal(**holder: Any) -> dict[str, Any]:
    base = {"host": "laptop", "machine_id": MACHINE, "boot_id": BOOT, "pid": os.getpid(), "epoch": 1.5,
            "user": "ops", "playbook": "remediate.yml", "started": "then"}
    base.update(holder)
    return {"failed": True, "refused": True, "msg": "another copilotos run holds the lock", "holder": base}


def test_vouches_for_a_dead_process_of_this_controller() -> None:
    pid = dead_pid()
    assert ACTION.vouch_for(refusal(pid=pid), MACHINE, "laptop", BOOT) == {
        "machine_id": MACHINE, "boot_id": BOOT, "host": "laptop", "pid": pid, "epoch": 1.5}


def test_vouches_for_a_process_from_before_the_controllers_boot() -> None:
    assert ACTION.vouch_for(refusal(), MACHINE, "laptop", "boot-2") is not None


@pytest.mark.parametrize(("result", "why"), [
    (refusal(), "the holder is alive here"),
    (refusal(machine_id="b" * 32, pid=999999), "another controller's lock"),
    (dict(refusal(pid=999999), refused=False), "a failure that is not a refusal"),
    ({"failed": True, "refused": True, "msg": "copilotos_project_dir does not exist"}, "no lock involved"),
    ({"failed": True, "refused": True, "holder": {"unreadable": True}}, "an unreadable lock (the target reclaims it)"),
    ({"changed": False, "lock": {"taken": True}}, "a success"),
])
def test_vouches_for_nothing_else(result: dict[str, Any], why: str) -> None:
    assert ACTION.vouch_for(result, MACHINE, "laptop", BOOT) is None, why


def make_action(args: dict[str, Any]) -> Any:
    task = mock.MagicMock(action="copilotos_state", args=args, async_val=0, check_mode=False, diff=False)
    return ACTION.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                               shared_loader_obj=None)


def test_run_calls_the_module_again_vouching_only_when_the_refusal_names_its_dead_run() -> None:
    pid = dead_pid()
    first = refusal(pid=pid, host=socket.gethostname(), machine_id=MACHINE, boot_id=BOOT, epoch=time.time())
    action = make_action({"plan": {}, "lock": True})
    calls: list[dict[str, Any]] = []

    def execute(module_name: str, module_args: dict[str, Any], task_vars: Any) -> dict[str, Any]:
        calls.append(dict(module_args))
        return first if len(calls) == 1 else {"changed": False, "lock": {"reclaimed": True, "taken": True}}

    with mock.patch.object(action, "_execute_module", side_effect=execute), \
            mock.patch.object(ACTION, "machine_id", return_value=MACHINE), \
            mock.patch.object(ACTION, "boot_id", return_value=BOOT):
        result = action.run(task_vars={})
    assert [c.get("lock_vouched", {}).get("pid") for c in calls] == [None, pid]
    assert result["lock"] == {"reclaimed": True, "taken": True} and not result.get("failed")


def test_run_returns_the_modules_refusal_when_the_holder_lives() -> None:
    first = refusal(host=socket.gethostname())
    action = make_action({"plan": {}, "lock": True})
    with mock.patch.object(action, "_execute_module", return_value=first) as execute, \
            mock.patch.object(ACTION, "machine_id", return_value=MACHINE), \
            mock.patch.object(ACTION, "boot_id", return_value=BOOT):
        result = action.run(task_vars={})
    assert execute.call_count == 1
    assert result["failed"] and result["holder"]["pid"] == os.getpid()
