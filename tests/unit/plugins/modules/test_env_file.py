"""Module-level tests of library/env_file.py: main() with patched arguments."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import env_file
import pytest
from ansible.module_utils.copilotos_common import MASK

from tests.unit.plugins.modules.conftest import ModuleRunner

SECRET = "S3cure!Redis#pw'q\"x"
OLD_SECRET = "redis_password_change_me"
INCIDENT = (
    "# copilotos production\r\n"
    "REDIS_URL=redis://:%s@redis:6379/0\r\n"
    "REDIS_PASSWORD=%s\r\n"
    "\r\n"
    "export SAPTIVA_TIMEOUT=120  # seconds\r\n"
    "DB_MAX_POOL_SIZE=100\r\n"
    "UNKNOWN_KEY='kept as is'\r\n"
) % (OLD_SECRET, OLD_SECRET)

Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def run(run_module: ModuleRunner) -> Runner:
    def runner(check: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
        return run_module(env_file.main, check, diff, **args)

    return runner


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def incident(tmp_path: Path) -> Path:
    path = tmp_path / ".env.production"
    path.write_bytes(INCIDENT.encode())
    path.chmod(0o640)
    return path


def fix_values() -> dict[str, str]:
    return {
        "REDIS_URL": "redis://:S3cure%21Redis%23pw%27q%22x@redis:6379/0",
        "REDIS_PASSWORD": SECRET,
        "SAPTIVA_TIMEOUT": "120",
        "DB_MAX_POOL_SIZE": "50",
        "CORS_ORIGINS": '["https://copiloto.saptiva.com"]',
    }


def test_changed_then_not_changed(run: Runner, incident: Path) -> None:
    first = run(path=incident, values=fix_values(), secret_keys=["REDIS_PASSWORD"])
    assert first["changed"] is True
    assert first["changed_keys"] == ["CORS_ORIGINS", "DB_MAX_POOL_SIZE", "REDIS_PASSWORD", "REDIS_URL"]
    assert first["added_keys"] == ["CORS_ORIGINS"]
    assert first["updated_keys"] == ["DB_MAX_POOL_SIZE", "REDIS_PASSWORD", "REDIS_URL"]
    assert first["backup_file"] is None
    text = incident.read_bytes().decode()
    assert text == (
        "# copilotos production\r\n"
        "REDIS_URL=redis://:S3cure%21Redis%23pw%27q%22x@redis:6379/0\r\n"
        'REDIS_PASSWORD="S3cure!Redis#pw\'q\\"x"\r\n'
        "\r\n"
        "export SAPTIVA_TIMEOUT=120  # seconds\r\n"
        "DB_MAX_POOL_SIZE=50\r\n"
        "UNKNOWN_KEY='kept as is'\r\n"
        "CORS_ORIGINS='[\"https://copiloto.saptiva.com\"]'\r\n"
    )
    before = sha(incident)
    second = run(path=incident, values=fix_values(), secret_keys=["REDIS_PASSWORD"])
    assert second["changed"] is False and second["changed_keys"] == []
    assert sha(incident) == before


def test_check_mode_writes_nothing(run: Runner, incident: Path) -> None:
    before = sha(incident)
    result = run(check=True, diff=True, path=incident, values=fix_values(), backup=True, mode="0600")
    assert result["changed"] is True
    assert result["changed_keys"] == ["CORS_ORIGINS", "DB_MAX_POOL_SIZE", "REDIS_PASSWORD", "REDIS_URL"]
    assert result["backup_file"] is None
    assert sha(incident) == before
    assert stat.S_IMODE(incident.stat().st_mode) == 0o640
    assert os.listdir(incident.parent) == [incident.name]


def test_check_mode_on_missing_file_creates_nothing(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "new.env"
    result = run(check=True, path=path, values={"A": "1"}, create=True)
    assert result["changed"] is True and result["added_keys"] == ["A"]
    assert not path.exists()


def test_diff_masks_secrets_everywhere(run: Runner, incident: Path) -> None:
    result = run(diff=True, path=incident, values=fix_values(), secret_keys=["REDIS_PASSWORD"])
    dumped = json.dumps(result)
    for leaked in (SECRET, OLD_SECRET, "S3cure", "S3cure%21Redis"):
        assert leaked not in dumped
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert "REDIS_PASSWORD=%s\r\n" % MASK in before and "REDIS_PASSWORD=%s\r\n" % MASK in after
    assert "REDIS_URL=redis://:%s@redis:6379/0" % MASK in after
    assert "export SAPTIVA_TIMEOUT=120  # seconds" in after
    assert "DB_MAX_POOL_SIZE=50" in after and "DB_MAX_POOL_SIZE=100" in before


def test_diff_masks_an_old_secret_reused_in_an_untouched_key(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "reuse.env"
    path.write_text("API_TOKEN=old-token-value\nNOTE=copy old-token-value here\n")
    result = run(diff=True, path=path, values={"API_TOKEN": "new-token-value"}, secret_keys=["API_TOKEN"])
    assert "token-value" not in json.dumps(result)
    assert result["diff"]["after"] == "API_TOKEN=%s\nNOTE=copy %s here\n" % (MASK, MASK)


def test_unparseable_line_fails_with_line_number(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "broken.env"
    path.write_text("A=1\n# ok\nPASSWORD hunter2-secret\nB=2\n")
    before = sha(path)
    result = run(path=path, values={"A": "2"}, backup=True)
    assert result["failed"] is True
    assert "line 3" in result["msg"] and str(path) in result["msg"]
    assert "hunter2" not in json.dumps(result)
    assert sha(path) == before
    assert os.listdir(tmp_path) == ["broken.env"]


def test_backup_is_0600_and_holds_the_old_bytes(run: Runner, incident: Path) -> None:
    result = run(path=incident, values=fix_values(), backup=True)
    backup = Path(result["backup_file"])
    assert re.fullmatch(r"\.env\.production\.\d{8}T\d{6}Z\.bak", backup.name)
    assert backup.parent == incident.parent
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.read_bytes() == INCIDENT.encode()
    again = run(path=incident, values=fix_values(), backup=True)
    assert again["changed"] is False and again["backup_file"] is None


def test_backup_dir(run: Runner, incident: Path, tmp_path: Path) -> None:
    result = run(path=incident, values={"NEW": "x"}, backup=True, backup_dir=tmp_path / "backups")
    assert Path(result["backup_file"]).parent == tmp_path / "backups"


def test_short_values_do_not_mask_the_result_but_secrets_stay_masked(run: Runner, incident: Path) -> None:
    result = run(path=incident, values={"A": "1", "B": "0", "PIN": "2024"}, secret_keys=["PIN"], backup=True)
    assert MASK not in result["backup_file"]
    assert "2024" not in json.dumps(result)


def test_mode_is_kept_and_can_be_set(run: Runner, incident: Path) -> None:
    run(path=incident, values={"A": "1"})
    assert stat.S_IMODE(incident.stat().st_mode) == 0o640
    result = run(path=incident, values={"A": "1"}, mode="0600")
    assert result["changed"] is True and result["changed_keys"] == []
    assert stat.S_IMODE(incident.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_is_kept(run: Runner, incident: Path) -> None:
    os.chown(incident, 4321, 4322)
    run(path=incident, values={"A": "1"})
    assert (incident.stat().st_uid, incident.stat().st_gid) == (4321, 4322)


def test_crlf_and_missing_final_newline(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "crlf.env"
    path.write_bytes(b"A=1\r\nB=2")
    run(path=path, values={"C": "3"})
    assert path.read_bytes() == b"A=1\r\nB=2\r\nC=3\r\n"


def test_absent_and_duplicates(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "dups.env"
    path.write_text("A=1\nOLD=x\nA=2\nOLD=y\n")
    result = run(path=path, values={"A": "3"}, absent=["OLD"])
    assert path.read_text() == "A=1\nA=3\n"
    assert result["duplicates"] == ["A", "OLD"]
    assert result["removed_keys"] == ["OLD"]
    assert "more than once" in json.dumps(result["warnings"]) and "A, OLD" in json.dumps(result["warnings"])


def test_new_file_is_0600(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "new.env"
    result = run(path=path, values={"A": "a b"}, create=True)
    assert result["changed"] is True and result["added_keys"] == ["A"]
    assert path.read_text() == "A='a b'\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_file_without_create_fails(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "missing.env"
    result = run(path=path, values={"A": "1"})
    assert result["failed"] is True and str(path) in result["msg"] and "create" in result["msg"]
    assert not path.exists()


def test_directory_is_refused(run: Runner, tmp_path: Path) -> None:
    result = run(path=tmp_path, values={"A": "1"})
    assert result["failed"] is True and "is a directory" in result["msg"]


def test_symlink_is_refused(run: Runner, incident: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.env"
    link.symlink_to(incident)
    before = sha(incident)
    result = run(path=link, values={"A": "1"})
    assert result["failed"] is True
    assert "symbolic link" in result["msg"] and str(incident) in result["msg"]
    assert sha(incident) == before and link.is_symlink()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"FLAG": True}, "values.FLAG must be a string"),
        ({"NOTHING": None}, "values.NOTHING must be a string"),
        ({"MULTI_PASSWORD": "line1\nhidden-tail"}, "value of MULTI_PASSWORD contains a line break"),
        ({"1BAD": "x"}, "invalid variable name"),
    ],
)
def test_bad_values_fail_without_writing(run: Runner, incident: Path, values: dict[str, Any], message: str) -> None:
    before = sha(incident)
    result = run(path=incident, values=values)
    assert result["failed"] is True and message in result["msg"]
    assert "hidden-tail" not in json.dumps(result)
    assert sha(incident) == before


def test_numbers_are_written_as_strings(run: Runner, incident: Path) -> None:
    result = run(path=incident, values={"DB_MAX_POOL_SIZE": 100, "RATIO": 0.5})
    assert result["changed_keys"] == ["RATIO"]
    assert incident.read_bytes().endswith(b"RATIO=0.5\r\n")


def test_not_utf8_fails(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "latin1.env"
    path.write_bytes(b"A=caf\xe9\n")
    result = run(path=path, values={"A": "x"})
    assert result["failed"] is True and "not UTF-8" in result["msg"]


def test_diff_shows_plain_values_and_masks_secrets(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("CORS_ORIGINS=[]\nDB_MAX_POOL_SIZE=100\n")
    cors = '["https://copiloto.saptiva.com","https://www.copiloto.saptiva.com"]'
    secret = "Sh0rt!pw-for-diff"
    result = run(
        path=path,
        check=True,
        diff=True,
        values={
            "CORS_ORIGINS": cors,
            "DB_MAX_POOL_SIZE": "50",
            "REDIS_PASSWORD": secret,
            "REDIS_URL": "redis://:%s@redis:6379/0" % "Sh0rt%21pw-for-diff",
        },
    )
    after = result["diff"]["after"]
    assert cors in after and "DB_MAX_POOL_SIZE=50" in after
    text = json.dumps(result)
    assert secret not in text and "Sh0rt%21pw-for-diff" not in text
    assert result["changed_keys"] == ["CORS_ORIGINS", "DB_MAX_POOL_SIZE", "REDIS_PASSWORD", "REDIS_URL"]
