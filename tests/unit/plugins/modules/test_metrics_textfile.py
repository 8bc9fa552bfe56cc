"""metrics_textfile: atomic 0644 write, changed only when the metrics change, check mode, never a failure."""

from __future__ import annotations

import errno
import json
import stat
from pathlib import Path
from typing import Any

import metrics_textfile
import pytest

from tests.helpers.promtool import check_metrics
from tests.unit.plugins.modules.conftest import ModuleRunner

SECRET = "Sup3r$ecret!pw"


def run(result: str = "remediated", finished: str = "2026-11-29T06:01:00Z", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"host": "lab1", "mode": "remediate", "check_mode": False, "result": result,
                              "compose_project": "copilotos-lab1", "finished": finished, "recreated": True,
                              "findings": [{"code": "CORS_ORIGIN_MISSING", "severity": "critical"}]}
    record.update(extra)
    return record


def log_with(tmp_path: Path, restarts: int) -> Path:
    log = tmp_path / "remediation.log"
    log.write_text("".join(json.dumps({"restarted": True}) + "\n" for _ in range(restarts))
                   + json.dumps({"restarted": False}) + "\n")
    return log


def test_writes_atomically_with_mode_0644(tmp_path: Path, run_module: ModuleRunner) -> None:
    path = tmp_path / "copilotos_lab1.prom"
    result = run_module(metrics_textfile.main, path=path, run=run(), drift=True, log_file=log_with(tmp_path, 3))
    assert result["changed"] and result["written"] and result["recreates_total"] == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copilotos_lab1.prom", "remediation.log"], "no temp left"
    text = path.read_text()
    assert text == result["text"] and "copilotos_api_recreates_total" in text
    proc = check_metrics(text)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_same_state_is_unchanged_even_when_the_run_time_moves(tmp_path: Path, run_module: ModuleRunner) -> None:
    path, log = tmp_path / "m.prom", log_with(tmp_path, 1)
    run_module(metrics_textfile.main, path=path, run=run("compliant"), log_file=log)
    same = run_module(metrics_textfile.main, path=path, run=run("compliant"), log_file=log)
    assert not same["changed"] and not same["written"], "identical text: nothing to write"
    later = run_module(metrics_textfile.main, path=path, run=run("compliant", finished="2026-11-29T07:00:00Z"),
                       log_file=log)
    assert not later["changed"] and later["written"], "only the run time moved: refreshed, not a change"
    assert "1795935600" in path.read_text()
    other = run_module(metrics_textfile.main, path=path, run=run("findings", mode="audit", check_mode=True),
                       log_file=log)
    assert other["changed"]


def test_check_mode_writes_nothing_and_diffs(tmp_path: Path, run_module: ModuleRunner) -> None:
    path = tmp_path / "m.prom"
    result = run_module(metrics_textfile.main, check=True, diff=True, path=path, run=run())
    assert result["changed"] and not result["written"] and not path.exists()
    assert result["diff"]["before"] == "" and "copilotos_findings" in result["diff"]["after"]


def test_the_counter_never_goes_down(tmp_path: Path, run_module: ModuleRunner) -> None:
    path = tmp_path / "m.prom"
    assert run_module(metrics_textfile.main, path=path, run=run(), log_file=log_with(tmp_path, 5))[
        "recreates_total"] == 5
    # The log was truncated by hand: the previous file's value is the floor.
    assert run_module(metrics_textfile.main, path=path, run=run(), log_file=log_with(tmp_path, 1))[
        "recreates_total"] == 5
    # No log at all (a refused run has no plan): previous value plus this run's recreate.
    assert run_module(metrics_textfile.main, path=path, run=run())["recreates_total"] == 6
    # An audit's `recreated` means "would recreate": it never counts.
    audit = run(mode="audit", check_mode=True, result="findings")
    assert run_module(metrics_textfile.main, path=path, run=audit)["recreates_total"] == 6


def test_a_missing_directory_warns_and_is_not_created(tmp_path: Path, run_module: ModuleRunner) -> None:
    path = tmp_path / "no-node-exporter" / "m.prom"
    result = run_module(metrics_textfile.main, path=path, run=run())
    assert not result.get("failed") and not result["written"]
    assert "does not exist" in json.dumps(result["warnings"])
    assert not path.parent.exists()


def test_a_secret_in_the_text_is_never_written(tmp_path: Path, run_module: ModuleRunner) -> None:
    path = tmp_path / "m.prom"
    result = run_module(metrics_textfile.main, path=path, run=run(compose_project="p-%s" % SECRET),
                        secrets=[SECRET])
    assert not result.get("failed") and not result["written"] and not path.exists()
    assert "text" not in result and SECRET not in json.dumps(result)
    assert "would contain a secret" in json.dumps(result["warnings"])


def test_a_write_that_fails_is_a_warning(tmp_path: Path, run_module: ModuleRunner,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(metrics_textfile, "atomic_write", full)
    result = run_module(metrics_textfile.main, path=tmp_path / "m.prom", run=run())
    assert not result.get("failed") and not result["written"] and not result["changed"]
    assert "cannot write" in json.dumps(result["warnings"]) and "No space left" in json.dumps(result["warnings"])


def test_an_unreadable_previous_file_is_a_warning(tmp_path: Path, run_module: ModuleRunner) -> None:
    (tmp_path / "m.prom").mkdir()
    result = run_module(metrics_textfile.main, path=tmp_path / "m.prom", run=run())
    assert not result.get("failed") and not result["written"]
    assert "cannot read" in json.dumps(result["warnings"])
