"""The env parser against the real Docker Compose, file by file.

Inputs: the dotenv fixtures and inline test inputs of compose-go v2.9.1 (the
version inside Compose v2.40.3), kept outside the repository in
``../shared/compose-dotenv`` (see its README.txt), plus our own hard cases
below. For each input this runs ``docker compose config --format json`` on a
throw-away project whose one service reads the file with ``env_file:`` (no
engine, no image needed) and asserts:

* Compose accepts the file -> the parser accepts it and every literal value
  equals Compose's; a value the parser marks ``literal=False`` (interpolation,
  a bare ``KEY`` inheriting from the environment) is not compared, and keys
  only the parser lists are such bare ``KEY`` lines.
* Compose refuses the file -> the parser raises EnvParseError, on the same
  line when Compose names one, except for refusals that depend on the
  environment (``${X?message}``), where the parser must not call the value
  literal.
* Known difference: text after a closing quote (Compose reads it as another
  assignment) is refused by the parser; such inputs are listed in
  ``PARSER_REFUSES``.

Skipped, with the reason, when ``docker compose`` or the fixtures are missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from ansible.module_utils.copilotos_env import INHERIT, EnvParseError, parse_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Variables the throw-away Compose project sees (and nothing else of ours).
COMPOSE_ENV = {
    "VAR_TO_BE_LOADED_FROM_OS_ENV": "os-value",  # inherited-*.env fixtures
    "OPTION_A": "from-the-environment",  # substitutions*.env
    "INHERITED": "inherited-value",
    "FOO": "foo-from-env",
}

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDfakefakefake\n"
    "bm90LWEtcmVhbC1rZXktanVzdC10ZXN0LWRhdGEtZm9yLXRoZS1wYXJzZXI=\n"
    "-----END PRIVATE KEY-----"
)

# Our own hard cases: name -> file bytes. Expected values come from Compose.
EXTRA: dict[str, bytes] = {
    "bom-crlf-pem": ("\ufeffA=1\r\nKEY=\"" + PEM.replace("\n", "\r\n") + "\"\r\nB=2\r\n").encode(),
    "pem-single-quoted": ("KEY='" + PEM + "' # comment\nB=2\n").encode(),
    "pem-unquoted-breaks": ("CERT=\"" + PEM + "\"\nNEXT=x\n").encode(),
    "multi-line-dq-escapes": b'A="l1\nl2 \\"q\\" $$ \\$x"\nB=2\n',
    "bom-only": "\ufeff".encode(),
    "bom-comment": "\ufeff# c\nA=1".encode(),
    "unicode-blanks-after-eq": "A=\u00a0x\nB=\u0085y\nC=\x0bz\nD=\x0cw\nE=\rv\nF=\u2003u\nG=\u3000t\n".encode(),
    "unicode-blanks-at-end": "A=x\u00a0\nB=y\u2003\nC=z\u3000\nD=w\x0b\n".encode(),
    "fs-gs-rs-us-at-end": b"A=x\x1c\nB=y\x1d\nC=z\x1e\nD=w\x1f\n",
    "fs-at-start": b"A=\x1cx\n",
    "fs-line": b"\x1c\nA=1\n",
    "unicode-blank-lines": "\u3000\n\u2003# c\n\u00a0A=1\n".encode(),
    "quote-after-nbsp": "A=\u00a0\"x y\"\nB=\u2003\"x y\"\n".encode(),
    "export-empty-name": b"export =1\n",
    "export-alone": b"export\n",
    "export-eq": b"export=1\nexport:2\n",
    "export-nbsp": "export\u00a0A=1\nexport \u00a0B=2\n".encode(),
    "kelvin-and-long-s": "A=$\u212a\nB=${\u017f}\nC=$\u00e9\nD=\"$\u212a\"\n".encode(),
    "lower-case-names": b"A=$inh\nB=${foo}\n",
    "dollar-literals": b"A=$1\nB=$-\nC=a$\nD=a$$b\nE=a$ b\nF='$FOO'\n",
    "braced-ok": b"A=${FOO:-d}\nB=${NOPE:-d}\nC=${FOO:+alt}\nD=${FOO-x}\nE=${FOO}}\n",
    "braced-empty": b"A=${}\n",
    "braced-digit": b"A=${1}\n",
    "braced-unterminated": b"A=${FOO\n",
    "braced-open": b"A=${\n",
    "braced-pattern": b"A=${FOO/a/b}\n",
    "braced-required": b"A=${NOPE?boom}\n",
    "braced-required-set": b"A=${FOO:?boom}\n",
    "octal-escapes": b'A="\\0"\nB="\\01"\nC="\\012"\nD="\\0123"\nE="\\01234"\nF="\\08"\nG="\\1"\n',
    "other-escapes": b'A="\\\'"\nB="\\ "\nC="\\z"\nD="\\x41"\nE="\\u00e9"\nF="\\o"\n',
    "single-quote-backslashes": b"A='a\\\\b'\nB='a\\\\'\nC='a\\'b'\nD='a\\\"b'\nE='\\n'\n",
    "key-punctuation": b"A-B=1\nA.B=2\nA[B=3\nA]B=4\n-A=5\n.A=6\n1A=7\n456 = ABC\n",
    "key-bad-char": b"A=1\nB+C=2\n",
    "key-dollar": b"A$B=1\n",
    "key-tab-inside": b"A\tB=1\n",
    "key-nbsp-inside": "A\u00a0B=1\nC\u00a0=2\n".encode(),
    "key-emsp-inside": "A\u2003B=1\n".encode(),
    "key-space-inside": b"A=1\nA B=2\n",
    "key-unicode": "\u00e1rv\u00edz=1\n\u0661\u0662=2\n".encode(),
    "empty-name": b'="value"\n',
    "yaml-style": b"A: 1\nB :x\nC:=y\nD=:z\nE=x:=y\n",
    "bare-inherited": b"INHERITED\nINHERITED_NOT_SET\nVAR_TO_BE_LOADED_FROM_OS_ENV \nFOO\t\n",
    "bare-after-assignment": b"A=x\nA\nINHERITED=file\nINHERITED\n",
    "bare-at-eof": b"A=1\nINHERITED",
    "bare-at-eof-blanks": b"A=1\nSOME NAME ",
    "bare-with-comment": b"INHERITED # c\n",
    "bare-crlf": b"INHERITED\r\nA=1\r\n",
    "comment-rules": b"A=b\t#c\nB=b #c\nC= #c\nD=#c\nE=a#b\nF='x'\t# c\nG=\"x\"#c\n",
    "cr-inside-unquoted": b"A=a\rb\nB=c\r\n",
    "unterminated-multi": b"A=1\nB=\"x\ny\nC=3\n",
    "unterminated-single-multi": b"A='x\n\nB=2\n",
    "text-after-quote": b'A="x" B=2\n',
    "text-after-single-quote": b"A='x'B=2\n",
    "quote-then-name": b'A="x"y\n',
}

# Inputs Compose accepts and the parser refuses on purpose (documented difference).
PARSER_REFUSES = {"extra/text-after-quote", "extra/text-after-single-quote", "extra/quote-then-name"}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _shared_dir() -> str | None:
    """Where compose-go's dotenv inputs are: $COPILOTOS_COMPOSE_DOTENV, else ../shared/compose-dotenv seen from
    the repository root, from the main checkout of a worktree, or from the checkout a local clone was made of
    (CI runs on a fresh clone of the project's checkout)."""
    explicit = os.environ.get("COPILOTOS_COMPOSE_DOTENV")
    if explicit:
        return explicit if os.path.isdir(explicit) else None
    roots = [ROOT]
    common = _git("rev-parse", "--path-format=absolute", "--git-common-dir")
    if common:
        roots.append(os.path.dirname(common))
    origin = _git("config", "--get", "remote.origin.url")
    if origin.startswith("file://"):
        origin = origin[len("file://"):]
    if origin.startswith("/"):
        roots.append(origin.rstrip("/").removesuffix("/.git"))
    for root in roots:
        candidate = os.path.join(os.path.dirname(root), "shared", "compose-dotenv")
        if os.path.isdir(candidate):
            return candidate
    return None


def _compose_available() -> str | None:
    """None when ``docker compose`` runs, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return "docker compose version failed: %s" % exc
    return None if done.returncode == 0 else "docker compose version exited %d" % done.returncode


_WHY_NOT = _compose_available()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason="needs docker compose: %s" % _WHY_NOT)

SHARED = _shared_dir()


def _inputs() -> list[tuple[str, bytes]]:
    out = sorted(EXTRA.items())
    out = [("extra/" + name, data) for name, data in out]
    if SHARED is not None:
        for sub in ("", "upstream-inline"):
            folder = os.path.join(SHARED, sub)
            for name in sorted(os.listdir(folder)):
                if name.endswith(".env"):
                    with open(os.path.join(folder, name), "rb") as handle:
                        out.append((os.path.join(sub, name) if sub else name, handle.read()))
    return out


INPUTS = _inputs()


def _compose_config(workdir: str, files: list[bytes]) -> tuple[list[dict[str, str]] | None, str]:
    """Compose's environment for services reading each of ``files`` (None and the error when refused)."""
    os.makedirs(workdir)
    services = []
    for index, data in enumerate(files):
        with open(os.path.join(workdir, "%d.env" % index), "wb") as handle:
            handle.write(data)
        services.append("  svc%d:\n    image: example.invalid/none\n    env_file: [%d.env]\n" % (index, index))
    with open(os.path.join(workdir, "compose.yaml"), "w", encoding="utf-8") as handle:
        handle.write("services:\n" + "".join(services))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir}
    if os.environ.get("DOCKER_CONFIG"):
        env["DOCKER_CONFIG"] = os.environ["DOCKER_CONFIG"]
    env.update(COMPOSE_ENV)
    done = subprocess.run(
        ["docker", "compose", "-p", "oracle", "config", "--format", "json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        return None, done.stderr.decode("utf-8", "replace")
    config = json.loads(done.stdout)["services"]
    out = []
    for index in range(len(files)):
        environment = config["svc%d" % index].get("environment") or {}
        # config prints a literal "$" as "$$" so its output can be read back as a compose file.
        out.append({k: v.replace("$$", "$") for k, v in environment.items() if v is not None})
    return out, ""


@pytest.fixture(scope="module")
def compose_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, str] | None, str]]:
    """One ``docker compose config`` per chunk of inputs; a refused chunk is rerun file by file."""
    base = tmp_path_factory.mktemp("compose-oracle")
    chunks = [INPUTS[i : i + 12] for i in range(0, len(INPUTS), 12)]
    results: dict[str, tuple[dict[str, str] | None, str]] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(
            lambda job: _compose_config(str(base / ("chunk%d" % job[0])), [data for _, data in job[1]]),
            enumerate(chunks),
        ))
        singles = []
        for chunk, (envs, _) in zip(chunks, done, strict=True):
            if envs is None:
                singles.extend(chunk)
            else:
                results.update((name, (env, "")) for (name, _), env in zip(chunk, envs, strict=True))
        alone = list(pool.map(
            lambda job: _compose_config(str(base / ("single%d" % job[0])), [job[1][1]]), enumerate(singles)
        ))
    for (name, _), (envs, error) in zip(singles, alone, strict=True):
        results[name] = (envs[0] if envs else None, error)
    return results


