"""scripts/watch.sh (what make watch runs) without a usable Java: it refuses, says why, starts nothing.

ansible-rulebook's rules engine (drools_jpy) needs a Java 17 runtime. The
script is run the way make runs it (its own shebang) with a PATH that has no
``java`` (a directory holding only the few tools the script needs), no
``JAVA_HOME`` or one pointing nowhere, and an empty JDK directory instead of
/usr/lib/jvm (``COPILOTOS_WATCH_JVM_DIR``), so the machine's own Java 17 is
not found. No Docker is needed: the refusal comes before anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "watch.sh"
TOOLS = ("bash", "env", "dirname", "sed", "head")  # all the script needs up to its Java check


def _session_processes(sid: int) -> list[str]:
    """Command lines of the processes still in session ``sid``."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == sid:
            left.append(cmdline)
    return left


def _mentioning(text: str) -> list[str]:
    """Command lines of any process that mentions ``text`` (this run's state directory)."""
    found = []
    for cmdline_file in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = cmdline_file.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and str(os.getpid()) != cmdline_file.parent.name:
            found.append(cmdline)
    return found


@dataclass
class Sandbox:
    env: dict[str, str]
    tmp: Path
    bin: Path


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        where = shutil.which(tool)
        assert where, tool
        (bin_dir / tool).symlink_to(where)
    (tmp_path / "jvm").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env.update(PATH=str(bin_dir), COPILOTOS_WATCH_JVM_DIR=str(tmp_path / "jvm"),
               COPILOTOS_WATCH_DIR=str(tmp_path / "state"), COPILOTOS_WATCH_WINDOW="1 minute")
    # Neither this PATH nor the .venv/bin the script puts first has a java.
    assert shutil.which("java", path="%s:%s" % (ROOT / ".venv" / "bin", bin_dir)) is None
    return Sandbox(env, tmp_path, bin_dir)


def run_watch(sandbox: Sandbox, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(sandbox.env, **env)
    proc = subprocess.Popen([str(SCRIPT), str(ROOT / "inventory" / "lab")], cwd=sandbox.tmp, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Nothing was started: no process of its session is left, none mentions
    # its state directory (ansible-playbook and ansible-rulebook would), and
    # the state directory itself was never created.
    state = str(environ["COPILOTOS_WATCH_DIR"])
    assert _session_processes(proc.pid) == []
    assert _mentioning(state) == []
    assert not Path(state).exists()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_refused(result: subprocess.CompletedProcess[str], problem: str) -> None:
    assert result.returncode == 1, result
    assert result.stdout == ""
    err = result.stderr.strip()
    assert err.startswith("watch: ") and len(err.splitlines()) == 1, err
    assert problem in err, err
    assert "ansible-rulebook cannot start its rules engine without Java 17" in err
    assert "apt-get install openjdk-17-jre-headless (Debian/Ubuntu, as root)" in err
    assert "scripts/setup-toolchain.sh" in err
    assert "Nothing was started" in err and "docs/reports.md" in err
    assert "Traceback" not in err


def test_no_java_anywhere_is_refused_before_anything_starts(sandbox: Sandbox) -> None:
    result = run_watch(sandbox)
    assert_refused(result, "Java 17 not found (JAVA_HOME unset, no java on PATH, no %s/java-17-openjdk-*)"
                   % (sandbox.tmp / "jvm"))


def test_java_home_pointing_nowhere_is_refused(sandbox: Sandbox) -> None:
    nowhere = sandbox.tmp / "no-such-jdk"
    result = run_watch(sandbox, JAVA_HOME=str(nowhere))
    assert_refused(result, "JAVA_HOME is %s but %s/bin/java is missing (Java 17 not found)" % (nowhere, nowhere))


def _fake_java(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # What `java -XshowSettings:properties -version` prints (to stderr), cut short.
    path.write_text("#!/bin/sh\necho 'Property settings:' >&2\necho '    java.version = %s' >&2\n" % version)
    path.chmod(0o755)


def test_java_older_than_17_is_refused(sandbox: Sandbox) -> None:
    _fake_java(sandbox.bin / "java", "11.0.22")
    result = run_watch(sandbox)
    assert_refused(result, "%s/java is Java 11.0.22, not 17 or later" % sandbox.bin)


def test_a_jdk_17_under_the_jvm_dir_is_found_by_itself(sandbox: Sandbox) -> None:
    # The control: with a JDK 17 where /usr/lib/jvm would be, the Java check
    # passes; an invalid window then stops the script at its next check,
    # still before anything starts.
    _fake_java(sandbox.tmp / "jvm" / "java-17-openjdk-amd64" / "bin" / "java", "17.0.15")
    result = run_watch(sandbox, COPILOTOS_WATCH_WINDOW="soon")
    assert result.returncode == 1, result
    assert "Java" not in result.stderr
    assert "COPILOTOS_WATCH_WINDOW must read like '10 minutes', got 'soon'" in result.stderr
