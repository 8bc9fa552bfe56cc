# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker Compose v2 CLI helpers for compose_apply.

Why the config hash is computed the way it is (verified with Compose
v2.40.3 against Docker 20.10):

* ``docker compose up`` labels each container with
  ``com.docker.compose.config-hash``: the SHA-256 of the service config after
  interpolation *and* after the ``env_file`` contents were merged into
  ``environment``.
* ``docker compose config --hash SERVICE`` loads the project *without*
  resolving ``env_file`` (``WithoutEnvironmentResolution``), so for a service
  with an ``env_file`` it neither equals the label nor changes when a value in
  the env file changes. It does change when a ``.env`` interpolation value
  changes.
* ``docker compose config --format json`` does resolve ``env_file`` into
  ``environment`` and drops ``env_file``. Feeding that rendered model back
  through ``docker compose -f - config --hash SERVICE`` therefore yields
  exactly the label ``up`` would write. Both commands are read-only.

Nothing here ever calls ``up --dry-run``: a detached dry run has recreated
containers in a known Compose bug.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import TYPE_CHECKING, Any

from .copilotos_common import mask_text, mask_url_passwords, one_line

CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
IMAGE_LABEL = "com.docker.compose.image"

# Environment keys whose values are treated as secrets when masking messages.
SECRET_KEY_RE = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE|_URL$|_URI$|DSN", re.IGNORECASE)

if TYPE_CHECKING:  # an alias for annotations only: target Pythons from 3.8 import this file
    from collections.abc import Callable

    # run(args, data=None, environ_update=None) -> (rc, stdout, stderr); module.run_command fits.
    Runner = Callable[..., tuple[int, str, str]]


class ComposeError(Exception):
    """A Compose problem, with a one-line, already masked message."""


def split_command(compose_command: Any) -> list[str]:
    """``docker compose`` (string or list) as an argv prefix."""
    if isinstance(compose_command, (list, tuple)):
        parts = [str(p) for p in compose_command]
    else:
        parts = shlex.split(str(compose_command or ""))
    if not parts:
        raise ComposeError("compose_command is empty")
    return parts


def base_args(
    command: list[str],
    project_name: str,
    project_dir: str,
    files: list[str] | None = None,
    env_files: list[str] | None = None,
) -> list[str]:
    """The global part of every compose call: project, directory, env files, files.

    Compose resolves relative ``-f`` and ``--env-file`` paths against the
    working directory, so callers pass absolute paths (and run with
    cwd=project_dir as well).
    """
    args = [*command, "-p", project_name, "--project-directory", project_dir]
    for env_file in env_files or []:
        args += ["--env-file", env_file]
    for compose_file in files or []:
        args += ["-f", compose_file]
    return args


def up_args(base: list[str], service: str, recreate: str = "auto") -> list[str]:
    """``up -d --no-deps [--force-recreate] SERVICE``; never ``restart``."""
    args = [*base, "up", "-d", "--no-deps"]
    if recreate == "always":
        args.append("--force-recreate")
    args.append(service)
    return args


def config_args(base: list[str], service: str) -> list[str]:
    """Read-only: the rendered model of ``service`` (and its dependencies) as JSON."""
    return [*base, "config", "--format", "json", service]


def hash_args(command: list[str], project_name: str, project_dir: str, service: str) -> list[str]:
    """Read-only: hash a rendered model given on stdin (see the module docstring)."""
    return [*command, "-p", project_name, "--project-directory", project_dir, "-f", "-", "config", "--hash", service]


def parse_hash_output(stdout: str, service: str) -> str | None:
    """Pick ``service``'s hash from ``config --hash`` output (``name hash`` lines)."""
    for line in (stdout or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == service and re.fullmatch(r"[0-9a-f]{64}", parts[1]):
            return parts[1]
    return None


def unescape_dollars(value: Any) -> Any:
    """``config`` output doubles every ``$``; undo that for comparisons."""
    return value.replace("$$", "$") if isinstance(value, str) else value


def rendered_service(model: dict[str, Any], service: str) -> dict[str, Any]:
    services = model.get("services") or {}
    if service not in services:
        raise ComposeError(
            "service %r is not defined in the Compose project (services: %s)" % (service, ", ".join(sorted(services)))
        )
    return dict(services[service] or {})


def rendered_env(service_config: dict[str, Any]) -> dict[str, str | None]:
    """The service environment as Compose will pass it (``$$`` unescaped)."""
    env = service_config.get("environment") or {}
    if isinstance(env, list):  # not produced by config --format json, but be lenient
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): (None if v is None else str(unescape_dollars(v))) for k, v in env.items()}


