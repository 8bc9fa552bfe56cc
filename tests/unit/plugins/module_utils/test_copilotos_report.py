"""Report rendering: catalogue, JSON document, Markdown sections, HTML matrix, masking, files."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils import copilotos_report as rep
from ansible.module_utils import copilotos_report_io as rio
from ansible.module_utils import copilotos_report_render as render
from ansible.module_utils.copilotos_common import MASK

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / "roles" / "copilotos_report"
CATALOGUE = ROLE / "files" / "findings_catalogue.yml"
TEMPLATES = ROLE / "templates"
sys.path.insert(0, str(ROOT / "plugins" / "callback"))
import copilotos_summary  # noqa: E402

SECRET = "NotTheProdPass2026!Rotate"
MONGO_SECRET = "m0ngo:p@ss/word"
REQUIRED_CODES = """
REDIS_URL_PASSWORD_MISMATCH REDIS_URL_LOCALHOST REDIS_AUTH_FAILED REDIS_UNREACHABLE REDIS_URL_PASSWORD_NOT_ENCODED
REDIS_URL_UNPARSEABLE REDIS_TLS_ERROR CORS_ORIGIN_MISSING CORS_UNPARSEABLE CORS_PREFLIGHT_FAILED
SAPTIVA_TIMEOUT_BELOW_PLAN SAPTIVA_TIMEOUT_INCONSISTENT MONGO_POOL_EXCEEDS_AVAILABLE MONGO_POOL_ABOVE_PLAN
MONGO_SERVER_SELECTION_TIMEOUT_LOW MONGO_UNREACHABLE MONGO_DNS_FAILURE MONGO_AUTH_FAILED MONGO_URI_UNPARSEABLE
MONGO_URI_PASSWORD_NOT_ENCODED RATE_LIMIT_BELOW_EXPECTED CONTAINER_UNHEALTHY CONTAINER_RESTARTING
LOG_SIGNATURE_REDIS_CONNECTION_FAILED LOG_SIGNATURE_REDIS_AUTH LOG_SIGNATURE_CORS_REJECTED
LOG_SIGNATURE_UPSTREAM_TIMEOUT LOG_SIGNATURE_SERVER_SELECTION_TIMEOUT LOG_SIGNATURE_POOL_EXHAUSTED
ENV_FILE_WORLD_READABLE CONTAINER_ENV_DRIFT HTTP_UNREACHABLE HEALTH_CHECK_UNHEALTHY BURST_NON_200
COMPOSE_OVERRIDE_MISSING ENV_KEY_DRIFT
""".split()


def make_run(**overrides: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "host": "lab1",
        "mode": "audit",
        "started": "2026-11-29T06:00:00Z",
        "finished": "2026-11-29T06:01:00Z",
        "user": "root",
        "check_mode": True,
        "project_dir": "/var/tmp/copilotos-lab/lab1",
        "compose_project": "copilotos-lab1",
        "containers": [
            {"service": "api", "state": "running", "health": "healthy", "started_at": "2026-11-29T02:00:00Z",
             "uptime_s": 14400, "image": "copilotos-lab:latest"},
            {"service": "redis", "state": "restarting", "health": "unhealthy", "uptime_s": 5, "image": "redis:7"},
        ],
        "findings": [
            {"code": "RATE_LIMIT_BELOW_EXPECTED", "message": "200 per minute < 500",
             "evidence": {"RATE_LIMIT_REQUESTS_PER_MINUTE": "200"}},
            {"code": "SAPTIVA_TIMEOUT_BELOW_PLAN", "message": "read 60 < 120", "evidence": {"read": 60}},
            {"code": "REDIS_URL_PASSWORD_MISMATCH", "severity": "critical", "message": "URL password differs",
             "evidence": {"REDIS_URL": "redis://:redis_password_change_me@redis:6379/0"}},
            {"code": "LOG_SIGNATURE_REDIS_CONNECTION_FAILED", "message": "3 lines",
             "evidence": {"count": 3, "excerpt": "2025-09-30T20:19:00.585060Z Error 111 connecting to localhost:6379",
                          "markup": "<script>alert(1)</script> | a ``` fence"}},
            {"code": "ENV_KEY_DRIFT", "severity": "info", "message": "DB_MAX_IDLE_TIME_MS absent", "evidence": {}},
        ],
        "changed_keys": ["REDIS_URL", "CORS_ORIGINS"],
        "override_changed": False,
        "backup_path": None,
        "recreated": False,
        "verification": {"redis_auth": "failed", "health": "passed", "cors": "skipped"},
        "result": "findings",
        "failure": None,
        "history": [
            {"time": "2026-11-28T06:00:00Z", "user": "ops", "changed_keys": ["REDIS_URL"],
             "backup": "/var/backups/copilotos/1", "restarted": True, "verification": "passed"},
        ],
    }
    run.update(overrides)
    return run


def build(run: dict[str, Any] | None = None, secrets: list[str] | None = None) -> dict[str, Any]:
    return rep.prepare(run or make_run(), str(CATALOGUE), secrets or [SECRET], "20261129T060000Z",
                       "2026-11-29T06:01:01Z", [])


# ---------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------


def test_catalogue_entries_have_every_field_and_a_valid_severity() -> None:
    data = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    assert rep.catalogue_errors(data) == []
    for entry in data["findings"]:
        for field in ("id", "severity", "title", "check", "fix", "area"):
            assert isinstance(entry.get(field), str) and entry[field].strip(), (entry.get("id"), field)
        assert entry["severity"] in ("critical", "medium", "low", "info")
        assert entry["area"] in rep.AREA_LABELS, entry["id"]


def test_catalogue_covers_every_code_the_modules_emit() -> None:
    catalogue = rep.load_catalogue(str(CATALOGUE))
    missing = [code for code in REQUIRED_CODES if code not in catalogue]
    assert missing == []


def emitted_codes() -> dict[str, set[str]]:
    """Codes the project's modules emit, with the severities they pass, read from their source.

    Recognised idioms: ``finding("CODE", "sev", ...)``, ``self.add("CODE", "sev", ...)``,
    ``return "CODE", "why"`` (error classifiers) and container_logs' DEFAULT_PATTERNS
    (``LOG_SIGNATURE_<NAME>``).
    """
    found: dict[str, set[str]] = {}
    sources = sorted((ROOT / "library").glob("*.py")) + sorted((ROOT / "plugins" / "module_utils").glob("*.py"))
    for path in sources:
        if "copilotos_report" in path.name:
            continue
        text = path.read_text(encoding="utf-8")
        for code, severity in re.findall(r'(?:finding|\.add)\(\s*"([A-Z][A-Z0-9_]+)",\s*"(\w+)"', text):
            found.setdefault(code, set()).add(severity)
        for code in re.findall(r'return "([A-Z][A-Z0-9]*_[A-Z0-9_]+)", "', text):
            found.setdefault(code, set())
    try:
        from ansible.module_utils.copilotos_logs import DEFAULT_PATTERNS
    except ImportError:
        DEFAULT_PATTERNS = []
    for pattern in DEFAULT_PATTERNS:
        code = "LOG_SIGNATURE_%s" % pattern["name"].upper()
        found.setdefault(code, set()).add(pattern.get("severity", "medium"))
    return found


def test_catalogue_covers_what_the_modules_emit_in_the_tree() -> None:
    catalogue = rep.load_catalogue(str(CATALOGUE))
    missing = sorted(code for code in emitted_codes() if code not in catalogue)
    assert missing == [], "add these codes to %s" % CATALOGUE.relative_to(ROOT)


def test_catalogue_severity_agrees_with_the_modules() -> None:
    catalogue = rep.load_catalogue(str(CATALOGUE))
    disagree = {
        code: (sorted(severities), catalogue[code]["severity"])
        for code, severities in emitted_codes().items()
        if code in catalogue and severities and severities != {catalogue[code]["severity"]}
    }
    assert disagree == {}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "'findings' list"),
        ({"findings": [{"id": "A_B", "severity": "urgent", "title": "t", "check": "c", "fix": "f"}]}, "severity"),
        ({"findings": [{"id": "A_B", "severity": "low", "title": "", "check": "c", "fix": "f"}]}, "'title'"),
        ({"findings": [{"id": "a-b", "severity": "low", "title": "t", "check": "c", "fix": "f"}]}, "UPPER_SNAKE"),
        ({"findings": [{"id": "A", "severity": "low", "title": "t", "check": "c", "fix": "f"}] * 2}, "duplicate"),
    ],
)
def test_catalogue_errors_name_the_problem(data: dict[str, Any], needle: str) -> None:
    assert any(needle in error for error in rep.catalogue_errors(data))


# ---------------------------------------------------------------------------
# Run validation, secret refusal, masking
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"host": ""}, "run.host"),
        ({"mode": "fix"}, "run.mode"),
        ({"result": "ok"}, "run.result"),
        ({"findings": [{"message": "no code"}]}, "run.findings[0]"),
        ({"findings": [{"code": "X", "severity": "urgent"}]}, "run.findings[0].severity"),
        ({"verification": {"health": "ok"}}, "run.verification.health"),
        ({"recreated": "yes"}, "run.recreated"),
        ({"containers": "api"}, "run.containers"),
    ],
)
def test_invalid_runs_are_refused_with_the_field_named(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(rep.ReportError) as err:
        build(make_run(**change))
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "leak",
    [
        {"failure": "AUTH failed with %s" % SECRET},
        {"findings": [{"code": "REDIS_AUTH_FAILED", "evidence": {"url": "redis://:%s@redis:6379/0" % SECRET}}]},
        {"findings": [{"code": "REDIS_AUTH_FAILED", "evidence": {"encoded": "NotTheProdPass2026%21Rotate"}}]},
        {"history": [{"backup": "/b", "note": {SECRET: 1}}]},
    ],
)
def test_a_run_holding_a_secret_is_refused_without_naming_it(tmp_path: Path, leak: dict[str, Any]) -> None:
    with pytest.raises(rep.ReportError) as err:
        build(make_run(**leak))
    assert "refusing" in str(err.value)
    assert SECRET not in str(err.value) and "NotTheProdPass2026" not in str(err.value)
    assert not list(tmp_path.iterdir())


def test_url_passwords_are_masked_everywhere() -> None:
    report = build()
    text = json.dumps(report)
    assert "redis_password_change_me" not in text
    assert "redis://:%s@redis:6379/0" % MASK in text


def test_leak_check_catches_escaped_forms() -> None:
    with pytest.raises(rep.ReportError):
        render.leak_check({"index.html": "a &amp; b"}, ["a & b"])
    with pytest.raises(rep.ReportError):
        render.leak_check({"x.json": 'say \\"hi\\"'}, ['say "hi"'])
    render.leak_check({"x.md": "nothing here"}, ["a & b", "", None])


# ---------------------------------------------------------------------------
# The JSON document
# ---------------------------------------------------------------------------


def test_json_document_fields_and_severity_order() -> None:
    report = build()
    for field in ("schema_version", "run_id", "generated_at", "host", "mode", "check_mode", "audit", "result",
                  "failure", "user", "started", "finished", "project_dir", "compose_project", "severity", "counts",
                  "containers", "findings", "action_plan", "verification", "verification_overall", "changes",
                  "history"):
        assert field in report, field
    assert report["schema_version"] == 1
    severities = [f["severity"] for f in report["findings"]]
    assert severities == sorted(severities, key=rep.SEVERITY_RANK.__getitem__)
    assert severities[0] == "critical" and severities[-1] == "info"
    assert report["counts"] == {"critical": 2, "medium": 1, "low": 1, "info": 1}
    assert report["severity"] == "critical"
    first = report["findings"][0]
    assert {"code", "severity", "title", "message", "evidence", "check", "fix", "area", "catalogued"} <= set(first)
    assert first["catalogued"] is True and "copilotos_redis_password" in first["fix"]
    # the catalogue gives a severity only when the finding has none
    drift = next(f for f in report["findings"] if f["code"] == "ENV_KEY_DRIFT")
    assert drift["severity"] == "info"
    assert report["changes"]["audit_only"] is True
    assert report["changes"]["changed_keys"] == [] and report["changes"]["would_change_keys"] == ["REDIS_URL",
                                                                                                   "CORS_ORIGINS"]
    assert report["verification_overall"] == "failed"
    json.dumps(report)


def test_unknown_codes_are_kept_and_warned_about() -> None:
    warnings: list[str] = []
    run = make_run(findings=[{"code": "BRAND_NEW", "message": "x"}])
    report = rep.prepare(run, str(CATALOGUE), [], "r", "t", warnings)
    assert report["findings"][0]["code"] == "BRAND_NEW"
    assert report["findings"][0]["catalogued"] is False
    assert report["findings"][0]["severity"] == "medium"
    assert warnings and "BRAND_NEW" in warnings[0]


def test_rolled_back_run_adds_a_critical_finding_and_says_so() -> None:
    run = make_run(mode="remediate", check_mode=False, result="rolled_back", findings=[],
                   failure="health check failed after recreate", backup_path="/var/backups/copilotos/2",
                   changed_keys=["CORS_ORIGINS"], recreated=True, verification={"health": "failed"})
    report = build(run)
    assert report["findings"][0]["code"] == "ROLLED_BACK"
    assert report["verification_overall"] == "rolled_back"
    md = render.render_markdown(report, str(TEMPLATES))
    assert "**Rolled back**" in md and "/var/backups/copilotos/2" in md


@pytest.mark.parametrize(
    ("fail_on", "expected", "codes"),
    [
        ("critical", 2, ["REDIS_URL_PASSWORD_MISMATCH", "LOG_SIGNATURE_REDIS_CONNECTION_FAILED"]),
        ("medium", 3, ["REDIS_URL_PASSWORD_MISMATCH", "LOG_SIGNATURE_REDIS_CONNECTION_FAILED",
                       "SAPTIVA_TIMEOUT_BELOW_PLAN"]),
        ("low", 4, ["REDIS_URL_PASSWORD_MISMATCH", "LOG_SIGNATURE_REDIS_CONNECTION_FAILED",
                    "SAPTIVA_TIMEOUT_BELOW_PLAN", "RATE_LIMIT_BELOW_EXPECTED"]),
        ("never", 0, []),
    ],
)
def test_fail_count_and_codes_at_or_above(fail_on: str, expected: int, codes: list[str]) -> None:
    summary = rep.summary(build(), {}, fail_on)
    assert summary["fail_count"] == expected
    assert summary["fail_codes"] == codes  # most severe first, each once


def test_fail_codes_name_a_repeated_code_once() -> None:
    findings = [{"code": "A", "severity": "medium"}, {"code": "B", "severity": "critical"},
                {"code": "A", "severity": "medium"}]
    assert rep.fail_codes(findings, "medium") == ["B", "A"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (5, "5s"), (65, "1m 5s"), (14400, "4h 0m"), (90000, "1d 1h"), (True, "-")]
)
def test_duration(seconds: Any, text: str) -> None:
    assert render.duration(seconds) == text


def test_md_cell_and_fence() -> None:
    assert render.md_cell("a|b\nc") == "a\\|b c"
    assert render.md_cell(None) == "-"
    assert render.md_fence("x ```` y") == "`````"
    assert render.md_fence("plain") == "```"


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def test_markdown_sections_in_order_like_the_diagnosis() -> None:
    md = render.render_markdown(build(), str(TEMPLATES))
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert [re.sub(r"^## (\d)\..*", r"\1", h) for h in headings] == ["1", "2", "3", "4", "5"]
    assert "Executive summary" in headings[0] and "Findings" in headings[1] and "Action plan" in headings[2]
    assert "Verification" in headings[3] and "Changes" in headings[4]
    assert md.index("### Change history") > md.index("## 5.")
    assert md.startswith("# Diagnosis: lab1")
    assert "**Severity**: 🔴 CRITICAL" in md


def test_markdown_container_table_and_findings_by_severity() -> None:
    md = render.render_markdown(build(), str(TEMPLATES))
    assert "| Service | State | Health | Uptime |" in md
    assert re.search(r"^\| api \| ✅ running \| healthy \| 4h 0m \|", md, re.M)
    assert re.search(r"^\| redis \| ❌ restarting \| unhealthy \| 5s \|", md, re.M)
    assert "1 of 2 containers not running or not healthy" in md
    titles = re.findall(r"^### 2\.\d+\. \S+ .* \((\w+)\)$", md, re.M)
    assert titles == ["critical", "critical", "medium", "low", "info"]
    # each finding carries its evidence and its fix
    section = md[md.index("## 2."):md.index("## 3.")]
    assert section.count("**Evidence**") == 5 and section.count("**Fix**") == 5
    # evidence with a ``` run gets a longer fence, so it cannot break out
    assert "````json" in section


def test_critical_problems_are_listed_once_per_code() -> None:
    run = make_run()
    run["findings"] += [{"code": "CORS_PREFLIGHT_FAILED", "message": "apex"},
                        {"code": "CORS_PREFLIGHT_FAILED", "message": "www"}]
    md = render.render_markdown(build(run), str(TEMPLATES))
    summary = md[md.index("**Critical problems**"):md.index("## 2.")]
    assert summary.count("`CORS_PREFLIGHT_FAILED`") == 1 and "`CORS_PREFLIGHT_FAILED`) ×2" in summary  # noqa: RUF001
    assert md.count("(`CORS_PREFLIGHT_FAILED`)") == 1 and md.count("**Code**: `CORS_PREFLIGHT_FAILED`") == 2


def test_docker_status_shape_is_accepted_for_containers() -> None:
    run = make_run(containers=[{"name": "copilotos-lab1-api-1", "service": "api", "status": "running", "health": "none",
                                "uptime_s": 61, "image": "x"},
                               {"name": "copilotos-lab1-web-1", "status": "exited", "health": "none"}])
    report = build(run)
    assert [c["state"] for c in report["containers"]] == ["running", "exited"]
    assert report["containers"][1]["service"] == "copilotos-lab1-web-1"
    md = render.render_markdown(report, str(TEMPLATES))
    assert "| api | ✅ running | none | 1m 1s |" in md
    assert "1 of 2 containers not running or not healthy" in md


def test_markdown_action_plan_verification_and_changes() -> None:
    md = render.render_markdown(build(), str(TEMPLATES))
    plan = md[md.index("## 3."):md.index("## 4.")]
    assert plan.index("Step 1: Redis") < plan.index("SAPTIVA timeouts") < plan.index("Rate limit")
    assert "remediate.yml --limit lab1" in plan
    assert "| redis_auth | ❌ failed |" in md
    assert "**Audit only, nothing changed.**" in md
    assert "| 2026-11-28T06:00:00Z | ops | REDIS_URL | /var/backups/copilotos/1 | yes | passed |" in md


def test_markdown_of_a_remediation_lists_keys_and_backup() -> None:
    run = make_run(mode="remediate", check_mode=False, result="remediated", findings=[],
                   backup_path="/var/backups/copilotos/20261129T060000Z", recreated=True, override_changed=True,
                   verification={k: "passed" for k in rep.VERIFY_STEPS})
    md = render.render_markdown(build(run), str(TEMPLATES))
    assert "- Keys changed: `REDIS_URL`, `CORS_ORIGINS`" in md
    assert "- api recreated: yes" in md and "/var/backups/copilotos/20261129T060000Z" in md
    assert "**No finding**" in md and "Nothing to do." in md
    assert "Overall: ✅ passed" in md


# ---------------------------------------------------------------------------
# HTML index
# ---------------------------------------------------------------------------


def test_index_matrix_cells_and_expandable_findings() -> None:
    one = build()
    two = build(make_run(host="lab2", findings=[], result="compliant", verification={}))
    page = render.render_index([two, one], "20261129T060000Z", "2026-11-29T06:02:00Z", str(TEMPLATES))
    assert 'id="severity-matrix"' in page
    rows = re.findall(r'<tr class="host-row" data-host="([^"]+)">', page)
    assert rows == ["lab1", "lab2"]
    lab1 = page[page.index('data-host="lab1">'):page.index('data-host="lab2">')]
    assert '<td class="num sev-critical" data-severity="critical">2</td>' in lab1
    assert '<td class="num sev-medium" data-severity="medium">1</td>' in lab1
    lab2 = page[page.index('data-host="lab2">'):page.index("</tbody>")]
    assert lab2.count('class="num zero"') == 4
    assert page.count('<tr class="finding ') == 5
    assert page.count("<details>") == 5
    # escaped, never live markup
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "<link" not in page and "src=" not in page


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def test_write_reports_modes_latest_link_and_shared_index(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    run_dir = base / "20261129T060000Z"
    latest = base / "latest"
    files1 = rio.write_reports(build(), str(run_dir), str(TEMPLATES), [SECRET], str(latest))
    files2 = rio.write_reports(build(make_run(host="lab2")), str(run_dir), str(TEMPLATES), [SECRET], str(latest))
    assert stat.S_IMODE(os.stat(base).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    for path in [*files1.values(), *files2.values()]:
        if path == str(latest):
            continue
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".")) == [
        "index.html", "lab1.json", "lab1.md", "lab2.json", "lab2.md"]
    assert os.path.islink(latest) and os.readlink(latest) == "20261129T060000Z"
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert 'data-host="lab1"' in index and 'data-host="lab2"' in index
    doc = json.loads((run_dir / "lab1.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1 and doc["host"] == "lab1"
    for path in run_dir.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8")
    # a newer run moves the link
    rio.write_reports(build(), str(base / "20261129T070000Z"), str(TEMPLATES), [], str(latest))
    assert os.readlink(latest) == "20261129T070000Z"


def test_latest_refuses_to_replace_a_real_directory(tmp_path: Path) -> None:
    (tmp_path / "latest").mkdir()
    with pytest.raises(rep.ReportError):
        rio.write_reports(build(), str(tmp_path / "r1"), str(TEMPLATES), [], str(tmp_path / "latest"))


def test_unsafe_host_names_become_safe_file_names(tmp_path: Path) -> None:
    files = rio.write_reports(build(make_run(host="../evil/host")), str(tmp_path / "r"), str(TEMPLATES), [])
    assert os.path.dirname(files["json"]) == str(tmp_path / "r")
    assert os.path.basename(files["json"]) == "_evil_host.json"


def test_foreign_json_files_are_ignored_by_the_index(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "other.json").write_text('{"not": "a report"}', encoding="utf-8")
    (run_dir / "broken.json").write_text("{", encoding="utf-8")
    rio.write_reports(build(), str(run_dir), str(TEMPLATES), [])
    assert [r["host"] for r in rio.load_reports(str(run_dir))] == ["lab1"]


# ---------------------------------------------------------------------------
# Summary callback formatting
# ---------------------------------------------------------------------------


def test_summary_table_lines() -> None:
    report = build()
    s1 = rep.summary(report, {"markdown": "/r/lab1.md", "index": "/r/index.html"}, "critical")
    s2 = copy.deepcopy(s1)
    s2.update(host="lab2", audit=False, changed_keys=["REDIS_URL"], recreated=True, verification="rolled_back")
    lines = copilotos_summary.format_table({"lab2": s2, "lab1": s1})
    assert lines[0].split()[:5] == ["host", "critical", "medium", "low", "info"]
    assert lines[1].split()[:8] == ["lab1", "2", "1", "1", "1", "audit", "only", "no"]
    assert "ROLLED BACK" in lines[2] and lines[2].split()[5:7] == ["1", "yes"]
    assert lines[-1] == "index: /r/index.html"


def test_unreachable_run_says_so_in_its_overall_verification() -> None:
    run = make_run(mode="audit", check_mode=True, result="unreachable", findings=[], verification={},
                   failure="unreachable: no connection to deploy@192.0.2.7:22; nothing was read or changed there")
    report = build(run)
    assert report["result"] == "unreachable"
    assert report["verification_overall"] == "unreachable"
    assert "192.0.2.7:22" in render.render_markdown(report, str(TEMPLATES))


# ---------------------------------------------------------------------------
# The post-change record (the diagnosis's production checklist)
# ---------------------------------------------------------------------------

HOSTILE = "<img src=x onerror=alert(1)> | `code` [link](javascript:alert(1)) <script>alert(2)</script>"


def changed_run(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        mode="remediate", check_mode=False, result="remediated", findings=[],
        backup_path="/var/backups/copilotos/20261129T060000Z", recreated=True, override_changed=True,
        started_before="2026-11-29T02:00:00.123456789Z", started_after="2026-11-29T06:00:40.5Z",
        log_watch={"window_s": 5, "since": "2026-11-29T06:00:40Z", "scanned_lines": 42,
                   "counts": {"cors_rejected": 1, "redis_connection_failed": 3}},
        verification={"redis_auth": "passed", "health": "passed", "cors": "failed", "logs": "failed"},
    )
    values.update(overrides)
    return make_run(**values)


def test_post_change_record_after_a_change() -> None:
    report = build(changed_run())
    pc = report["post_change"]
    assert pc["backup_path"] == "/var/backups/copilotos/20261129T060000Z"
    assert pc["changed_keys"] == ["REDIS_URL", "CORS_ORIGINS"] and pc["override_changed"] is True
    assert pc["restart"] == {"recreated": True, "service": "api", "started_before": "2026-11-29T02:00:00.123456789Z",
                             "started_after": "2026-11-29T06:00:40.5Z"}
    assert pc["verification"] == [{"step": "redis_auth", "result": "passed"}, {"step": "health", "result": "passed"},
                                  {"step": "cors", "result": "failed"}, {"step": "logs", "result": "failed"}]
    assert pc["verification_overall"] == "failed"
    assert pc["log_watch"] == {
        "window_s": 5, "since": "2026-11-29T06:00:40Z", "scanned_lines": 42, "matches": 4,
        "signatures": [
            {"signature": "redis_connection_failed", "code": "LOG_SIGNATURE_REDIS_CONNECTION_FAILED", "count": 3},
            {"signature": "cors_rejected", "code": "LOG_SIGNATURE_CORS_REJECTED", "count": 1},
        ]}
    # finished 2026-11-29T06:01:00Z + the default 48 h
    assert pc["next_audit"] == {"after_hours": 48, "from": "2026-11-29T06:01:00Z", "at": "2026-12-01T06:01:00Z"}
    assert pc["rolled_back"] is False
    json.dumps(report)


def test_post_change_next_audit_interval_is_configurable() -> None:
    report = rep.prepare(changed_run(), str(CATALOGUE), [SECRET], "r", "2026-11-29T06:01:01Z", [], 6)
    assert report["post_change"]["next_audit"]["at"] == "2026-11-29T12:01:00Z"
    # no finish time recorded: counted from the report's own time
    report = rep.prepare(changed_run(finished=None), str(CATALOGUE), [], "r", "2026-11-29T06:01:01Z", [], 1)
    assert report["post_change"]["next_audit"]["at"] == "2026-11-29T07:01:01Z"
    for bad in (0, -1, True, "48"):
        with pytest.raises(rep.ReportError, match="next_audit_hours"):
            rep.prepare(changed_run(), str(CATALOGUE), [], "r", "t", [], bad)


def test_post_change_markdown_section_lists_the_checklist() -> None:
    md = render.render_markdown(build(changed_run()), str(TEMPLATES))
    headings = re.findall(r"^## (\d)\.", md, re.M)
    assert headings == ["1", "2", "3", "4", "5", "6"]
    section = md[md.index("## 6."):]
    assert "Post-change record" in section.splitlines()[0]
    assert "| Backup of the configuration before the change | ✅ `/var/backups/copilotos/20261129T060000Z` |" in section
    assert "| Keys changed (names only) | `REDIS_URL`, `CORS_ORIGINS`; compose override written |" in section
    assert ("✅ recreated: StartedAt `2026-11-29T02:00:00.123456789Z` → `2026-11-29T06:00:40.5Z`" in section)
    assert "| Run the verification tests | ❌ failed (2 passed, 2 failed, 0 skipped) |" in section
    assert ("5 s watched, 42 line(s) read since `2026-11-29T06:00:40Z`: `redis_connection_failed` ×3, "  # noqa: RUF001
            "`cors_rejected` ×1 |") in section  # noqa: RUF001
    assert "next scheduled audit at 2026-12-01T06:01:00Z (48 h after the run)" in section
    assert "| cors | ❌ failed |" in section
    assert "| redis_connection_failed | `LOG_SIGNATURE_REDIS_CONNECTION_FAILED` | 3 |" in section


def test_post_change_section_in_the_index() -> None:
    page = render.render_index([build(changed_run())], "r", "t", str(TEMPLATES))
    section = page[page.index('<section class="post-change" id="post-change-lab1">'):page.index("</section>")]
    assert "<code>/var/backups/copilotos/20261129T060000Z</code>" in section
    assert "<code>REDIS_URL</code>, <code>CORS_ORIGINS</code>" in section
    assert "<code>2026-11-29T02:00:00.123456789Z</code> → <code>2026-11-29T06:00:40.5Z</code>" in section
    assert "cors failed" in section and "5 s, 42 line(s)" in section
    assert "<code>redis_connection_failed</code> ×3" in section  # noqa: RUF001
    assert '<time datetime="2026-12-01T06:01:00Z">' in section


def test_an_audit_has_no_post_change_record() -> None:
    report = build()  # an audit that would change keys
    assert report["post_change"] is None
    md = render.render_markdown(report, str(TEMPLATES))
    assert "## 6." not in md and "Post-change record" not in md
    assert "**Audit only, nothing changed.**" in md
    page = render.render_index([report], "r", "t", str(TEMPLATES))
    assert "No change was made in this run: no post-change record." in page
    assert '<section class="post-change"' not in page


def test_a_remediation_that_changed_nothing_has_no_post_change_record() -> None:
    run = changed_run(changed_keys=[], override_changed=False, recreated=False, result="compliant", backup_path=None)
    report = build(run)
    assert report["post_change"] is None
    md = render.render_markdown(report, str(TEMPLATES))
    assert "## 6." not in md and "**Nothing to change**" in md


def test_a_refused_run_has_no_post_change_record() -> None:
    assert build(changed_run(result="refused", failure="refused: placeholder password"))["post_change"] is None


def test_a_rolled_back_run_keeps_its_post_change_record() -> None:
    run = changed_run(result="rolled_back", failure="health check failed after recreate", log_watch=None)
    report = build(run)
    pc = report["post_change"]
    assert pc["rolled_back"] is True and pc["log_watch"] is None
    md = render.render_markdown(report, str(TEMPLATES))
    section = md[md.index("## 6."):]
    assert "**rolled back**" in section and "Keys changed (names only), then restored" in section
    assert "➖ the log probe did not run" in section  # noqa: RUF001


def test_post_change_without_a_recreate_names_the_unchanged_start() -> None:
    report = build(changed_run(recreated=False, started_after=None))
    assert report["post_change"]["restart"]["started_after"] is None
    md = render.render_markdown(report, str(TEMPLATES))
    assert "➖ not recreated (StartedAt `2026-11-29T02:00:00.123456789Z`)" in md  # noqa: RUF001


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"log_watch": "5s"}, "run.log_watch"),
        ({"log_watch": {"window_s": -1}}, "run.log_watch.window_s"),
        ({"log_watch": {"counts": {"x": "3"}}}, "run.log_watch.counts"),
        ({"started_after": 5}, "run.started_after"),
    ],
)
def test_invalid_post_change_data_is_refused(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(rep.ReportError) as err:
        build(changed_run(**change))
    assert needle in str(err.value)


# ---------------------------------------------------------------------------
# Untrusted text stays text
# ---------------------------------------------------------------------------


def hostile_run() -> dict[str, Any]:
    return changed_run(
        failure=HOSTILE,
        containers=[{"service": HOSTILE, "state": "running", "health": HOSTILE, "image": HOSTILE}],
        findings=[{"code": "CORS_ORIGIN_MISSING", "message": HOSTILE, "fix": HOSTILE,
                   "where": [{"file": "/srv/`x`|<b>.env", "line": 3, "key": HOSTILE, "note": HOSTILE},
                             {"container": HOSTILE}],
                   "symptoms": [{"code": "LOG_SIGNATURE_CORS_REJECTED", "message": HOSTILE}],
                   "evidence": {"line": HOSTILE, "fence": "```` and ```"}}],
        changed_keys=["CORS_ORIGINS", HOSTILE],
        backup_path="/var/backups/`a`|<b>",
        log_watch={"window_s": 5, "counts": {HOSTILE: 2}},
        history=[{"time": HOSTILE, "user": HOSTILE, "changed_keys": [HOSTILE], "backup": HOSTILE}],
    )


def test_md_text_and_md_code_escape_host_text() -> None:
    assert render.md_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert render.md_text("a|b `c` [d](e) \\ & x\ny") == "a\\|b \\`c\\` \\[d\\](e) \\\\ &amp; x y"
    assert render.md_code("plain") == "`plain`"
    assert render.md_code("a ``b`` c") == "```a ``b`` c```"
    assert render.md_code("`edge`") == "`` `edge` ``"
    assert render.md_code_cell("a|b") == "`a\\|b`"
    assert render.md_code(None) == "`-`"


def markdown_to_html(text: str) -> str:
    import markdown_it
    # CommonMark with raw HTML allowed (as GitHub's renderer before its sanitizer), plus GFM tables.
    return str(markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text))


def test_markdown_of_hostile_host_text_renders_as_text() -> None:
    md = render.render_markdown(build(hostile_run()), str(TEMPLATES))
    # raw markup is left only inside code spans and the evidence fence, where nothing is interpreted
    prose = re.sub(r"^(`{3,})json\n.*?^\1$", "", md, flags=re.S | re.M)
    prose = re.sub(r"(`+) .*? \1|(`+)[^`].*?\2", "", prose)
    assert "<img" not in prose and "<script" not in prose and "<b>" not in prose
    rendered = markdown_to_html(md)
    for tag in ("<img", "<script", "<b>", "<a "):
        assert tag not in rendered, tag
    # shown as the text it is
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in rendered
    # code spans hold the host text whole: the backticks inside cannot close them
    assert "<code>/srv/`x`|&lt;b&gt;.env:3</code>" in rendered
    # every table row keeps its column count: a host pipe cannot add a cell
    for table in re.findall(r"<table>.*?</table>", rendered, re.S):
        head = len(re.findall(r"<th[ >]", table[:table.index("</thead>")]))
        for row in re.findall(r"<tbody>.*?</tbody>", table, re.S)[0].split("<tr>")[1:]:
            assert len(re.findall(r"<td[ >]", row)) == head, row
    # the evidence fence is longer than any backtick run in it
    assert "`````json" in md


def test_index_of_hostile_host_text_is_escaped() -> None:
    page = render.render_index([build(hostile_run())], "r", "t", str(TEMPLATES))
    assert "<img" not in page and "<script" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "|safe" not in (TEMPLATES / "index.html.j2").read_text(encoding="utf-8")
    assert "| safe" not in (TEMPLATES / "index.html.j2").read_text(encoding="utf-8")


def test_index_carries_a_strict_csp_whose_hash_matches_its_style() -> None:
    import base64
    import hashlib

    page = render.render_index([build(changed_run())], "r", "t", str(TEMPLATES))
    metas = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert len(metas) == 1
    policy = metas[0].replace("&#39;", "'")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert "script-src" not in directives and "unsafe-inline" not in policy
    # the CSP is in the head before the only style element, and no style attribute needs unsafe-hashes
    assert page.index("Content-Security-Policy") < page.index("<style>") < page.index("</head>")
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(styles) == 1 and "style=" not in page and "<script" not in page
    digest = base64.b64encode(hashlib.sha256(styles[0].encode("utf-8")).digest()).decode("ascii")
    assert directives["style-src"] == "'sha256-%s'" % digest


def test_leak_check_catches_markdown_escaped_secrets() -> None:
    with pytest.raises(rep.ReportError):
        render.leak_check({"x.md": "pw: a\\|b\\`c"}, ["a|b`c"])
