"""The copilotos_report role through ansible-playbook, and its index.html in headless Chromium.

A tiny playbook sets a synthetic ``copilotos_run`` on two local hosts
(``localhost`` and an alias) and includes the role. It asserts the files and
their modes, the shared run directory and the ``latest`` link, the summary
callback's table after the recap, the audit exit status (non-zero with
critical findings under the default, 0 with ``never``), the refusal of a run
that carries a secret, and that no secret reaches any output. Then Chromium
(Debian's package, /usr/bin/chromium) loads the page: ``--dump-dom`` must
show the matrix and the findings, ``--screenshot`` must produce a PNG.

A second run, a remediation, carries hostile strings from "the host" (log
lines, env values, a container name, evidence): the page must show them as
text (escaped in the source, text in Chromium's DOM), with no injected element
and the document title unchanged, under its Content-Security-Policy; its
post-change record names the backup, keys, restart, log watch and next audit.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")
SECRET = "Sup3r$ecret!pw"
MONGO_SECRET = "m0ngo-S3cret"

INVENTORY = """\
[copilotos]
localhost ansible_connection=local
lab-alias ansible_connection=local
"""

# Like remediate.yml: one host per batch, so the run directory must still be
# shared, and the audit exit status comes from a final unbatched play (a batched
# play ends as soon as one whole batch has failed).
PLAYBOOK_SERIAL = """\
---
- name: Synthetic report run
  hosts: copilotos
  gather_facts: false
  serial: 1
  max_fail_percentage: 100
  tasks:
    - name: Set the synthetic run record
      ansible.builtin.set_fact:
        copilotos_run: "{{ synthetic_runs[inventory_hostname] }}"

    - name: Write the reports
      ansible.builtin.include_role:
        name: copilotos_report
      vars:
        copilotos_report_fail_inline: false

- name: Audit exit status
  hosts: copilotos
  gather_facts: false
  tasks:
    - name: Fail the hosts whose audit found problems
      ansible.builtin.include_role:
        name: copilotos_report
        tasks_from: exit_status.yml
"""

# The simple form: one play, the role fails the audit right after writing.
PLAYBOOK_INLINE = """\
---
- name: Synthetic report run
  hosts: copilotos
  gather_facts: false
  tasks:
    - name: Set the synthetic run record
      ansible.builtin.set_fact:
        copilotos_run: "{{ synthetic_runs[inventory_hostname] }}"

    - name: Write the reports
      ansible.builtin.include_role:
        name: copilotos_report