def rendered_image(service_config: dict[str, Any], project_name: str, service: str) -> str:
    return str(service_config.get("image") or "%s-%s" % (project_name, service))


def env_drift(
    rendered: dict[str, str | None], container: dict[str, str], image_env: dict[str, str] | None = None
) -> list[str]:
    """Names (never values) of keys whose container value differs from the rendered one.

    A key set to null in the rendered model is not passed by Compose, so it
    is not compared. A key only in the container counts unless the image
    itself sets it to that value (``PATH`` and the like).
    """
    image_env = image_env or {}
    drift = set()
    for key, value in rendered.items():
        if value is None:
            continue
        if container.get(key) != value:
            drift.add(key)
    for key, value in container.items():
        if key not in rendered and image_env.get(key) != value:
            drift.add(key)
    return sorted(drift)


def secret_values(env: dict[str, str | None], extra: list[str] | None = None) -> list[str]:
    """Values to mask in messages: secret-looking keys plus ``extra``."""
    values = [v for k, v in env.items() if v and SECRET_KEY_RE.search(k)]
    return values + [s for s in (extra or []) if s]


def mask_output(text: Any, secrets: list[str]) -> str:
    return mask_url_passwords(mask_text(text, secrets))


def first_error_line(stderr: str) -> str:
    """The first meaningful line of Compose's stderr (skipping warnings)."""
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    for line in lines:
        if "level=warning" not in line:
            return line
    return lines[0] if lines else "(no output)"


def predict(
    state: dict[str, Any] | None,
    labels: dict[str, str],
    rendered_hash: str | None,
    image_id: str | None,
    drift_keys: list[str],
    recreate: str,
) -> tuple[bool, list[str]]:
    """Would ``up -d`` change the container, and why (reason names)."""
    if state is None:
        return True, ["container_missing"]
    reasons = []
    if recreate == "always":
        reasons.append("forced")
    if rendered_hash is not None and labels.get(CONFIG_HASH_LABEL) != rendered_hash:
        reasons.append("config_hash")
    if image_id is not None and labels.get(IMAGE_LABEL) and labels.get(IMAGE_LABEL) != image_id:
        reasons.append("image")
    if image_id is None:
        reasons.append("image_missing")
    if rendered_hash is None and drift_keys:
        reasons.append("environment")
    if state.get("status") != "running":
        reasons.append("not_running")
    return bool(reasons), reasons


class HealthTimeout(Exception):
    pass


