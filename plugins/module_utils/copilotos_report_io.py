# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a run's reports on the controller: the run directory (0700), ``<host>.json`` and
``<host>.md`` (0600, atomic), ``index.html`` rebuilt from every host's JSON under a file
lock, and the ``latest`` link."""

from __future__ import annotations

import fcntl
import glob
import json
import os
from collections.abc import Iterable
from typing import Any

from .copilotos_common import ModuleFailure, atomic_write, one_line
from .copilotos_report import SCHEMA_VERSION, ReportError, prepare, safe_host_name, summary, utc_now
from .copilotos_report_render import leak_check, render_index, render_markdown


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (and a missing parent) with mode 0700; tighten an existing run dir."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.chmod(parent, 0o700)
    if os.path.islink(path):
        raise ReportError("report directory %s is a symbolic link; give the real path" % path)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def load_reports(report_dir: str) -> list[dict[str, Any]]:
    """Every ``<host>.json`` report (schema_version 1) of a run directory."""
    reports = []
    for path in sorted(glob.glob(os.path.join(report_dir, "*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION and data.get("host"):
            reports.append(data)
    return reports


def update_latest(latest_link: str, report_dir: str) -> None:
    """Point ``latest_link`` at ``report_dir`` (relative when they share a parent)."""
    if os.path.exists(latest_link) and not os.path.islink(latest_link):
        raise ReportError("%s exists and is not a symbolic link; not replacing it" % latest_link)
    link_parent = os.path.dirname(os.path.abspath(latest_link))
    target = os.path.relpath(os.path.abspath(report_dir), link_parent)
    if os.path.islink(latest_link) and os.readlink(latest_link) == target:
        return
    tmp = os.path.join(link_parent, ".%s.%d.tmp" % (os.path.basename(latest_link), os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, latest_link)


def write_reports(
    report: dict[str, Any],
    report_dir: str,
    template_dir: str,
    secrets: Iterable[str | None],
    latest_link: str | None = None,
) -> dict[str, str]:
    """Write ``<host>.json``, ``<host>.md`` and the run's ``index.html``.

    Hosts of one run write concurrently into one directory: everything after
    the directory creation happens under an exclusive lock on
    ``<report_dir>/.lock``, and the index is rebuilt from every host's JSON.
    Returns the paths written (``json``, ``markdown``, ``index``, ``latest``).
    """
    secrets = list(secrets)
    name = safe_host_name(report["host"])
    json_text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    md_text = render_markdown(report, template_dir)
    leak_check({"%s.json" % name: json_text, "%s.md" % name: md_text}, secrets)
    ensure_private_dir(report_dir)
    files = {
        "json": os.path.join(report_dir, "%s.json" % name),
        "markdown": os.path.join(report_dir, "%s.md" % name),
        "index": os.path.join(report_dir, "index.html"),
    }
    lock_path = os.path.join(report_dir, ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        atomic_write(files["json"], json_text.encode("utf-8"))
        atomic_write(files["markdown"], md_text.encode("utf-8"))
        reports = load_reports(report_dir)
        index_text = render_index(reports, report.get("run_id", ""), utc_now(), template_dir)
        leak_check({"index.html": index_text}, secrets)
        atomic_write(files["index"], index_text.encode("utf-8"))
        if latest_link:
            update_latest(latest_link, report_dir)
            files["latest"] = latest_link
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return files


def produce(params: dict[str, Any], check_mode: bool) -> tuple[dict[str, Any], list[str]]:
    """The result of copilotos_report for validated ``params`` and its warnings; ModuleFailure on a bad run.

    In check mode the Markdown is rendered (so a template error still shows)
    and nothing is written.
    """
    report_dir = os.path.abspath(params["report_dir"])
    run_id = params["run_id"] or os.path.basename(report_dir.rstrip("/"))
    warnings: list[str] = []
    try:
        report = prepare(params["run"], params["catalogue"], params["secrets"], run_id, utc_now(), warnings,
                         params["next_audit_hours"])
        if check_mode:
            render_markdown(report, params["template_dir"])
            files: dict[str, str] = {}
        else:
            files = write_reports(report, report_dir, params["template_dir"], params["secrets"], params["latest_link"])
    except ReportError as exc:
        raise ModuleFailure(str(exc)) from None
    except OSError as exc:
        why = one_line(exc.strerror or exc)
        raise ModuleFailure("cannot write the reports under %s: %s" % (report_dir, why)) from None
    short = summary(report, files, params["fail_on"])
    counts = ", ".join("%d %s" % (n, s) for s, n in short["counts"].items())
    where = files.get("markdown", "nothing written (check mode)")
    result = {
        "changed": bool(files),
        "files": files,
        "summary": short,
        "msg": "%s: %s; %s" % (short["host"], counts, where),
    }
    return result, warnings