"""


def runs(leak: bool = False) -> dict[str, Any]:
    audit_findings: list[dict[str, Any]] = [
        {"code": "REDIS_URL_PASSWORD_MISMATCH", "severity": "critical", "message": "REDIS_URL password differs",
         "evidence": {"REDIS_URL": "redis://:redis_password_change_me@redis:6379/0"}},
        # A cause as copilotos_state emits it: its own fix, where, who fixes it, and the symptoms it explains.
        {"code": "REDIS_CLIENTS_MISCONFIGURED", "message": "the api's Redis cache dials localhost:6379",
         "fix": "set CELERY_BROKER_URL to the redis service in .env.production", "fixable": "toolkit",
         "where": [{"file": "/srv/copilotos/.env.production", "line": 12, "key": "CELERY_BROKER_URL"},
                   {"compose": "docker-compose.yml", "key": "services.api.environment.REDIS_URL"}],
         "symptoms": [{"code": "LOG_SIGNATURE_REDIS_CONNECTION_FAILED", "severity": "critical",
                       "message": "Error 111 connecting to localhost:6379. Connection refused."}],
         "evidence": {"clients": [{"client": "cache", "source": "CELERY_BROKER_URL",
                                   "url": "redis://localhost:6379/0"}]}},
        {"code": "CORS_ORIGIN_MISSING", "message": "https://copiloto.saptiva.com missing",
         "evidence": {"CORS_ORIGINS": '["http://localhost:3000"]'}},
        {"code": "LOG_SIGNATURE_REDIS_CONNECTION_FAILED", "message": "1 line",
         "evidence": {"count": 1, "first": "2025-09-30T20:19:00.585060Z Error 111 connecting to localhost:6379"}},
        {"code": "SAPTIVA_TIMEOUT_BELOW_PLAN", "message": "read 60 < 120", "evidence": {"SAPTIVA_READ_TIMEOUT": "60"}},
        {"code": "MONGO_POOL_AGGRESSIVE", "message": "100 > 50", "evidence": {"DB_MAX_POOL_SIZE": "100"}},
        {"code": "RATE_LIMIT_BELOW_PLAN", "message": "100 < 500", "evidence": {"RATE_LIMIT_CALLS": "100"}},
    ]
    if leak:
        audit_findings[0]["evidence"]["raw"] = "password=%s" % SECRET
    containers = [
        {"service": name, "state": "running", "health": "healthy", "started_at": "2026-11-29T02:00:00Z",
         "uptime_s": 14400, "image": "copilotos-lab:latest"}
        for name in ("api", "web", "mongodb", "redis")
    ]
    return {
        "localhost": {
            "host": "localhost", "mode": "audit", "check_mode": True, "result": "findings", "user": "root",
            "started": "2026-11-29T06:00:00Z", "finished": "2026-11-29T06:01:00Z",
            "project_dir": "/var/tmp/copilotos-lab/lab1", "compose_project": "copilotos-lab1",
            "containers": containers, "findings": audit_findings,
            "changed_keys": ["REDIS_URL", "CORS_ORIGINS"], "override_changed": True, "backup_path": None,
            "recreated": False, "failure": None, "history": [],
            "verification": {"redis_auth": "failed", "mongo_ping": "passed", "health": "passed", "cors": "failed",
                             "burst": "passed", "logs": "failed", "container_env": "skipped"},
        },
        "lab-alias": {
            "host": "lab-alias", "mode": "audit", "check_mode": True, "result": "compliant", "user": "root",
            "containers": containers, "findings": [], "changed_keys": [], "verification": {},
            "history": [{"time": "2026-11-28T06:00:00Z", "user": "ops", "changed_keys": ["REDIS_URL"],
                         "backup": "/var/backups/copilotos/20261128T060000Z", "restarted": True,
                         "verification": "passed"}],
        },
    }


def play(
    tmp: Path, *extra: str, leak: bool = False, check: bool = True, serial: bool = True,
    synthetic: dict[str, Any] | None = None, inventory: str = INVENTORY,
) -> subprocess.CompletedProcess[str]:
    (tmp / "inventory.ini").write_text(inventory, encoding="utf-8")
    (tmp / "playbook.yml").write_text(PLAYBOOK_SERIAL if serial else PLAYBOOK_INLINE, encoding="utf-8")
    extra_vars = {"synthetic_runs": synthetic or runs(leak), "copilotos_report_secrets": [SECRET, MONGO_SECRET],
                  "copilotos_report_dir": str(tmp / "reports")}
    (tmp / "vars.json").write_text(json.dumps(extra_vars), encoding="utf-8")
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH="%s:%s" % (VENV_BIN, env.get("PATH", "")))
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp / "inventory.ini"), str(tmp / "playbook.yml"),
           "-c", "local", "-e", "@%s" % (tmp / "vars.json"), "-e", "ansible_python_interpreter=%s" % PYTHON]
    if check:
        cmd.append("--check")
    return subprocess.run([*cmd, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def run_dirs(tmp: Path) -> list[Path]:
    return [p for p in (tmp / "reports").iterdir() if p.is_dir() and not p.is_symlink()]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM.exists(), (
        "%s is missing: install Debian's chromium (apt-get install -y chromium); "
        "scripts/setup-toolchain.sh does so" % CHROMIUM
    )
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=%s" % profile, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("report-audit")
    return tmp, play(tmp)


def test_audit_with_critical_findings_exits_non_zero(audit: tuple[Path, Any]) -> None:
    _, proc = audit
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    message = r"Audit of localhost: 4 finding\(s\) at or above critical: [A-Z_, ]+ \(4 critical, 2 medium, 1 low"
    assert re.search(message, proc.stdout), proc.stdout[-3000:]
    assert re.search(r"lab-alias\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", proc.stdout)
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", proc.stdout)


def test_reports_files_modes_and_latest_link(audit: tuple[Path, Any]) -> None:
    tmp, _ = audit
    dirs = run_dirs(tmp)
    assert len(dirs) == 1, "both hosts must share one run directory: %s" % dirs
    run_dir = dirs[0]
    assert re.fullmatch(r"\d{8}T\d{6}Z", run_dir.name)
    assert stat.S_IMODE((tmp / "reports").stat().st_mode) == 0o700
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    names = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))
    assert names == ["index.html", "lab-alias.json", "lab-alias.md", "localhost.json", "localhost.md"]
    for name in names:
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600, name
    latest = tmp / "reports" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == run_dir.name
    doc = json.loads((run_dir / "localhost.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1 and doc["audit"] is True
    assert [f["severity"] for f in doc["findings"]] == ["critical"] * 4 + ["medium"] * 2 + ["low"]
    assert all(f["title"] and f["fix"] for f in doc["findings"])
    md = (run_dir / "localhost.md").read_text(encoding="utf-8")
    assert "**Audit only, nothing changed.**" in md
    assert [m for m in re.findall(r"^## (\d)\.", md, re.M)] == ["1", "2", "3", "4", "5"]
    # The cause carries its own fix, where it lives and what it explains, in the JSON and the Markdown.
    cause = next(f for f in doc["findings"] if f["code"] == "REDIS_CLIENTS_MISCONFIGURED")
    assert cause["fix"].startswith("set CELERY_BROKER_URL") and cause["fixable"] == "toolkit"
    assert [s["code"] for s in cause["symptoms"]] == ["LOG_SIGNATURE_REDIS_CONNECTION_FAILED"]
    assert "**Where**: `/srv/copilotos/.env.production:12` `CELERY_BROKER_URL`; `docker-compose.yml`" in md
    assert "- `LOG_SIGNATURE_REDIS_CONNECTION_FAILED`: Error 111 connecting to localhost:6379" in md
    alias = (run_dir / "lab-alias.md").read_text(encoding="utf-8")
    assert "/var/backups/copilotos/20261128T060000Z" in alias


def test_summary_callback_prints_after_the_recap(audit: tuple[Path, Any]) -> None:
    tmp, proc = audit
    out = proc.stdout
    assert "COPILOTOS SUMMARY" in out
    assert out.index("PLAY RECAP") < out.index("COPILOTOS SUMMARY")
    table = out[out.index("COPILOTOS SUMMARY"):]
    assert re.search(r"^host\s+critical\s+medium\s+low\s+info\s+keys changed\s+api recreated\s+verification\s+report",
                     table, re.M)
    assert re.search(r"^localhost\s+4\s+2\s+1\s+0\s+audit only\s+no\s+FAILED\s+\S+localhost\.md$", table, re.M)
    assert re.search(r"^lab-alias\s+0\s+0\s+0\s+0\s+audit only\s+no\s+not run\s+\S+lab-alias\.md$", table, re.M)
    assert "index: %s" % (run_dirs(tmp)[0] / "index.html") in table


def test_no_secret_in_output_or_reports(audit: tuple[Path, Any]) -> None:
    tmp, proc = audit
    texts = [proc.stdout, proc.stderr] + [p.read_text(encoding="utf-8") for p in run_dirs(tmp)[0].glob("*.*")]
    for text in texts:
        assert SECRET not in text and MONGO_SECRET not in text
        assert "redis_password_change_me" not in text


def test_inline_exit_status_in_an_unbatched_play(tmp_path: Path) -> None:
    proc = play(tmp_path, serial=False)
    assert proc.returncode == 2, proc.stdout[-3000:]
    listed = re.search(r"Audit of localhost: 4 finding\(s\) at or above critical: ([A-Z_, ]+) \(", proc.stdout)
    assert listed, proc.stdout[-3000:]
    # The message names the codes behind the count: the report's critical findings.
    report = json.loads((run_dirs(tmp_path)[0] / "localhost.json").read_text(encoding="utf-8"))
    critical = {f["code"] for f in report["findings"] if f["severity"] == "critical"}
    assert set(listed.group(1).split(", ")) == critical and critical
    assert re.search(r"lab-alias\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", proc.stdout)
    assert len(run_dirs(tmp_path)) == 1
    assert "COPILOTOS SUMMARY" in proc.stdout


def test_without_check_mode_an_audit_run_still_fails(tmp_path: Path) -> None:
    # mode audit without --check (playbooks/audit.yml style): the reports are written and the exit status applies
    proc = play(tmp_path, check=False)
    assert proc.returncode == 2
    assert len(list(run_dirs(tmp_path)[0].glob("*.md"))) == 2


def test_fail_on_never_exits_zero(tmp_path: Path) -> None:
    proc = play(tmp_path, "-e", "copilotos_audit_fail_on=never")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "COPILOTOS SUMMARY" in proc.stdout


def test_fail_on_low_fails_only_hosts_with_findings(tmp_path: Path) -> None:
    proc = play(tmp_path, "-e", "copilotos_audit_fail_on=low")
    assert proc.returncode == 2
    assert "7 finding(s) at or above low" in proc.stdout
    assert re.search(r"lab-alias\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", proc.stdout)


def test_bad_fail_on_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    proc = play(tmp_path, "-e", "copilotos_audit_fail_on=sometimes")
    assert proc.returncode != 0
    assert "copilotos_audit_fail_on" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr
    assert not (tmp_path / "reports").exists()


def test_no_secret_with_vvv(tmp_path: Path) -> None:
    proc = play(tmp_path, "-vvv", "--diff")
    out = proc.stdout + proc.stderr
    assert "COPILOTOS SUMMARY" in out
    # (the synthetic run's unmasked placeholder URL is printed by its own set_fact at -vvv; only secrets count)
    assert SECRET not in out
    assert MONGO_SECRET not in out


def test_a_run_carrying_a_secret_is_refused(tmp_path: Path) -> None:
    proc = play(tmp_path, "-e", "copilotos_audit_fail_on=never", leak=True)
    assert proc.returncode == 2
    assert "refusing to write any report" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr
    written = list((tmp_path / "reports").rglob("localhost.*")) if (tmp_path / "reports").exists() else []
    assert written == []


def test_index_renders_in_headless_chromium(audit: tuple[Path, Any]) -> None:
    tmp, _ = audit
    index = run_dirs(tmp)[0] / "index.html"
    dom = chromium("--dump-dom", index.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="severity-matrix"' in html
    assert re.search(r'<tr class="host-row" data-host="lab-alias">.*?<tr class="host-row" data-host="localhost">',
                     html, re.S)
    assert '<td class="num sev-critical" data-severity="critical">4</td>' in html
    assert '<td class="num sev-medium" data-severity="medium">2</td>' in html
    assert '<td class="num sev-low" data-severity="low">1</td>' in html
    assert html.count('<tr class="finding ') == 7
    for code in ("REDIS_URL_PASSWORD_MISMATCH", "REDIS_CLIENTS_MISCONFIGURED", "CORS_ORIGIN_MISSING",
                 "RATE_LIMIT_BELOW_PLAN"):
        assert 'data-code="%s"' % code in html
    assert "<details>" in html and "redis://:********@redis:6379/0" in html

    shot = tmp / "index.png"
    proc = chromium("--screenshot=%s" % shot, "--window-size=1280,1600", index.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# --- untrusted text stays text ------------------------------------------------------------

PWN_SCRIPT = "<script>document.title='pwned'</script>"
PWN_IMG = "<img src=x onerror=\"document.title='pwned'\">"
PWN_SVG = "\"><svg onload=\"document.title='pwned'\">"
PWN_ATTR = "'><img src=x onerror=alert(1)>"
HOSTILE_INVENTORY = """\
[copilotos]
hostile ansible_connection=local
"""


def hostile_runs() -> dict[str, Any]:
    log_line = "2026-11-29T06:00:41Z ERROR %s Error 111 connecting to localhost:6379 | `x`" % PWN_IMG
    return {"hostile": {
        "host": "hostile", "mode": "remediate", "check_mode": False, "result": "remediated", "user": PWN_SVG,
        "started": "2026-11-29T06:00:00Z", "finished": "2026-11-29T06:01:00Z",
        "project_dir": "/srv/%s" % PWN_ATTR, "compose_project": PWN_SVG,
        "containers": [{"service": PWN_SVG, "state": "running", "health": "healthy", "image": PWN_SCRIPT,
                        "started_at": "2026-11-29T06:00:40Z", "uptime_s": 20}],
        "findings": [
            {"code": "CORS_ORIGIN_MISSING", "severity": "critical", "message": "CORS_ORIGINS is %s" % PWN_SCRIPT,
             "where": [{"file": "/srv/.env.production", "line": 4, "key": "CORS_ORIGINS", "note": PWN_SVG},
                       {"container": PWN_SVG}],
             "evidence": {"CORS_ORIGINS": PWN_SCRIPT, "container": PWN_SVG, "line": log_line},
             "symptoms": [{"code": "LOG_SIGNATURE_CORS_REJECTED", "severity": "medium", "message": log_line}]},
            {"code": "LOG_SIGNATURE_REDIS_CONNECTION_FAILED", "severity": "critical", "message": log_line,
             "evidence": {"count": 2, "sample": log_line, "attr": PWN_ATTR}},
        ],
        "changed_keys": ["CORS_ORIGINS", "REDIS_URL"], "override_changed": True,
        "backup_path": "/var/backups/copilotos/20261129T060000Z", "recreated": True,
        "started_before": "2026-11-29T02:00:00.111111111Z", "started_after": "2026-11-29T06:00:40.222222222Z",
        "log_watch": {"window_s": 5, "since": "2026-11-29T06:00:40Z", "scanned_lines": 17,
                      "counts": {"redis_connection_failed": 2}},
        "verification": {"redis_auth": "passed", "health": "passed", "cors": "failed", "logs": "failed"},
        "failure": None,
        "history": [{"time": "2026-11-28T06:00:00Z", "user": PWN_IMG, "changed_keys": [PWN_SCRIPT],
                     "backup": PWN_SVG, "restarted": True, "verification": PWN_ATTR}],
    }}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("report-hostile")
    proc = play(tmp, "-e", "copilotos_report_next_audit_hours=24", check=False, serial=False,
                synthetic=hostile_runs(), inventory=HOSTILE_INVENTORY)
    return tmp, proc


INJECTED = re.compile(r"<(script|img|svg|iframe|object|embed)\b", re.I)


def test_hostile_run_writes_its_reports(hostile: tuple[Path, Any]) -> None:
    _, proc = hostile
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "COPILOTOS SUMMARY" in proc.stdout


def test_hostile_text_is_escaped_in_the_html_source(hostile: tuple[Path, Any]) -> None:
    tmp, _ = hostile
    page = (run_dirs(tmp)[0] / "index.html").read_text(encoding="utf-8")
    assert INJECTED.findall(page) == []
    assert "onerror=\"" not in page and "onload=\"" not in page
    for raw in (PWN_SCRIPT, PWN_IMG, PWN_SVG, PWN_ATTR):
        assert raw not in page
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;svg onload=&#34;document.title=&#39;pwned&#39;&#34;&gt;" in page
    assert '<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src' in page


def test_hostile_text_is_text_in_chromium_and_the_title_holds(hostile: tuple[Path, Any]) -> None:
    tmp, _ = hostile
    run_dir = run_dirs(tmp)[0]
    dom = chromium("--enable-logging=stderr", "--v=0", "--dump-dom", (run_dir / "index.html").as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # No element came from the host's text...
    assert INJECTED.findall(html) == [], INJECTED.findall(html)
    # ...and the text is there, as text (Chromium serialises text nodes with < > & escaped, quotes as is).
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=\"document.title='pwned'\"&gt;" in html
    assert "\"&gt;&lt;svg onload=\"document.title='pwned'\"&gt;" in html
    titles = re.findall(r"<title>(.*?)</title>", html, re.S)
    assert titles == ["copilotos diagnosis · run %s" % run_dir.name], titles
    # The page's own inline style is allowed by the CSP's hash (else Chromium logs a refusal).
    assert "violates the following Content Security Policy" not in dom.stderr
    assert "Content Security Policy" not in dom.stderr, dom.stderr[-2000:]
    # the post-change record of the host is on the page
    assert '<section class="post-change" id="post-change-hostile">' in html


def test_hostile_text_is_inert_in_the_markdown(hostile: tuple[Path, Any]) -> None:
    import markdown_it
    tmp, _ = hostile
    md = (run_dirs(tmp)[0] / "hostile.md").read_text(encoding="utf-8")
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert INJECTED.findall(rendered) == [], INJECTED.findall(rendered)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in rendered
    # a host pipe never adds a table cell
    for table in re.findall(r"<table>.*?</table>", rendered, re.S):
        head = len(re.findall(r"<th[ >]", table[:table.index("</thead>")]))
        for row in table[table.index("<tbody>"):].split("<tr>")[1:]:
            assert len(re.findall(r"<td[ >]", row)) == head, row


def test_hostile_run_post_change_record(hostile: tuple[Path, Any]) -> None:
    tmp, _ = hostile
    run_dir = run_dirs(tmp)[0]
    doc = json.loads((run_dir / "hostile.json").read_text(encoding="utf-8"))
    pc = doc["post_change"]
    assert pc["backup_path"] == "/var/backups/copilotos/20261129T060000Z"
    assert pc["changed_keys"] == ["CORS_ORIGINS", "REDIS_URL"]
    assert pc["restart"]["started_before"] == "2026-11-29T02:00:00.111111111Z"
    assert pc["restart"]["started_after"] == "2026-11-29T06:00:40.222222222Z"
    assert {v["step"]: v["result"] for v in pc["verification"]}["cors"] == "failed"
    assert pc["log_watch"]["window_s"] == 5 and pc["log_watch"]["signatures"] == [
        {"signature": "redis_connection_failed", "code": "LOG_SIGNATURE_REDIS_CONNECTION_FAILED", "count": 2}]
    # the role variable reaches the module: finished + 24 h
    assert pc["next_audit"] == {"after_hours": 24, "from": "2026-11-29T06:01:00Z", "at": "2026-11-30T06:01:00Z"}
    md = (run_dir / "hostile.md").read_text(encoding="utf-8")
    assert "## 6. ✅ Post-change record" in md
    assert "next scheduled audit at 2026-11-30T06:01:00Z (24 h after the run)" in md


def test_audit_index_has_no_post_change_section(audit: tuple[Path, Any]) -> None:
    tmp, _ = audit
    page = (run_dirs(tmp)[0] / "index.html").read_text(encoding="utf-8")
    assert page.count("No change was made in this run: no post-change record.") == 2
    assert '<section class="post-change"' not in page
    doc = json.loads((run_dirs(tmp)[0] / "localhost.json").read_text(encoding="utf-8"))
    assert doc["post_change"] is None