def wait_healthy(
    fetch_state: Callable[[], dict[str, Any] | None],
    timeout: float,
    interval: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until healthy (or running without healthcheck).

    Returns the last state. Raises ComposeError with the reason when the
    container is unhealthy, exited, missing, or the timeout passes; the
    exception carries ``state`` for the caller.
    """
    deadline = clock() + timeout
    state: dict[str, Any] | None = None
    while True:
        state = fetch_state()
        if state is not None:
            status, health = state.get("status"), state.get("health")
            if status == "running" and health in ("healthy", "none", None):
                return state
            if health == "unhealthy":
                raise _health_error("is unhealthy", state)
            if status in ("exited", "dead"):
                raise _health_error("has %s" % status, state)
        if clock() >= deadline:
            raise _health_error("did not become healthy within %ss" % int(timeout), state)
        sleep(interval)


def _health_error(what: str, state: dict[str, Any] | None) -> ComposeError:
    err = ComposeError(what)
    err.state = state  # type: ignore[attr-defined]
    return err


class ComposeProject:
    """Read-only and ``up`` calls for one service of one Compose project."""

    def __init__(
        self,
        run: Runner,
        command: list[str],
        project_name: str,
        project_dir: str,
        files: list[str] | None = None,
        env_files: list[str] | None = None,
        environ: dict[str, str] | None = None,
        secrets: list[str] | None = None,
    ) -> None:
        self.run = run
        self.command = command
        self.project_name = project_name
        self.project_dir = project_dir
        self.base = base_args(command, project_name, project_dir, files, env_files)
        self.environ = environ or {}
        self.secrets: list[str] = list(secrets or [])

    def _call(self, args: list[str], data: str | None = None) -> tuple[int, str, str]:
        kwargs: dict[str, Any] = {
            "environ_update": self.environ,
            "cwd": self.project_dir,
            "expand_user_and_vars": False,
        }
        if data is not None:
            kwargs["data"] = data
            kwargs["binary_data"] = True
        return self.run(args, **kwargs)

    def render(self, service: str) -> tuple[dict[str, Any], str]:
        """The rendered model (values are secrets!) and its raw JSON text."""
        rc, out, err = self._call(config_args(self.base, service))
        if rc != 0:
            line = first_error_line(err)
            if "no such service" in line:
                raise ComposeError("service %r is not defined in Compose project %r" % (service, self.project_name))
            raise ComposeError(
                "docker compose config failed in %s: %s"
                % (self.project_dir, one_line(mask_output(line, self.secrets), 240))
            )
        try:
            model = json.loads(out)
        except ValueError:
            raise ComposeError("docker compose config in %s did not print JSON" % self.project_dir) from None
        return model, out

    def rendered_hash(self, rendered_json: str, service: str) -> str | None:
        """The config-hash ``up`` would label the container with, or None if unknown."""
        rc, out, _err = self._call(hash_args(self.command, self.project_name, self.project_dir, service), rendered_json)
        if rc != 0:
            return None
        return parse_hash_output(out, service)

    def up(self, service: str, recreate: str) -> None:
        rc, _out, err = self._call(up_args(self.base, service, recreate))
        if rc != 0:
            raise ComposeError(
                "docker compose up %s failed in %s: %s"
                % (service, self.project_dir, one_line(mask_output(first_error_line(err), self.secrets), 240))
            )


# -- the project's files and the api's environment: block ---------------------
# Compose's default discovery, in its order of preference.
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def discover_files(compose_dir: str, exists: Callable[[str], bool]) -> tuple[str | None, str | None]:
    """The file ``docker compose`` loads without ``-f``, and its override file, if any.

    Like Compose: the first of DEFAULT_FILES in the directory, then the
    ``.override`` file of the same name and extension.
    """
    for name in DEFAULT_FILES:
        main = "%s/%s" % (compose_dir.rstrip("/"), name)
        if exists(main):
            stem, _sep, ext = name.rpartition(".")
            override = "%s/%s.override.%s" % (compose_dir.rstrip("/"), stem, ext)
            return main, (override if exists(override) else None)
    return None, None


def raw_args(base: list[str], service: str) -> list[str]:
    """Read-only: the model without env_file contents and without interpolation.

    Its ``environment`` of a service is exactly the merged ``environment:``
    blocks of the files, entries as written (``${VAR}`` kept), and its
    ``env_file`` the service's env files, absolute (verified with Compose
    v2.40.3: ``--no-env-resolution`` alone still merges env files).
    """
    return [*base, "config", "--format", "json", "--no-env-resolution", "--no-interpolate", service]


def parse_entries(environment: Any) -> list[tuple[str, str | None]]:
    """``environment:`` (list or mapping) as ordered (key, raw value or None) pairs."""
    if isinstance(environment, dict):
        return [(str(k), None if v is None else str(v)) for k, v in environment.items()]
    out: list[tuple[str, str | None]] = []
    for item in environment or []:
        key, sep, value = str(item).partition("=")
        out.append((key, value if sep else None))
    return out


def yaml_string(text: str) -> str:
    """A YAML double-quoted scalar (JSON escaping is valid YAML) for any text."""
    return json.dumps(text, ensure_ascii=False)


def render_override(
    entries: list[tuple[str, str | None]], drop: list[str], service: str, header: list[str]
) -> str:
    """The toolkit's compose override: the service's environment without ``drop``.

    ``!override`` replaces the merged ``environment:`` of the earlier files
    (a per-key ``!reset`` is ignored by Compose when the base file writes the
    block as a list). The kept entries are restated as written, so Compose
    interpolates them as before; the dropped ones come from the env file.
    """
    lines = ["# %s" % line if line else "#" for line in header]
    lines += ["services:", "  %s:" % service]
    kept = [(k, v) for k, v in entries if k not in set(drop)]
    if not kept:
        lines.append("    environment: !override {}")
    else:
        lines.append("    environment: !override")
        for key, value in kept:
            lines.append("      %s: %s" % (yaml_string(key), "null" if value is None else yaml_string(value)))
    return "\n".join(lines) + "\n"