def test_fixtures_are_present() -> None:
    if SHARED is None:
        pytest.skip("../shared/compose-dotenv is not there (fresh clone): only our own cases run")
    names = {name for name, _ in INPUTS}
    assert "utf8-bom.env" in names and "quoted.env" in names
    assert sum(name.startswith("upstream-inline/") for name in names) >= 70


def _check(name: str, data: bytes, result: tuple[dict[str, str] | None, str]) -> None:
    compose_env, error = result
    text = data.decode("utf-8")
    if compose_env is None:
        if "required variable" in error:  # depends on the environment: the parser only knows "not literal"
            values = parse_env(text).effective()
            assert any(not v.literal for v in values.values()), name
            return
        with pytest.raises(EnvParseError) as exc:
            parse_env(text)
        line = re.search(r"line (\d+):", error)
        if line and "unterminated" not in error:  # Compose names the last line, the parser the first
            assert exc.value.lineno == int(line.group(1)), (name, error)
        return
    if name in PARSER_REFUSES:
        with pytest.raises(EnvParseError, match="after the closing quote"):
            parse_env(text)
        return
    env = parse_env(text)
    values = env.effective()
    inherited = {line.key for line in env.lines if line.form == INHERIT}
    for key, value in values.items():
        if value.literal:
            assert key in compose_env, (name, key)
            assert value.text == compose_env[key], (name, key)
        elif key not in compose_env:
            assert key in inherited, (name, key)  # a bare KEY that the environment does not set
    assert set(compose_env) <= set(values), name


@pytest.mark.parametrize(("name", "data"), INPUTS, ids=[name for name, _ in INPUTS])
def test_parser_agrees_with_compose(name: str, data: bytes, compose_results: dict[str, Any]) -> None:
    _check(name, data, compose_results[name])


def test_refusals_are_exercised(compose_results: dict[str, Any]) -> None:
    """Guard against a broken oracle that refuses (or accepts) everything."""
    refused = {name for name, (env, _) in compose_results.items() if env is None}
    assert {"extra/key-space-inside", "extra/braced-empty", "extra/unterminated-multi"} <= refused
    assert "extra/bom-crlf-pem" not in refused
    assert compose_results["extra/bom-crlf-pem"][0]["KEY"] == PEM.replace("\n", "\r\n")
