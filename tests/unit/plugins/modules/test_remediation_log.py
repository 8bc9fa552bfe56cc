"""remediation_log: append one JSON line (0600, never through a symlink) and read the history back."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import remediation_log

from tests.unit.plugins.modules.conftest import ModuleRunner


def entry(n: int) -> dict[str, object]:
    return {"time": "2026-11-29T09:%02d:00Z" % (n % 60), "user": "ops", "changed_keys": ["REDIS_URL"], "n": n}


def test_append_creates_a_private_file_and_returns_the_history(tmp_path: Path, run_module: ModuleRunner) -> None:
    log = tmp_path / ".copilotos-remediation.log"
    first = run_module(remediation_log.main, path=log, entry=entry(1), history=5)
    second = run_module(remediation_log.main, path=log, entry=entry(2), history=5)
    assert first["appended"] and second["appended"]
    assert not first["changed"] and not second["changed"], "a log line is a record, not a change"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert [e["n"] for e in second["history"]] == [1, 2]
    lines = log.read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [1, 2]
    assert list(json.loads(lines[0])) == ["time", "user", "changed_keys", "n"], "keys keep the entry's order"


def test_history_is_the_last_entries_across_blocks_and_skips_garbage(tmp_path: Path, run_module: ModuleRunner) -> None:
    log = tmp_path / "log"
    lines = [json.dumps(entry(n)) for n in range(400)]  # well over one 8 KiB block
    lines[397] = "not json"
    lines[398] = "[1, 2]"
    log.write_text("\n".join(lines) + "\n\n")
    result = run_module(remediation_log.main, path=log, history=20)
    assert not result["appended"]
    assert [e["n"] for e in result["history"]] == [n for n in range(380, 400) if n not in (397, 398)]
    assert result["skipped_lines"] == 2


def test_check_mode_reads_without_writing(tmp_path: Path, run_module: ModuleRunner) -> None:
    log = tmp_path / "log"
    log.write_text(json.dumps(entry(7)) + "\n")
    result = run_module(remediation_log.main, check=True, path=log, entry=entry(8))
    assert not result["appended"]
    assert [e["n"] for e in result["history"]] == [7]
    assert log.read_text() == json.dumps(entry(7)) + "\n"


def test_a_missing_directory_is_not_created(tmp_path: Path, run_module: ModuleRunner) -> None:
    log = tmp_path / "no-such-project" / "log"
    result = run_module(remediation_log.main, path=log, entry=entry(1))
    assert result["appended"] is False and result["history"] == []
    assert not log.parent.exists()


def test_a_symlink_is_never_written_through(tmp_path: Path, run_module: ModuleRunner) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched\n")
    log = tmp_path / "log"
    log.symlink_to(target)
    result = run_module(remediation_log.main, path=log, entry=entry(1))
    assert result["appended"] is False
    assert "cannot append to the remediation log %s" % log in json.dumps(result["warnings"]), result
    assert target.read_text() == "untouched\n"


def lock_owner(pid: int) -> dict[str, object]:
    return {"pid": pid, "host": "controller", "user": "ops", "machine_id": "m1"}


def take_lock(path: Path, pid: int) -> None:
    from ansible.module_utils.copilotos_lock import acquire

    acquire(str(path), lock_owner(pid), 3600, check_mode=False)


def test_the_run_lock_is_released_with_the_last_log_line(tmp_path: Path, run_module: ModuleRunner) -> None:
    log, lock = tmp_path / "log", tmp_path / "lock"
    take_lock(lock, 4242)
    result = run_module(remediation_log.main, path=log, entry=entry(1),
                        release_lock={"path": str(lock), "owner": lock_owner(4242)})
    assert result["appended"] and result["lock_released"] is True
    assert "lock_holder" not in result
    assert not lock.exists()
    assert [e["n"] for e in result["history"]] == [1]


def test_a_lock_of_another_run_stays_and_is_named(tmp_path: Path, run_module: ModuleRunner) -> None:
    log, lock = tmp_path / "log", tmp_path / "lock"
    take_lock(lock, 4242)
    before = lock.read_text()
    result = run_module(remediation_log.main, path=log, entry=entry(1),
                        release_lock={"path": str(lock), "owner": lock_owner(4343)})
    assert result["appended"] and result["lock_released"] is False
    assert result["lock_holder"]["pid"] == 4242
    assert lock.read_text() == before


def test_check_mode_releases_nothing(tmp_path: Path, run_module: ModuleRunner) -> None:
    log, lock = tmp_path / "log", tmp_path / "lock"
    take_lock(lock, 4242)
    result = run_module(remediation_log.main, check=True, path=log, entry=entry(1),
                        release_lock={"path": str(lock), "owner": lock_owner(4242)})
    assert result["lock_released"] is False and lock.exists()
    assert not result["appended"] and not log.exists()


def test_a_release_without_its_owner_is_refused(tmp_path: Path, run_module: ModuleRunner) -> None:
    result = run_module(remediation_log.main, path=tmp_path / "log",
                        release_lock={"path": str(tmp_path / "lock")})
    assert result["failed"] and "owner" in result["msg"]
