#!/usr/bin/env bash
# Build the copilotos lab image from Debian bookworm packages, with no registry,
# in two layers:
#   base  debootstrap --variant=minbase of packages.txt, the MongoDB stand-in's
#         libraries (pip-requirements.txt) and nginx.conf, then `docker import`
#         (about a minute; tagged by a hash of those inputs and of this script);
#   app   the lab apps (app/) copied into a container of the base and committed
#         (seconds; tagged by a hash of the whole recipe).
# So editing the lab apps rebuilds only the app layer. Prints the tag on stdout.
#   build.sh            build what is missing, print the tag
#   build.sh --tag      print the tag only
#   COPILOTOS_LAB_IMAGE_NAME   image name (default copilotos-lab)
#   COPILOTOS_LAB_BASE_NAME    base image name (default <image name>-base)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=${COPILOTOS_LAB_IMAGE_NAME:-copilotos-lab}

# sha256 of the named files (relative to this directory), as one short hash.
files_hash() {
  local sums
  sums=$(cd "$here" && LC_ALL=C sha256sum "$@")
  printf '%s\n' "$sums" | sha256sum | cut -c1-12
}
app_files() {
  (cd "$here" && find app -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort)
}
base_inputs=(build.sh packages.txt pip-requirements.txt nginx.conf)
base_tag="${COPILOTOS_LAB_BASE_NAME:-$name-base}:$(files_hash "${base_inputs[@]}")"
mapfile -t app_list < <(app_files)
tag="$name:$(files_hash "${base_inputs[@]}" "${app_list[@]}")"
if [ "${1:-}" = "--tag" ]; then echo "$tag"; exit 0; fi

die() { echo "lab image: $*" >&2; exit 1; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
command -v docker >/dev/null || die "docker CLI not found (run scripts/setup-toolchain.sh)"
docker info >/dev/null 2>&1 || die "Docker engine unreachable (run scripts/setup-toolchain.sh)"

if have "$tag"; then echo "$tag"; exit 0; fi

# One build at a time on this engine (several lab hosts may ask at once).
exec 9>/var/lock/copilotos-lab-image.lock
flock -w 900 9 || die "another build holds /var/lock/copilotos-lab-image.lock"
if have "$tag"; then echo "$tag"; exit 0; fi

build_base() {
  [ "$(id -u)" = 0 ] || die "building the base image needs root (debootstrap)"
  command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"

  # The mirror is the one this machine's apt already uses. One awk reads the
  # sources whole (no early-closing reader in a pipeline under pipefail).
  local mirror=${COPILOTOS_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  fi
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:/) { if ($i !~ /security/) { print $i; exit } break } }' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || die "no Debian mirror found in the apt sources; set COPILOTOS_DEBIAN_MIRROR"

  local pkgs root
  pkgs=$(awk '!/^[[:space:]]*(#|$)/ { printf "%s%s", sep, $1; sep = "," }' "$here/packages.txt")
  root=$(mktemp -d /var/tmp/copilotos-lab-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$root' '$root.log' '$root.pip.log'" EXIT
  echo "lab image: debootstrap bookworm ($pkgs)" >&2
  debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; die "debootstrap failed"; }

  local pip=${COPILOTOS_LAB_PIP:-"$repo/.venv/bin/pip"}
  [ -x "$pip" ] || pip=$(command -v pip3 || true)
  [ -n "$pip" ] || die "pip not found to install the MongoDB stand-in libraries"
  "$pip" install --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --target "$root/opt/lab/mongo-pylib" -r "$here/pip-requirements.txt" 2>"$root.pip.log" \
    || { tail -n 5 "$root.pip.log" >&2; die "pip could not install the MongoDB stand-in libraries"; }

  cp "$here/nginx.conf" "$root/etc/nginx/nginx.conf"
  # Slim the image: apt lists, caches, docs.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

  tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PYTHONUNBUFFERED=1' \
    --message "copilotos lab base image, recipe $base_tag" - "$base_tag" >/dev/null
  rm -rf "$root" "$root.log" "$root.pip.log"
  trap - EXIT
}

have "$base_tag" || build_base

# The app layer: the lab apps copied into a stopped container of the base.
echo "lab image: app layer $tag" >&2
cid=$(docker create "$base_tag" true)
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
stage=$(mktemp -d)
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true; rm -rf "$stage"' EXIT
mkdir -p "$stage/opt/lab"
cp -r "$here/app" "$stage/opt/lab/app"
find "$stage" -name '__pycache__' -prune -exec rm -rf {} +
docker cp "$stage/opt/." "$cid:/opt/" >/dev/null
docker commit \
  --change 'WORKDIR /opt/lab/app' \
  --change 'CMD ["python3", "/opt/lab/app/api.py"]' \
  --message "copilotos lab image, recipe $tag" "$cid" "$tag" >/dev/null
echo "$tag"
