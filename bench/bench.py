"""Benchmark of remediate.yml on the lab, against its baselines (issues 7 and 13).

Run through ``bench/run``. Everything is measured in one run, on lab hosts
(one Compose project each, side by side on this machine's engine), with
medians over ``BENCH_REPEATS`` runs (default 3):

1. no-op ``remediate.yml`` on a compliant host vs ``ansible -m ping``;
2. ``remediate.yml --check`` (the audit) on one incident host;
3. time to repair (incident -> verified healthy) vs ``bench/runbook.sh``,
   bare and with the seed's own verification commands (``RUNBOOK_CHECKS=1``:
   redis-cli PING, a Mongo ping, a CORS curl per origin, 50 concurrent curls,
   docker logs | grep), the fair baseline for a proven repair. The repair's
   log watch window (``copilotos_verify_watch_seconds``) is a wait, not work:
   it is shown apart and left out of the ratio;
4. api unavailability during each repair, seen by a 20 Hz prober, vs the
   floor: the api container's own ``docker stop`` + ``docker start``;
5. fleets of 1, 2, 4 and 8 hosts, audit and remediation, with the CPU
   seconds of each run (the controller and, on the lab's local connection,
   the modules: the wait4 rusage of the whole process tree) per host;
6. controller peak memory;

plus the speed-up candidates (pipelining off, the mitogen strategy) and a
per-task profile. Writes bench/results.md and bench/fleet.png.

Measures 1 to 4 run with only the first host's lab up, as on a real target
that runs its own stack; the other labs start for the fleet measures.

Rate limit: the lab api limits requests per client IP, and everything from
this machine arrives from the Docker bridge gateway. The prober alone sends
1200 requests a minute, so the bench inventory sets
copilotos_env_rate_limit_calls (and the runbook RATE_LIMIT) to
100000, and a 429 counts as "answered" (the incident's limit, the api's default of 100 calls a minute, is
still live before the repair).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.lab import LabHost, make_inventory  # noqa: E402

BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
RATE_LIMIT = 100000
PROBE_HZ = 20
# BENCH_FLEET=1,2 for a quick try of the bench itself (the targets need 8).
FLEET_SIZES = tuple(int(n) for n in os.environ.get("BENCH_FLEET", "1,2,4,8").split(","))
TOP = FLEET_SIZES[-1]
# The verification's log watch window, from the role's defaults (the bench inventory keeps it).
WATCH_SECONDS = float(
    yaml.safe_load((ROOT / "roles/copilotos_verify/defaults/main.yml").read_text())["copilotos_verify_watch_seconds"]
)


# --------------------------------------------------------------------------- processes and memory


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry))
    return children


def _rss_kb(pid: int) -> int:
    try:
        with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Peak of the summed RSS of a process and all its descendants (sampled at 5 Hz)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.2):
            children = _children_map()
            todo, total = [self.pid], 0
            while todo:
                pid = todo.pop()
                total += _rss_kb(pid)
                todo.extend(children.get(pid, []))
            self.peak_kb = max(self.peak_kb, total)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Measured:
    label: str
    wall: float
    rc: int
    maxrss_kb: int  # largest single process of the tree (wait4 rusage)
    tree_kb: int  # peak summed RSS of the tree
    log: Path
    profile: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_s: float = 0.0  # user + system seconds of the whole tree (wait4 rusage of the reaped children)


class Bench:
    def __init__(self, work: Path, repeats: int, mitogen: bool) -> None:
        self.work = work
        self.repeats = repeats
        self.mitogen = mitogen
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.counter = 0
        self.runs: list[Measured] = []
        self.env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_FORCE_COLOR="0",
            PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "/usr/bin:/bin")),
            ANSIBLE_CALLBACK_PLUGINS="%s:%s" % (ROOT / "plugins" / "callback", BENCH / "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="copilotos_summary,bench_profile",
        )
        self.inventory: Path | None = None
        self.hosts: list[LabHost] = []
        self.incident: dict[str, bytes] = {}
        self.retried: list[str] = []

    # -- running things
    def run(
        self, label: str, cmd: list[str], env: dict[str, str] | None = None, check: bool = True, timeout: float = 1200
    ) -> Measured:
        self.counter += 1
        log = self.logs / ("%03d-%s.log" % (self.counter, re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")))
        profile_file = log.with_suffix(".profile.json")
        full_env = dict(self.env, BENCH_PROFILE_FILE=str(profile_file))
        full_env.update(env or {})
        with open(log, "wb") as handle:
            handle.write(("$ %s\n" % " ".join(cmd)).encode())
            handle.flush()
            start = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT)
            sampler = TreeMemory(proc.pid)
            sampler.start()
            deadline = start + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                time.sleep(0.02)
            wall = time.monotonic() - start
            sampler.stop()
            proc.returncode = os.waitstatus_to_exitcode(status)
        profile = json.loads(profile_file.read_text()) if profile_file.exists() else None
        measured = Measured(label, wall, proc.returncode, usage.ru_maxrss, sampler.peak_kb, log, profile,
                            cpu_s=usage.ru_utime + usage.ru_stime)
        self.runs.append(measured)
        print("  %-44s %7.2f s  rc=%d" % (label, wall, proc.returncode), flush=True)
        if check and proc.returncode != 0:
            tail = log.read_text(errors="replace")[-4000:]
            raise SystemExit("bench: %s failed (rc=%d), log %s\n%s" % (label, proc.returncode, log, tail))
        return measured

    def playbook(
        self, label: str, playbook: str, hosts: list[LabHost], *args: str, retry: bool = True, **kw: Any
    ) -> Measured:
        """Run a playbook on some lab hosts. A failed run is retried once (after a reset of a
        remediation's hosts) and listed in the results: on a busy machine a lab stand-in can miss its
        health checks, which the remediation rightly refuses."""
        assert self.inventory is not None
        limit = ",".join(h.name for h in hosts)
        cmd = ["ansible-playbook", "-i", str(self.inventory), playbook, "--limit", limit, *args]
        if not retry or kw.get("check") is False:
            return self.run(label, cmd, **kw)
        first = self.run(label, cmd, check=False, **kw)
        if first.rc == 0:
            return first
        self.runs.remove(first)
        self.retried.append("%s (rc=%d, %s)" % (label, first.rc, failure_line(first.log)))
        if playbook == "remediate.yml" and "--check" not in args:
            self.reset(hosts)
        return self.run(label + " (retry)", cmd, **kw)

    def ping(self, hosts: list[LabHost]) -> Measured:
        assert self.inventory is not None
        limit = ",".join(h.name for h in hosts)
        return self.run(
            "ansible -m ping",
            ["ansible", "-i", str(self.inventory), "copilotos", "--limit", limit, "-m", "ansible.builtin.ping"],
        )

    # -- the lab
    def lab_inventory(self, count: int) -> None:
        """The bench inventory: ``count`` lab hosts, none started yet."""
        names = ["bench%d" % (i + 1) for i in range(count)]
        self.inventory, self.hosts = make_inventory(
            self.work,
            names,
            extra_group_vars={
                "copilotos_report_dir": str(self.work / "reports"),
                "copilotos_env_rate_limit_calls": RATE_LIMIT,
            },
        )

    def lab_up(self, hosts: list[LabHost]) -> None:
        """Start these hosts' labs (those already up are left alone) and keep their incident files.

        The single-host measures run with only their lab up: a target host runs
        its own stack, not seven idle neighbours' health checks as well.
        """
        label = "lab up (%d hosts)" % len(hosts)
        up = self.playbook(label, "playbooks/lab.yml", hosts, check=False)
        if up.rc != 0:  # a stand-in can miss its first health checks on a busy machine
            self.playbook("lab up again", "playbooks/lab.yml", hosts)
        self.incident.update({h.name: h.env_file.read_bytes() for h in hosts if h.name not in self.incident})

    def lab_down(self) -> None:
        if self.inventory is not None:
            self.playbook("lab down", "playbooks/lab.yml", self.hosts, "-e", "lab_state=absent", check=False)

    def secret(self, host: LabHost) -> str:
        assert self.inventory is not None
        import yaml

        data = yaml.safe_load((self.inventory / "host_vars" / host.name / "lab_secrets.yml").read_text())
        return str(data["copilotos_redis_password"])

    def reset(self, hosts: list[LabHost]) -> None:
        """Back to the incident: the lab's env file, no override, the api recreated on that config."""
        start = time.monotonic()
        for host in hosts:
            (host.project_dir / "docker-compose.override.yml").unlink(missing_ok=True)
            host.env_file.write_bytes(self.incident[host.name])
            host.env_file.chmod(0o600)
        threads = [threading.Thread(target=self._recreate_api, args=(h,)) for h in hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("  %-44s %7.2f s" % ("reset %d host(s) to the incident" % len(hosts), time.monotonic() - start))

    def _recreate_api(self, host: LabHost) -> None:
        subprocess.run(
            [
                "docker",
                "compose",
                "--project-name",
                host.project,
                "--project-directory",
                str(host.project_dir),
                "up",
                "-d",
                "--no-deps",
                "--wait",
                "--wait-timeout",
                "180",
                "api",
            ],
            check=True,
            capture_output=True,
            env=self.env,
        )

    def wait_healthy(self, host: LabHost, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe(host.port) == 200:
                return
            time.sleep(0.1)
        raise SystemExit("bench: %s api not healthy" % host.name)


# --------------------------------------------------------------------------- the prober


PROBE_TIMEOUT = 1.0


def probe(port: int, timeout: float = PROBE_TIMEOUT) -> int:
    """HTTP status of /api/health; 0 when the connection was refused or reset, -1 on a timeout."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/health" % port, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except TimeoutError:
        return -1
    except urllib.error.URLError as exc:
        return -1 if isinstance(exc.reason, TimeoutError) else 0
    except (OSError, ValueError):
        return 0


def _windows(samples: list[tuple[float, bool]]) -> float:
    """Seconds from each failed request to the next answered one, summed."""
    down, start = 0.0, None
    for at, ok in samples:
        if not ok and start is None:
            start = at
        elif ok and start is not None:
            down += at - start
            start = None
    if start is not None and samples:
        down += samples[-1][0] - start
    return down


class Prober(threading.Thread):
    """Health requests at PROBE_HZ. Unavailable: refused or reset, a 5xx, or no answer within
    PROBE_TIMEOUT (a 429 is an answer). Refusals and timeouts are also counted apart: a slow answer
    on a busy machine is not the same as a stopped api."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        period = 1.0 / PROBE_HZ
        next_at = time.monotonic()
        while not self._halt.is_set():
            at = time.monotonic()
            self.samples.append((at, probe(self.port)))
            next_at += period
            self._halt.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - period)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        ok = [(at, 0 < status < 500) for at, status in self.samples]
        hard = [(at, status != 0 and not 500 <= status < 600) for at, status in self.samples]
        return {
            "requests": len(self.samples),
            "failed": sum(1 for _, good in ok if not good),
            "refused": sum(1 for _, status in self.samples if status == 0),
            "timeouts": sum(1 for _, status in self.samples if status == -1),
            "down_s": _windows(ok),
            "refused_s": _windows(hard),
        }


# --------------------------------------------------------------------------- helpers


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = "%.0f GiB" % (kb / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    core = subprocess.run(
        [str(VENV_BIN / "ansible"), "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    return {
        "cpus": str(os.cpu_count()),
        "model": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": docker,
        "ansible": core,
        "host": platform.node(),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def task_profile(runs: list[Measured]) -> list[tuple[str, str, float, int]]:
    """Per task name: median over runs of the summed duration on all hosts, and how often it ran."""
    per_run: dict[tuple[str, str], list[float]] = defaultdict(list)
    counts: dict[tuple[str, str], int] = {}
    for run in runs:
        sums: dict[tuple[str, str], float] = defaultdict(float)
        n: dict[tuple[str, str], int] = defaultdict(int)
        for task in (run.profile or {}).get("tasks", []):
            if task.get("end") is None:
                continue
            key = (task["task"], task["action"])
            sums[key] += task["end"] - task["start"]
            n[key] += 1
        for key, value in sums.items():
            per_run[key].append(value)
            counts[key] = n[key]
    rows = [(name, action, median(values), counts[(name, action)]) for (name, action), values in per_run.items()]
    return sorted(rows, key=lambda row: -row[2])


def module_calls(run: Measured) -> tuple[int, float, int, float]:
    """Executed module calls (not skipped, not controller-only actions) and their time; the rest."""
    local_actions = {
        "set_fact",
        "ansible.builtin.set_fact",
        "assert",
        "ansible.builtin.assert",
        "fail",
        "ansible.builtin.fail",
        "debug",
        "ansible.builtin.debug",
        "include_role",
        "ansible.builtin.include_role",
        "validate_argument_spec",
        "ansible.builtin.validate_argument_spec",
        "set_stats",
        "ansible.builtin.set_stats",
        "meta",
        "ansible.builtin.meta",
        # The project's controller-only action plugins (no module goes to a target).
        "copilotos_plan",
        "copilotos_report",
    }
    mods = other = 0
    mods_t = other_t = 0.0
    for task in (run.profile or {}).get("tasks", []):
        if task.get("end") is None or task.get("status") == "skipped":
            continue
        duration = task["end"] - task["start"]
        if task["action"] in local_actions:
            other += 1
            other_t += duration
        else:
            mods += 1
            mods_t += duration
    return mods, mods_t, other, other_t


def batch_ends(run: Measured) -> list[float]:
    """Seconds from the start of the run to the end of each batch of the first play."""
    profile = run.profile or {}
    plays = [p for p in profile.get("plays", []) if p["name"] == "Remediate | copilotos configuration"]
    ends = []
    for index in range(len(plays)):
        tasks = [t for t in profile.get("tasks", []) if t.get("play") == index and t.get("end") is not None]
        if tasks:
            ends.append(max(t["end"] for t in tasks))
    return ends


# --------------------------------------------------------------------------- the plot


def plot(path: Path, fleet: dict[str, dict[int, float]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    styles = {
        "audit (--check, one batch)": "o-",
        "remediate (one batch)": "s-",
        "remediate (serial 1, rolling)": "D-",
        "rolling, projected": "D:",
        "runbook x N (sequential)": "x--",
    }
    for name, points in fleet.items():
        sizes = sorted(points)
        ax.plot(sizes, [points[s] for s in sizes], styles.get(name, "o-"), label=name)
    ax.set_xlabel("lab hosts")
    ax.set_ylabel("wall time (s)")
    ax.set_xticks(list(FLEET_SIZES))
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "3")))
    parser.add_argument("--no-mitogen", action="store_true", default=os.environ.get("BENCH_MITOGEN", "1") == "0")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, profiles, reports)")
    parser.add_argument("--out", default=str(BENCH))
    args = parser.parse_args()
    out = Path(args.out)
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    load_start = loadavg()
    work = Path(tempfile.mkdtemp(prefix="copilotos-bench-"))
    bench = Bench(work, args.repeats, not args.no_mitogen)
    reps = range(args.repeats)
    print("bench: work directory %s, %d repeats, load %s" % (work, args.repeats, load_start), flush=True)
    res: dict[str, Any] = {}
    try:
        bench.lab_inventory(max(FLEET_SIZES))
        hosts = bench.hosts
        one = hosts[:1]
        # Sections 1 to 4 on one host with only its own lab running; the fleet after.
        bench.lab_up(one)

        print("== 1/2: ping baseline and the audit of one host", flush=True)
        ping = [bench.ping(one) for _ in reps]
        audit1 = [
            bench.playbook("audit 1 host", "remediate.yml", one, "--check", "-e", "copilotos_audit_fail_on=never")
            for _ in reps
        ]

        print("== 3/4: time to repair and unavailability: remediate.yml", flush=True)
        repair: list[Measured] = []
        for _ in reps:
            bench.reset(one)
            prober = Prober(one[0].port)
            prober.start()
            measured = bench.playbook("remediate 1 host", "remediate.yml", one, retry=False, check=False)
            measured.extra = prober.stop()
            if measured.rc != 0:  # measure again from the incident, with a fresh prober
                bench.runs.remove(measured)
                bench.retried.append("remediate 1 host (rc=%d, %s)" % (measured.rc, failure_line(measured.log)))
                bench.reset(one)
                prober = Prober(one[0].port)
                prober.start()
                measured = bench.playbook("remediate 1 host (retry)", "remediate.yml", one, retry=False)
                measured.extra = prober.stop()
            repair.append(measured)

        print("== 1: no-op remediation on the now compliant host", flush=True)
        noop = [bench.playbook("no-op remediate", "remediate.yml", one) for _ in reps]
        noop_nopipe = [
            bench.playbook("no-op, pipelining off", "remediate.yml", one, env={"ANSIBLE_PIPELINING": "False"})
        ]
        mitogen: dict[str, Any] = {"used": False}
        if bench.mitogen:
            mitogen = try_mitogen(bench, one)

        print("== 3/4: the shell runbook", flush=True)
        runbook: list[Measured] = []
        secret = bench.secret(one[0])
        for _ in reps:
            bench.reset(one)
            prober = Prober(one[0].port)
            prober.start()
            host = one[0]
            measured = bench.run(
                "runbook.sh 1 host",
                [str(BENCH / "runbook.sh"), str(host.project_dir), host.project, str(host.port)],
                env={"REDIS_PASSWORD": secret, "RATE_LIMIT": str(RATE_LIMIT)},
            )
            measured.extra = prober.stop()
            runbook.append(measured)
        never = "copilotos_audit_fail_on=never"
        after_runbook = bench.playbook(
            "audit after the runbook", "remediate.yml", one, "--check", "-e", never, check=False
        )
        checked: list[Measured] = []
        for _ in reps:
            bench.reset(one)
            host = one[0]
            checked.append(bench.run(
                "runbook.sh + the seed's checks",
                [str(BENCH / "runbook.sh"), str(host.project_dir), host.project, str(host.port)],
                env={"REDIS_PASSWORD": secret, "RATE_LIMIT": str(RATE_LIMIT), "RUNBOOK_CHECKS": "1"},
            ))

        print("== 4: the floor: docker stop + docker start of the api", flush=True)
        floor: list[Measured] = []
        container = one[0].container("api")
        for _ in reps:
            prober = Prober(one[0].port)
            prober.start()
            time.sleep(0.5)
            start = time.monotonic()
            stop = bench.run("docker stop api", ["docker", "stop", container])
            begin = bench.run("docker start api", ["docker", "start", container])
            bench.wait_healthy(one[0])
            wall = time.monotonic() - start
            time.sleep(0.3)
            extra = prober.stop()
            extra.update({"stop_s": stop.wall, "start_s": begin.wall})
            floor.append(Measured("floor", wall, 0, 0, 0, stop.log, None, extra=extra))

        print("== 5: fleet audits (all hosts in one batch)", flush=True)
        bench.lab_up(hosts)
        bench.reset(one)  # every host in the incident state, as for the 1-host audit
        fleet_audit: dict[int, list[Measured]] = {1: audit1}
        for size in FLEET_SIZES[1:]:
            fleet_audit[size] = [
                bench.playbook(
                    "audit %d hosts" % size,
                    "remediate.yml",
                    hosts[:size],
                    "--check",
                    "-e",
                    "copilotos_audit_fail_on=never",
                )
            ]

        print("== 5: fleet remediation: all hosts in one batch, and a rolling run of 2", flush=True)
        batch: dict[int, Measured] = {}
        for size in FLEET_SIZES[1:]:
            bench.reset(hosts[:size])
            label, serial = "remediate %d hosts, one batch" % size, "copilotos_serial=%d" % size
            batch[size] = bench.playbook(label, "remediate.yml", hosts[:size], "-e", serial)
        bench.reset(hosts[:2])
        rolling = bench.playbook("remediate 2 hosts, serial 1", "remediate.yml", hosts[:2])

        res = summarise(
            bench,
            ping=ping,
            audit1=audit1,
            fleet_audit=fleet_audit,
            repair=repair,
            noop=noop,
            noop_nopipe=noop_nopipe,
            mitogen=mitogen,
            runbook=runbook,
            checked=checked,
            after_runbook=after_runbook,
            floor=floor,
            rolling=rolling,
            batch=batch,
        )
    finally:
        try:
            bench.lab_down()
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - t0
    res["retried"] = bench.retried
    res["meta"] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": elapsed,
        "repeats": args.repeats,
        "load_start": load_start,
        "load_end": loadavg(),
        **machine(),
    }
    write_outputs(out, res)
    return 0


def try_mitogen(bench: Bench, one: list[LabHost]) -> dict[str, Any]:
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return {"used": False, "note": "mitogen not installed"}
    strategy = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    env = {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}
    version = importlib.metadata.version("mitogen")
    noop = bench.playbook("no-op, mitogen_linear", "remediate.yml", one, env=env, check=False)
    audit = bench.playbook(
        "audit 1 host, mitogen_linear",
        "remediate.yml",
        one,
        "--check",
        "-e",
        "copilotos_audit_fail_on=never",
        env=env,
        check=False,
    )
    return {"used": True, "version": version, "noop": noop, "audit": audit, "works": noop.rc == 0 and audit.rc == 0}


def summarise(bench: Bench, **m: Any) -> dict[str, Any]:
    ping = median([r.wall for r in m["ping"]])
    noop = median([r.wall for r in m["noop"]])
    audit1 = median([r.wall for r in m["audit1"]])
    repair = median([r.wall for r in m["repair"]])
    runbook = median([r.wall for r in m["runbook"]])
    down_remediate = median([r.extra["down_s"] for r in m["repair"]])
    down_runbook = median([r.extra["down_s"] for r in m["runbook"]])
    floor_down = median([r.extra["down_s"] for r in m["floor"]])
    floor_wall = median([r.wall for r in m["floor"]])
    fleet_audit = {size: median([r.wall for r in runs]) for size, runs in m["fleet_audit"].items()}
    ends = batch_ends(m["rolling"])
    fleet_batch = {1: repair, **{size: run.wall for size, run in m["batch"].items()}}
    per_host = m["rolling"].wall / 2
    fleet_rolling = {1: repair, 2: m["rolling"].wall}
    projected = {size: per_host * size for size in FLEET_SIZES if size > 2}
    every = [r for r in bench.runs if r.maxrss_kb]
    playbook_runs = [r for r in every if r.label.startswith(("audit", "remediate", "no-op"))]
    peak_process = max((r.maxrss_kb for r in playbook_runs), default=0)
    peak_tree = max((r.tree_kb for r in playbook_runs), default=0)
    audit8_tree = max(r.tree_kb for r in m["fleet_audit"][TOP])

    checked = median([r.wall for r in m["checked"]])
    watch = WATCH_SECONDS
    repair_work = repair - watch
    cpu = {size: median([r.cpu_s for r in runs]) / size for size, runs in m["fleet_audit"].items()}

    # Issue 13's targets, as ratios of runs taken side by side; unavailability
    # (issue 7) and memory stay as they were.
    targets = [
        ("No-op run", "%.1f s vs ping %.1f s" % (noop, ping), noop / ping, "<= 3x ping", noop / ping <= 3),
        ("Audit, 1 host", "%.1f s vs ping %.1f s" % (audit1, ping), audit1 / ping, "<= 3.5x ping",
         audit1 / ping <= 3.5),
        (
            "Repair",
            "%.1f s, of which the log watch window %.0f s, so %.1f s of work, vs the runbook with its checks %.1f s "
            "(bare runbook %.1f s)" % (repair, watch, repair_work, checked, runbook),
            repair_work / checked,
            "<= 2x the runbook with its checks",
            repair_work / checked <= 2,
        ),
        (
            "%d-host audit" % TOP,
            "%.1f s vs 1 host %.1f s; %.2f CPU-s per host (1 host: %.2f)"
            % (fleet_audit[TOP], audit1, cpu[TOP], cpu[1]),
            fleet_audit[TOP] / audit1,
            "<= 2.5x 1 host, <= 2 CPU-s per host",
            fleet_audit[TOP] / audit1 <= 2.5 and cpu[TOP] <= 2,
        ),
        (
            "Api unavailability",
            "%.2f s (refused/5xx %.2f s) vs floor %.2f s (runbook %.2f s)"
            % (down_remediate, median([r.extra["refused_s"] for r in m["repair"]]), floor_down, down_runbook),
            down_remediate - floor_down,
            "<= floor + 1 s",
            down_remediate <= floor_down + 1,
        ),
        (
            "Controller peak memory",
            "%.0f MiB largest process, %.0f MiB whole tree (%d-host audit %.0f MiB)"
            % (peak_process / 1024, peak_tree / 1024, TOP, audit8_tree / 1024),
            peak_tree / 1024,
            "(no target)",
            None,
        ),
    ]
    mitogen = m["mitogen"]
    candidates = [
        ("pipelining on (ansible.cfg, default)", noop, None),
        ("pipelining off", median([r.wall for r in m["noop_nopipe"]]), None),
    ]
    if mitogen.get("used"):
        candidates.append(("mitogen_linear %s: no-op" % mitogen["version"], mitogen["noop"].wall, mitogen["noop"].rc))
        candidates.append(
            ("mitogen_linear %s: audit 1 host" % mitogen["version"], mitogen["audit"].wall, mitogen["audit"].rc)
        )
    after = m["after_runbook"]
    return {
        "targets": targets,
        "raw": {
            "ping": [r.wall for r in m["ping"]],
            "noop": [r.wall for r in m["noop"]],
            "audit1": [r.wall for r in m["audit1"]],
            "repair": [r.wall for r in m["repair"]],
            "runbook": [r.wall for r in m["runbook"]],
            "runbook_checked": [r.wall for r in m["checked"]],
            "floor_wall": [r.wall for r in m["floor"]],
            "unavail_remediate": [r.extra for r in m["repair"]],
            "unavail_runbook": [r.extra for r in m["runbook"]],
            "unavail_floor": [r.extra for r in m["floor"]],
        },
        "floor_wall": floor_wall,
        "cpu_per_host": cpu,
        "fleet": {
            "audit (--check, one batch)": fleet_audit,
            "remediate (one batch)": fleet_batch,
            "remediate (serial 1, rolling)": fleet_rolling,
            "rolling, projected": projected,
            "runbook x N (sequential)": {s: runbook * s for s in FLEET_SIZES},
        },
        "rolling_batch_ends": ends,
        "candidates": candidates,
        "mitogen_works": mitogen.get("works"),
        "after_runbook": summary_line(after.log),
        "profile_noop": task_profile(m["noop"]),
        "profile_audit": task_profile(m["audit1"]),
        "profile_repair": task_profile(m["repair"]),
        "calls_noop": module_calls(m["noop"][-1]),
        "calls_audit": module_calls(m["audit1"][-1]),
        "calls_repair": module_calls(m["repair"][-1]),
    }


def failure_line(log: Path) -> str:
    """The first failure message of a run's log, shortened."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("fatal: ") or line.startswith("[ERROR]"):
            return line[:200]
    return "no failure line"


def summary_line(log: Path) -> str:
    """The host row of the COPILOTOS SUMMARY table in a run's log."""
    text = log.read_text(errors="replace")
    _, _, table = text.partition("COPILOTOS SUMMARY")
    rows = [line for line in table.splitlines()[1:] if line.strip()]
    return rows[1] if len(rows) > 1 else "?"


def fmt_table(res: dict[str, Any]) -> list[str]:
    lines = ["| Measure | Measured | Value | Target | Result |", "|---|---|---|---|---|"]
    for name, detail, value, target, ok in res["targets"]:
        if name.startswith("Api"):
            shown = "floor %+.2f s" % value
        elif name.startswith("Controller"):
            shown = "%.1f MiB" % value
        else:
            shown = "%.2fx" % value
        verdict = "-" if ok is None else ("pass" if ok else "**gap**")
        lines.append("| %s | %s | %s | %s | %s |" % (name, detail, shown, target, verdict))
    return lines


def write_outputs(out: Path, res: dict[str, Any]) -> None:
    meta = res["meta"]
    table = fmt_table(res)
    print()
    print("\n".join(table))
    fleet = res["fleet"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run` (%s, %.0f s for the whole bench, medians of %d runs unless noted)."
        % (meta["date"], meta["elapsed_s"], meta["repeats"]),
        "",
        "Machine: %s, %s CPUs (%s), %s RAM, kernel %s, Docker %s, %s, Python %s."
        % (
            meta["host"],
            meta["cpus"],
            meta["model"],
            meta["memory"],
            meta["kernel"],
            meta["docker"],
            meta["ansible"],
            meta["python"],
        ),
        "Load average at start %s, at end %s: other work shared the machine, so wall times are"
        % (meta["load_start"], meta["load_end"]),
        "upper bounds; the ratios compare runs taken side by side under the same load.",
        "",
        "## Targets (issue 13; unavailability from issue 7)",
        "",
        *table,
        "",
        "## Fleet: wall time against host count",
        "",
        "![fleet](fleet.png)",
        "",
        "| hosts | " + " | ".join(fleet) + " |",
        "|---|" + "---|" * len(fleet),
    ]
    for size in FLEET_SIZES:
        cells = ["%.1f" % fleet[name][size] if size in fleet[name] else "" for name in fleet]
        lines.append("| %d | %s |" % (size, " | ".join(cells)))
    lines += ["", "CPU seconds per host of the audit (controller and modules, wait4 rusage): "
              + ", ".join("%d hosts %.2f" % (size, cpu) for size, cpu in sorted(res["cpu_per_host"].items())) + "."]
    audit = fleet["audit (--check, one batch)"]
    batch = fleet["remediate (one batch)"]
    rolling = fleet["remediate (serial 1, rolling)"]
    lines += [
        "",
        "Growth 1 -> %d hosts: audit %.2fx, remediation in one batch %.2fx. A rolling remediation"
        % (TOP, audit[TOP] / audit[1], batch[TOP] / batch[1]),
        "(serial 1, the default) restarts one api at a time, so it grows linearly: the 2-host rolling run",
        "took %.1f s (%.1f s per host); the 4- and %d-host rolling values are that per-host time times"
        % (rolling[2], rolling[2] / 2, TOP),
        "the host count (projected, not run, to keep the bench under 15 minutes).",
        "",
        "## Api unavailability (20 Hz prober on /api/health)",
        "",
        "Unavailable = refused or reset, 5xx, or no answer within %.0f s. The second column counts only"
        % PROBE_TIMEOUT,
        "refusals, resets and 5xx: the api process not serving at all.",
        "",
        "| run | unavailable (s) | of which refused/5xx (s) | failed requests | timeouts | requests |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (
        ("remediate.yml", "unavail_remediate"),
        ("runbook.sh", "unavail_runbook"),
        ("floor: docker stop + start", "unavail_floor"),
    ):
        for extra in res["raw"][key]:
            lines.append(
                "| %s | %.2f | %.2f | %d | %d | %d |"
                % (label, extra["down_s"], extra["refused_s"], extra["failed"], extra["timeouts"], extra["requests"])
            )
    floors = res["raw"]["unavail_floor"]
    lines += [
        "",
        "Floor: `docker stop` took %s s and `docker start` %s s; stop to healthy %.1f s (median)."
        % (
            ", ".join("%.1f" % f["stop_s"] for f in floors),
            ", ".join("%.1f" % f["start_s"] for f in floors),
            res["floor_wall"],
        ),
        "",
        "After the runbook, the audit of the same host reports: `%s`" % res["after_runbook"],
        "",
        "## Speed-up candidates (no-op run on one host unless noted)",
        "",
        "| setting | wall (s) | rc |",
        "|---|---|---|",
    ]
    for name, wall, rc in res["candidates"]:
        lines.append("| %s | %.1f | %s |" % (name, wall, "-" if rc is None else rc))
    for title, key, calls in (
        ("No-op run", "profile_noop", "calls_noop"),
        ("Audit of one host", "profile_audit", "calls_audit"),
        ("Repair of one host", "profile_repair", "calls_repair"),
    ):
        mods, mods_t, other, other_t = res[calls]
        lines += [
            "",
            "## Where the time goes: %s" % title.lower(),
            "",
            "%d module calls took %.1f s; %d controller-side tasks (set_fact, assert, the plan and report"
            " actions, ...) %.1f s."
            % (mods, mods_t, other, other_t),
            "",
            "| task | action | s (median) | runs |",
            "|---|---|---|---|",
        ]
        for name, action, seconds, count in res[key][:12]:
            lines.append("| %s | %s | %.2f | %d |" % (name.replace("|", "\\|"), action, seconds, count))
    lines += ["", "## Runs retried (excluded from the medians)", ""]
    lines += ["- %s" % item for item in res.get("retried") or ["none"]]
    lines += ["", "## Raw samples (s)", ""]
    for key in ("ping", "noop", "audit1", "repair", "runbook", "runbook_checked", "floor_wall"):
        lines.append("- %s: %s" % (key, ", ".join("%.2f" % v for v in res["raw"][key])))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    title = "copilotos fleet on %s CPUs, %s (load %s)" % (meta["cpus"], meta["date"], meta["load_start"])
    plot(out / "fleet.png", fleet, title)
    print("\nbench: wrote %s and %s (%.0f s)" % (out / "results.md", out / "fleet.png", meta["elapsed_s"]))


if __name__ == "__main__":
    sys.exit(main())
