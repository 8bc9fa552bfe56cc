"""env_file through Ansible, read back by the real Docker Compose.

The module writes nasty values; Compose must read back exactly the same
strings, both in ``docker compose config`` and in a real container's
``Config.Env``. A second run must report no change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
ANSIBLE = ROOT / ".venv" / "bin" / "ansible"

NASTY = {
    "V_DOLLAR": "a$b",
    "V_DOLLAR_END": "cost$",
    "V_DOUBLE_DOLLAR": "$$",
    "V_HOME": "$HOME",
    "V_BRACES": "${X}",
    "V_BRACES_DEFAULT": "${X:-default}",
    "V_SINGLE": "it's",
    "V_DOUBLE": 'say "hi"',
    "V_HASH": "a#b",
    "V_SPACE_HASH": "a #b",
    "V_SPACES": "  lead and trail  ",
    "V_BACKSLASH": "a\\b",
    "V_BACKSLASH_END": "ends\\",
    "V_BACKSLASH_N": "\\n is not a newline",
    "V_BANG": "NotTheProdPass2026!Rotate",
    "V_AT_COLON_SLASH_PCT": "user@host:1/p%41th",
    "V_COMBO": "a$b'c\"d#e f\\g!h@i:j/k%l",
    "V_COMBO2": "'$X' \"${Y}\" \\$ \\\\ #!",
    "V_QUOTE_ONLY": "'",
    "V_DQUOTE_ONLY": '"',
    "V_JSON": '["https://copiloto.saptiva.com"]',
    "V_URL": "redis://:p%40ss%24word@redis:6379/0",
    "V_TAB": "a\tb",
    "V_EMPTY": "",
    "V_UNICODE": "contraseña€",
}
EXISTING = "# kept comment\r\nexport KEEP=1\r\nV_HASH=old # trailing comment\r\n"

pytestmark = pytest.mark.docker


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def run_module(args: dict[str, Any], *extra: str) -> tuple[dict[str, Any], str]:
    """Run env_file through the ansible CLI; return the result and the whole output."""
    cmd = [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m", "env_file", "-a", json.dumps(args)]
    cmd += ["-e", "ansible_python_interpreter=%s" % PYTHON, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    output = proc.stdout + proc.stderr
    start = proc.stdout.find("=> {")
    assert start >= 0, output
    decoder = json.JSONDecoder()
    result, _ = decoder.raw_decode(proc.stdout[start + 3 :])
    return result, output


def compose(project: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.update({"X": "INTERPOLATED-X", "Y": "INTERPOLATED-Y", "HOME": "/interpolated/home"})
    return subprocess.run(
        ["docker", "compose", "-p", project, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def image() -> str:
    if not docker_available():
        pytest.skip("no Docker engine")
    out = subprocess.run(
        ["bash", str(ROOT / "tests" / "fixtures" / "busybox_image.sh")], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_nasty_values_reach_the_container_exactly(image: str, tmp_path: Path) -> None:
    env_path = tmp_path / ".env.production"
    env_path.write_bytes(EXISTING.encode())
    (tmp_path / "compose.yml").write_text(
        "services:\n"
        "  app:\n"
        "    image: %s\n"
        "    env_file: [.env.production]\n"
        "    command: [sleep, '300']\n"
        "    stop_grace_period: 1s\n" % image
    )
    args = {"path": str(env_path), "values": NASTY, "backup": True}
    first, _ = run_module(args)
    assert first["changed"] is True, first
    assert first["added_keys"] == sorted(set(NASTY) - {"V_HASH"})
    assert first["updated_keys"] == ["V_HASH"]
    written = env_path.read_bytes()
    assert written.startswith(b"# kept comment\r\nexport KEEP=1\r\nV_HASH='a#b' # trailing comment\r\n")
    assert b"\n" not in written.replace(b"\r\n", b"")

    second, _ = run_module(args)
    assert second["changed"] is False and second["changed_keys"] == [], second
    assert env_path.read_bytes() == written

    wanted = dict(NASTY, KEEP="1")
    project = "t-envfile-%s" % uuid.uuid4().hex[:10]
    try:
        config = json.loads(compose(project, tmp_path, "config", "--format", "json").stdout)
        # The config output is itself interpolatable: a literal "$" is shown as "$$".
        from_config = {k: v.replace("$$", "$") for k, v in config["services"]["app"]["environment"].items()}
        assert from_config == wanted

        compose(project, tmp_path, "up", "-d", "--wait")
        container = compose(project, tmp_path, "ps", "-q", "app").stdout.strip()
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{json .Config.Env}}", container],
            capture_output=True,
            text=True,
            check=True,
        )
        from_container = dict(item.split("=", 1) for item in json.loads(inspected.stdout))
        from_container.pop("PATH", None)
        assert from_container == wanted
    finally:
        subprocess.run(
            ["docker", "compose", "-p", project, "down", "-t", "1", "--remove-orphans"],
            cwd=tmp_path,
            capture_output=True,
            check=False,
            timeout=180,
        )


def test_no_secret_in_verbose_diff_output(tmp_path: Path) -> None:
    secret = "Zq9!secret$pw'x"
    env_path = tmp_path / "app.env"
    env_path.write_text("REDIS_PASSWORD=old-Zq9-secret\nREDIS_URL=redis://:old-Zq9-secret@redis:6379/0\n")
    args = {
        "path": str(env_path),
        "values": {"REDIS_PASSWORD": secret, "REDIS_URL": "redis://:Zq9%21secret%24pw%27x@redis:6379/0"},
        "secret_keys": ["REDIS_PASSWORD"],
        "backup": True,
    }
    result, output = run_module(args, "--diff", "-vvv")
    assert result["changed"] is True
    for leaked in ("Zq9", "old-Zq9-secret"):
        assert leaked not in output
    assert "REDIS_PASSWORD" in output and "REDIS_URL=redis://:********@redis:6379/0" in output


FAKE_PEM = (
    "-----BEGIN PRIVATE KEY-----\r\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDfakefakefake\r\n"
    "bm90LWEtcmVhbC1rZXktanVzdC10ZXN0LWRhdGEtZm9yLXRoZS1wYXJzZXI=\r\n"
    "-----END PRIVATE KEY-----"
)


def test_bom_and_multi_line_pem_survive_a_remediation(tmp_path: Path) -> None:
    """A file with a BOM, CRLF, a multi-line PEM and a bare KEY: one key changes, every other byte stays.

    Runs the module through Ansible on localhost and reads the result back with
    ``docker compose config`` (no engine, no container needed).
    """
    before = (
        "\ufeff# app settings\r\nJWT_PRIVATE_KEY=\"%s\"\r\nINHERITED_FROM_SHELL\r\nREDIS_PASSWORD=old-pass\r\nTAIL=1"
        % FAKE_PEM
    ).encode()
    env_path = tmp_path / "app.env"
    env_path.write_bytes(before)
    args = {"path": str(env_path), "values": {"REDIS_PASSWORD": "new-fake-pass"}, "secret_keys": ["REDIS_PASSWORD"]}
    result, output = run_module(args)
    assert result["changed"] is True, output
    assert result["updated_keys"] == ["REDIS_PASSWORD"]
    assert env_path.read_bytes() == before.replace(b"REDIS_PASSWORD=old-pass", b"REDIS_PASSWORD=new-fake-pass")
    again, output = run_module(args)
    assert again["changed"] is False, output
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    image: example.invalid/none\n    env_file: [app.env]\n", encoding="utf-8"
    )
    config = json.loads(compose("envbom%s" % uuid.uuid4().hex[:8], tmp_path, "config", "--format", "json").stdout)
    environment = config["services"]["api"]["environment"]
    assert environment["JWT_PRIVATE_KEY"] == FAKE_PEM
    assert environment["REDIS_PASSWORD"] == "new-fake-pass"
    assert environment["TAIL"] == "1"
