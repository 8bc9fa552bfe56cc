# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report document: Markdown laid out like the diagnosis, the run's index.html
(autoescaped, under a strict Content-Security-Policy), and the check that no rendered
text holds a secret."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections.abc import Iterable
from typing import Any

from .copilotos_common import SEVERITIES, secret_forms
from .copilotos_report import SCHEMA_VERSION, ReportError, safe_host_name, severity_key

try:
    import jinja2

    HAS_JINJA2 = True
except ImportError:  # pragma: no cover - jinja2 ships with ansible-core on the controller
    HAS_JINJA2 = False


STYLE_TEMPLATE = "index.css"  # included verbatim inside <style>; its hash goes into the page's CSP
SEVERITY_ICONS = {"critical": "🔴", "medium": "🟡", "low": "🟢", "info": "🔵"}
VERIFY_ICONS = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "rolled_back": "↩️", "not_run": "-", "unreachable": "⛔"}


_MD_ESCAPE = re.compile(r"([\\`\[\]|])")


def md_text(value: Any) -> str:
    """Host text as inert Markdown prose (also safe inside a table cell).

    One line (whitespace collapsed: no block can start inside it); ``\\``,
    backticks, brackets and pipes backslash-escaped (no code span, link,
    image or table cell can open or close); ``&``, ``<`` and ``>`` as HTML
    entities (no raw HTML, no autolink). Rendered, it shows the text as given.
    """
    text = "-" if value is None or value == "" else str(value)
    return html.escape(_MD_ESCAPE.sub(r"\\\1", " ".join(text.split())), quote=False)


md_cell = md_text  # the table-cell name the templates used first


def md_code(value: Any, in_table: bool = False) -> str:
    """Host text as one inline code span that it cannot close.

    The delimiter is a backtick run longer than any inside the text, padded
    with a space when the text starts or ends with a backtick. Inside a code
    span nothing else is interpreted, so no HTML escaping is needed (it would
    show); in a table cell (``in_table``) pipes are escaped, which GFM undoes.
    """
    text = "-" if value is None or value == "" else " ".join(str(value).split())
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return "%s%s%s%s%s" % (fence, pad, text, pad, fence)


def md_code_cell(value: Any) -> str:
    """``md_code`` for a table cell."""
    return md_code(value, in_table=True)


def md_fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    runs = [len(run) for run in re.findall(r"`+", text)]
    return "`" * max(3, max(runs, default=0) + 1)


def duration(seconds: Any) -> str:
    """``4h 2m`` style uptime from seconds (``-`` when unknown)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return "-"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return "%dd %dh" % (days, hours)
    if hours:
        return "%dh %dm" % (hours, minutes)
    if minutes:
        return "%dm %ds" % (minutes, secs)
    return "%ds" % secs


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def container_ok(container: dict[str, Any]) -> bool:
    return container.get("state") == "running" and container.get("health") in (None, "", "healthy", "none")


def _environment(template_dir: str) -> Any:
    if not HAS_JINJA2:
        raise ReportError("jinja2 is needed to render the reports")
    if not os.path.isdir(template_dir):
        raise ReportError("template directory %s does not exist" % template_dir)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md_cell=md_cell, md_text=md_text, md_code=md_code, md_code_cell=md_code_cell,
                       md_fence=md_fence, duration=duration, pretty_json=pretty_json)
    env.globals.update(
        severities=SEVERITIES,
        severity_icons=SEVERITY_ICONS,
        verify_icons=VERIFY_ICONS,
        container_ok=container_ok,
        schema_version=SCHEMA_VERSION,
    )
    return env


def render_markdown(report: dict[str, Any], template_dir: str) -> str:
    template = _environment(template_dir).get_template("report.md.j2")
    return str(template.render(report=report, file=safe_host_name(report["host"])))


def style_hash(style: str) -> str:
    """The CSP source (``'sha256-...'``) that allows exactly this inline <style> text."""
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")


def content_security_policy(style: str) -> str:
    """The page's policy: nothing loads or runs but its own inline style; no base, no form target."""
    return "default-src 'none'; style-src %s; base-uri 'none'; form-action 'none'" % style_hash(style)


def render_index(reports: list[dict[str, Any]], run_id: str, generated_at: str, template_dir: str) -> str:
    """The run's index.html from the reports of every host (sorted by host)."""
    reports = sorted(reports, key=lambda item: str(item.get("host", "")))
    rows = []
    for report in reports:
        for item in report.get("findings", []):
            rows.append({"host": report["host"], "file": safe_host_name(report["host"]), **item})
    rows.sort(key=lambda item: (*severity_key(item)[:1], item["host"], *severity_key(item)[1:]))
    totals = dict.fromkeys(SEVERITIES, 0)
    for report in reports:
        for severity in SEVERITIES:
            totals[severity] += int(report.get("counts", {}).get(severity, 0))
    env = _environment(template_dir)
    style = str(env.get_template(STYLE_TEMPLATE).render())
    return str(
        env.get_template("index.html.j2").render(
            reports=[dict(report, file=safe_host_name(report["host"])) for report in reports],
            findings=rows,
            totals=totals,
            run_id=run_id,
            generated_at=generated_at,
            csp=content_security_policy(style),
        )
    )


def leak_check(texts: dict[str, str], secrets: Iterable[str | None]) -> None:
    """Raise when a rendered text holds a secret (plain, encoded or HTML-escaped)."""
    forms = secret_forms(secrets)
    forms += [html.escape(form) for form in forms]
    forms += [json.dumps(form)[1:-1] for form in forms]
    forms += [md_text(form) for form in forms] + [form.replace("|", "\\|") for form in forms]
    for name, text in texts.items():
        if any(form and form in text for form in forms):
            raise ReportError("the rendered %s would contain a secret value; nothing was written" % name)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------
