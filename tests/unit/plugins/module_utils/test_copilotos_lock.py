"""The run lock: who holds it, when a dead run's lock is reclaimed, and who may judge that."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.copilotos_lock import (
    LockBusy,
    acquire,
    boot_id,
    holder_identity,
    is_stale,
    machine_id,
    read_lock,
    release,
)

HERE_MACHINE = machine_id()
HERE_BOOT = boot_id()


def dead_pid() -> int:
    """A pid that existed a moment ago and exists no more."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def owner(pid: int, host: str | None = None, machine: str | None = None) -> dict[str, Any]:
    return {"user": "ops", "host": host or socket.gethostname(), "pid": pid, "playbook": "remediate.yml",
            "machine_id": HERE_MACHINE if machine is None else machine, "boot_id": HERE_BOOT}


def write_holder(path: Path, **fields: Any) -> dict[str, Any]:
    holder = {"user": "ops", "host": socket.gethostname(), "machine_id": HERE_MACHINE, "boot_id": HERE_BOOT,
              "pid": os.getpid(), "playbook": "remediate.yml", "started": "now", "epoch": time.time()}
    holder.update(fields)
    path.write_text(json.dumps(holder))
    return holder


def test_acquire_records_the_controllers_identity_in_a_0600_file(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    got = acquire(str(lock), owner(os.getpid()), 3600, check_mode=False)
    assert got["taken"] and not got["reclaimed"]
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    held = read_lock(str(lock))
    assert held is not None
    assert {k: held[k] for k in ("host", "pid", "machine_id", "boot_id")} == {
        "host": socket.gethostname(), "pid": os.getpid(), "machine_id": HERE_MACHINE, "boot_id": HERE_BOOT}


def test_a_live_holder_on_this_machine_keeps_the_lock_and_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    write_holder(lock, pid=os.getpid(), host="ctl-a")
    before = lock.read_bytes()
    with pytest.raises(LockBusy, match=r"ops@ctl-a pid %d" % os.getpid()):
        acquire(str(lock), owner(dead_pid()), 3600, check_mode=False)
    assert lock.read_bytes() == before


@pytest.mark.skipif(not HERE_MACHINE, reason="this machine has no machine id")
def test_a_dead_holder_on_this_machine_is_reclaimed_even_under_another_host_name(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    pid = dead_pid()
    write_holder(lock, pid=pid, host="renamed-since")
    got = acquire(str(lock), owner(os.getpid()), 3600, check_mode=False)
    assert got["reclaimed"] and got["reclaim_reason"] == "process %d no longer exists" % pid
    assert read_lock(str(lock))["pid"] == os.getpid()  # type: ignore[index]


def test_a_dead_holder_of_another_machine_cannot_be_judged_here(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    write_holder(lock, pid=dead_pid(), host="laptop", machine_id="0" * 32, boot_id="b")
    with pytest.raises(LockBusy, match="laptop"):
        acquire(str(lock), owner(os.getpid()), 3600, check_mode=False)


def test_the_controller_vouches_for_exactly_one_holder(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    holder = write_holder(lock, pid=424242, host="laptop", machine_id="0" * 32, boot_id="b")
    other = dict(holder, epoch=holder["epoch"] - 1)  # an earlier run of the same process id
    with pytest.raises(LockBusy):
        acquire(str(lock), owner(os.getpid()), 3600, check_mode=False, vouched=holder_identity(other))
    got = acquire(str(lock), owner(os.getpid()), 3600, check_mode=False, vouched=holder_identity(holder))
    assert got["reclaimed"] and got["reclaim_reason"] == "its controller laptop reports process 424242 gone"
    assert got["taken"]


def test_a_holder_from_before_this_machines_boot_is_gone(tmp_path: Path) -> None:
    if not (HERE_MACHINE and HERE_BOOT):
        pytest.skip("this machine has no machine id or boot id")
    lock = tmp_path / "lock"
    write_holder(lock, pid=os.getpid(), boot_id="an-earlier-boot")
    got = acquire(str(lock), owner(dead_pid()), 3600, check_mode=False)
    assert got["reclaimed"] and got["reclaim_reason"].startswith("its machine rebooted since")


def test_a_lock_without_machine_id_falls_back_to_the_host_name(tmp_path: Path) -> None:
    pid = dead_pid()
    stale, why = is_stale({"host": socket.gethostname(), "pid": pid, "epoch": time.time()}, 3600)
    assert stale and why == "process %d no longer exists" % pid
    assert is_stale({"host": "elsewhere", "pid": pid, "epoch": time.time()}, 3600) == (False, "")


def test_age_and_unreadable_files_reclaim_any_holder(tmp_path: Path) -> None:
    old = {"host": "laptop", "machine_id": "0" * 32, "pid": 1, "epoch": time.time() - 7200}
    assert is_stale(old, 3600) == (True, "older than 3600 s")
    lock = tmp_path / "lock"
    lock.write_text("{not json")
    got = acquire(str(lock), owner(os.getpid()), 3600, check_mode=False)
    assert got["reclaimed"] and got["reclaim_reason"] == "unreadable lock file"


def test_check_mode_tests_the_lock_and_leaves_the_file(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    write_holder(lock, pid=dead_pid())
    before = lock.read_bytes()
    got = acquire(str(lock), owner(os.getpid()), 3600, check_mode=True)
    assert got["reclaimed"] and not got["taken"]
    assert lock.read_bytes() == before


def test_release_removes_only_our_own_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    me = owner(os.getpid())
    acquire(str(lock), me, 3600, check_mode=False)
    other_machine = dict(me, machine_id="f" * 32)
    assert release(str(lock), other_machine, check_mode=False) is not None and lock.exists()
    assert release(str(lock), me, check_mode=False) is None and not lock.exists()
