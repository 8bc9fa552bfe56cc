"""SSH lab targets: real Debian sshd processes on loopback addresses of this machine.

Why loopback and not a container of the lab image: the targets must run the
toolkit's modules with Pythons other than the controller's (pyenv's builds on
this machine) and drive this machine's Docker engine, as a server runs its
own Compose stack. An sshd per target on 127.0.0.x gives every target its own
address, port, host key and process (so a test can drop one target's
connections or make it unreachable) without a Docker socket inside a
container or a Python build per image. The price: the targets share this
machine's filesystem, so each target has its own project directory, venv and
Compose project, and the tests check file owners and paths instead of
relying on separate disks.

What a target looks like, as ``inventory/production/`` expects:

- login ``copilotos-deploy`` with key authentication only; ``sudo`` with its
  password for ``become`` (a second user, ``copilotos-nosudo``, has a key and
  no sudo rights, for the become faults);
- its own virtualenv, built by ``playbooks/bootstrap.yml`` from the target's
  Python;
- the project directory and env file owned by root, mode 0600: only
  ``become`` reads them.

The sshd processes are started and stopped here, by PID. The users and the
sudoers drop-in are machine setup, made idempotently (root only).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY_USER = "copilotos-deploy"
NOSUDO_USER = "copilotos-nosudo"
SUDOERS = Path("/etc/sudoers.d/copilotos-lab")
# sshd refuses authorized_keys files under a world-writable directory (/tmp):
# the lab's sshd state lives under /run, root-owned.
STATE_ROOT = Path("/run/copilotos-lab-ssh")
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def unavailable() -> str | None:
    """Why SSH targets cannot run here, or None."""
    if os.geteuid() != 0:
        return "SSH lab targets need root (users, sudoers, sshd)"
    for tool in (SSHD, "ssh-keygen", "sudo", "useradd"):
        if not (Path(tool).exists() or shutil.which(tool)):
            return "%s is missing (scripts/setup-toolchain.sh installs openssh-server and sudo)" % tool
    return None


def target_pythons(wanted: list[str], controller: str) -> list[tuple[str, Path]]:
    """The pyenv Pythons among ``wanted`` (major.minor) that exist here, newest patch first.

    A missing version is left out (the caller decides whether enough remain);
    the controller's own major.minor never counts as a target Python.
    """
    found = []
    versions = PYENV_ROOT / "versions"
    for minor in wanted:
        if minor == controller:
            continue
        def patch(path: Path) -> list[int]:
            return [int(x) for x in path.name.split(".") if x.isdigit()]
        candidates = sorted(versions.glob(minor + ".*"), key=patch, reverse=True) if versions.is_dir() else []
        for cand in candidates:
            python = cand / "bin" / "python3"
            if python.exists():
                found.append((cand.name, python))
                break
    return found


def _run(*args: str, data: str | None = None) -> None:
    done = subprocess.run(list(args), input=data, capture_output=True, text=True, check=False)
    assert done.returncode == 0, "%s: %s" % (" ".join(args[:2]), done.stderr[-500:])


def ensure_users(password: str) -> None:
    """The login users and the sudo rule, idempotently; the deploy password is set for this session."""
    for user in (DEPLOY_USER, NOSUDO_USER):
        if subprocess.run(["id", user], capture_output=True, check=False).returncode != 0:
            _run("useradd", "--create-home", "--shell", "/bin/bash", user)
    # A password each: sudo asks for the deploy user's; sshd refuses locked
    # accounts even for key authentication. Password logins stay off in sshd.
    _run("chpasswd", data="%s:%s\n%s:%s\n" % (DEPLOY_USER, password, NOSUDO_USER, secrets.token_urlsafe(18)))
    rule = "# copilotos-remediation SSH lab (tests/helpers/ssh.py)\n%s ALL=(ALL:ALL) ALL\n" % DEPLOY_USER
    if not SUDOERS.exists() or SUDOERS.read_text() != rule:
        tmp = SUDOERS.with_name(".copilotos-lab.tmp")
        tmp.write_text(rule)
        tmp.chmod(0o440)
        _run("visudo", "-cf", str(tmp))
        tmp.replace(SUDOERS)


@dataclass
class SshTarget:
    """One sshd: its address, port, host key and process."""

    name: str
    address: str
    port: int
    state: Path
    pid: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.state / "sshd.log"

    def known_hosts_line(self) -> str:
        key = (self.state / "host_ed25519_key.pub").read_text().split()
        return "[%s]:%d %s %s\n" % (self.address, self.port, key[0], key[1])

    def sessions(self) -> list[int]:
        """PIDs of this sshd's connection processes (its children)."""
        if self.pid is None:
            return []
        done = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False)
        return [int(p) for p in done.stdout.split()]

    def drop_connections(self) -> int:
        """Kill every open connection of this target, as a network cut would; the listener stays."""
        pids = self.sessions()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class SshLab:
    """A set of SSH targets and the controller's key and known_hosts for them."""

    root: Path
    key: Path
    known_hosts: Path
    sudo_password: str
    targets: dict[str, SshTarget] = field(default_factory=dict)

    def add(self, name: str, address: str) -> SshTarget:
        state = self.root / name
        state.mkdir(mode=0o755)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "copilotos-lab-" + name,
             "-f", str(state / "host_ed25519_key"))
        target = SshTarget(name, address, free_port(address), state)
        (state / "sshd_config").write_text("\n".join([
            "ListenAddress %s:%d" % (address, target.port),
            "HostKey %s" % (state / "host_ed25519_key"),
            "PidFile %s" % (state / "sshd.pid"),
            "AuthorizedKeysFile %s/%%u" % (self.root / "authorized_keys"),
            "AllowUsers %s %s" % (DEPLOY_USER, NOSUDO_USER),
            "PermitRootLogin no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes yes",
            "MaxStartups 50:30:100",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "",
        ]))
        self.targets[name] = target
        self.start(target)
        with self.known_hosts.open("a") as handle:
            handle.write(target.known_hosts_line())
        return target

    def start(self, target: SshTarget) -> None:
        assert target.pid is None, "%s already runs (pid %s)" % (target.name, target.pid)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        target.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(target.state / "sshd_config"), "-E", str(target.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target.pid = target.process.pid
        deadline = time.monotonic() + 15
        while not _listening(target.address, target.port):
            if target.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("sshd for %s did not listen: %s" % (
                    target.name, target.log.read_text()[-1000:] if target.log.exists() else "no log"))
            time.sleep(0.1)

    def stop(self, target: SshTarget) -> None:
        """Stop the listener and every connection it serves, by PID."""
        if target.pid is None or target.process is None:
            return
        target.drop_connections()
        target.process.terminate()
        try:
            target.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            target.process.kill()
            target.process.wait(timeout=10)
        target.pid = target.process = None

    def stop_all(self) -> None:
        for target in self.targets.values():
            self.stop(target)

    def host_vars(self, target: SshTarget, user: str = DEPLOY_USER) -> dict[str, object]:
        """Connection variables for one target, as an operator's inventory would set them."""
        return {
            "ansible_connection": "ssh",
            "ansible_host": target.address,
            "ansible_port": target.port,
            "ansible_user": user,
            "ansible_ssh_private_key_file": str(self.key),
            # Pinned host keys, strict checking; a control socket per test
            # session, short-lived, so no ssh master outlives the targets.
            "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes "
                                       "-o ControlMaster=auto -o ControlPersist=30s -o ControlPath=%s/cm-%%C"
                                       % (self.known_hosts, self.root / "cm"),
            "ansible_become": True,
            "ansible_become_method": "ansible.builtin.sudo",
        }


@contextmanager
def ssh_lab(work: Path) -> Iterator[SshLab]:
    """Users, a controller key and an empty set of targets; every sshd stopped at the end."""
    reason = unavailable()
    assert reason is None, reason
    STATE_ROOT.mkdir(mode=0o755, exist_ok=True)
    root = STATE_ROOT / ("lab-%d-%s" % (os.getpid(), secrets.token_hex(3)))
    root.mkdir(mode=0o755)
    (root / "cm").mkdir(mode=0o700)
    keys = root / "authorized_keys"
    keys.mkdir(mode=0o755)
    key = work / "id_ed25519"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "copilotos-lab-controller", "-f", str(key))
    public = (work / "id_ed25519.pub").read_text()
    for user in (DEPLOY_USER, NOSUDO_USER):
        (keys / user).write_text(public)
        (keys / user).chmod(0o644)
    password = secrets.token_urlsafe(18)
    ensure_users(password)
    lab = SshLab(root, key, work / "known_hosts", password)
    lab.known_hosts.write_text("")
    try:
        yield lab
    finally:
        lab.stop_all()
        shutil.rmtree(root, ignore_errors=True)
