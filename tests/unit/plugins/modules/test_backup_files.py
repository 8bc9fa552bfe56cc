"""backup_files: timestamped 0700 directory, 0600 copies, retention that only touches backup directories."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import backup_files
import pytest

from tests.unit.plugins.modules.conftest import ModuleRunner

FILES = [".env.production", "docker-compose.yml", "docker-compose.override.yml"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env.production").write_bytes(b"REDIS_PASSWORD='s3cret'\r\nA=1\n")
    (project / ".env.production").chmod(0o644)
    (project / "docker-compose.yml").write_text("services: {}\n")
    return project


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_copies_the_existing_files_privately(project: Path, run_module: ModuleRunner) -> None:
    root = project / ".copilotos-backups"
    result = run_module(backup_files.main, project_dir=project, files=FILES, root=root)
    assert result["changed"]
    run_dir = Path(result["path"])
    assert run_dir.parent == root and backup_files.STAMP.match(run_dir.name)
    assert result["saved"] == [".env.production", "docker-compose.yml"], "a missing file is skipped"
    assert mode(root) == 0o700 and mode(run_dir) == 0o700
    for name in result["saved"]:
        assert (run_dir / name).read_bytes() == (project / name).read_bytes()
        assert mode(run_dir / name) == 0o600
    assert sorted(p.name for p in run_dir.iterdir()) == result["saved"]


def test_a_loose_root_is_tightened(project: Path, run_module: ModuleRunner) -> None:
    root = project / "backups"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    run_module(backup_files.main, project_dir=project, files=FILES, root=root)
    assert mode(root) == 0o700


def test_retention_keeps_the_newest_and_never_touches_other_directories(
    project: Path, run_module: ModuleRunner
) -> None:
    root = project / "backups"
    old = ["20250101T0000000000%02dZ" % n for n in range(12)]
    for name in old:
        (root / name).mkdir(parents=True)
    (root / "keep-me").mkdir()
    (root / "notes.txt").write_text("operator's file\n")
    result = run_module(backup_files.main, project_dir=project, files=FILES, root=root, keep=3)
    remaining = sorted(p.name for p in root.iterdir() if backup_files.STAMP.match(p.name))
    assert remaining == [*old[-2:], Path(result["path"]).name]
    assert result["removed"] == old[:10]
    assert (root / "keep-me").is_dir() and (root / "notes.txt").read_text() == "operator's file\n"


def test_check_mode_writes_nothing(project: Path, run_module: ModuleRunner) -> None:
    root = project / "backups"
    result = run_module(backup_files.main, check=True, project_dir=project, files=FILES, root=root)
    assert result["changed"] and result["saved"] == [".env.production", "docker-compose.yml"]
    assert not root.exists()


@pytest.mark.parametrize("kind", ["symlink", "directory", "escape"])
def test_refuses_what_is_not_a_project_file(project: Path, tmp_path: Path, run_module: ModuleRunner, kind: str) -> None:
    root = project / "backups"
    if kind == "symlink":
        (tmp_path / "outside").write_text("x\n")
        (project / "docker-compose.override.yml").symlink_to(tmp_path / "outside")
        files, says = FILES, "is not a regular file"
    elif kind == "directory":
        (project / "docker-compose.override.yml").mkdir()
        files, says = FILES, "is not a regular file"
    else:
        files, says = ["../outside"], "is outside the project directory"
    result = run_module(backup_files.main, project_dir=project, files=files, root=root)
    assert result["failed"] and says in result["msg"], result
    assert not root.exists(), "nothing may be created when the input is refused"


def test_a_failed_copy_leaves_no_partial_backup(
    project: Path, run_module: ModuleRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project / "backups"
    calls = []

    def full(path: str, data: bytes, mode: int = 0o600) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        Path(path).write_bytes(data)

    monkeypatch.setattr(backup_files, "atomic_write", full)
    result = run_module(backup_files.main, project_dir=project, files=FILES, root=root)
    assert result["failed"]
    assert result["msg"] == "cannot back up to %s: No space left on device" % calls[1]
    assert list(root.iterdir()) == [], "the partial run directory was left behind"


def test_keep_must_leave_this_runs_backup(project: Path, run_module: ModuleRunner) -> None:
    result = run_module(backup_files.main, project_dir=project, files=FILES, root=project / "b", keep=0)
    assert result["failed"] and "keep must be at least 1" in result["msg"]
