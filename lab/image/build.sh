#!/usr/bin/env bash
# Build the copilotos lab images from Debian bookworm packages, with no registry,
# in two layers:
#   base      debootstrap --variant=minbase of packages.txt, the MongoDB stand-in's
#             libraries (pip-requirements.txt) and nginx.conf, then `docker import`
#             (about a minute; tagged by a hash of those inputs and of this script);
#   services  the image of web, redis and mongodb: the MongoDB stand-in (app/) in
#             /opt/lab/app and the web client stand-in (apps/web) in /app/apps/web,
#             copied into a container of the base and committed (seconds);
#   api       one image per generation of the api (diagnosis, current): the common
#             tree apps/api with the generation's overlay (overlays/<generation>/apps/api)
#             on top, in /app as in the real image (/app/src/main.py, ...), run as
#             the real one is: python3 -m uvicorn src.main:app --port 8001 --workers 1.
# Each layer is tagged by a hash of its inputs, so editing one generation's
# overlay rebuilds only that api image. Prints the tag on stdout.
#   build.sh                  build the services image if missing, print its tag
#   build.sh --api GEN        the same for the api image of generation GEN
#   build.sh [--api GEN] --tag   print the tag only
#   COPILOTOS_LAB_IMAGE_NAME   services image name (default copilotos-lab)
#   COPILOTOS_LAB_API_NAME     api image name (default <services image name>-api),
#                              tagged <generation>-<hash>
#   COPILOTOS_LAB_BASE_NAME    base image name (default <services image name>-base)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=${COPILOTOS_LAB_IMAGE_NAME:-copilotos-lab}
api_name=${COPILOTOS_LAB_API_NAME:-$name-api}

generation="" tag_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --api) generation=${2:-}; shift 2 || { echo "lab image: --api needs a generation" >&2; exit 2; } ;;
    --tag) tag_only=1; shift ;;
    *) echo "lab image: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$generation" in
  ""|diagnosis|current) ;;
  *) echo "lab image: unknown api generation '$generation' (diagnosis, current)" >&2; exit 2 ;;
esac

# sha256 of the named files (relative to this directory), as one short hash.
files_hash() {
  local sums
  sums=$(cd "$here" && LC_ALL=C sha256sum "$@")
  printf '%s\n' "$sums" | sha256sum | cut -c1-12
}
# The files under the named directories (relative to this directory), sorted.
tree_files() {
  (cd "$here" && find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort)
}
base_inputs=(build.sh packages.txt pip-requirements.txt nginx.conf)
base_tag="${COPILOTOS_LAB_BASE_NAME:-$name-base}:$(files_hash "${base_inputs[@]}")"
if [ -n "$generation" ]; then
  mapfile -t layer_list < <(tree_files apps/api "overlays/$generation")
  tag="$api_name:$generation-$(files_hash "${base_inputs[@]}" "${layer_list[@]}")"
else
  mapfile -t layer_list < <(tree_files app apps/web)
  tag="$name:$(files_hash "${base_inputs[@]}" "${layer_list[@]}")"
fi
if [ -n "$tag_only" ]; then echo "$tag"; exit 0; fi

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

# The layer on top: files copied into a stopped container of the base, committed.
echo "lab image: layer $tag" >&2
cid=$(docker create "$base_tag" true)
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true; rm -rf "$stage"' EXIT
if [ -n "$generation" ]; then
  # The real image's layout: apps/api copied to /app, run from /app.
  mkdir -p "$stage/app"
  cp -r "$here/apps/api/." "$stage/app/"
  cp -r "$here/overlays/$generation/apps/api/." "$stage/app/"
  changes=(--change 'WORKDIR /app' --change 'EXPOSE 8001' --change 'ENV PYTHONDONTWRITEBYTECODE=1'
           --change 'CMD ["python3", "-m", "uvicorn", "src.main:app", "--host", "0.0.0.0", "--port", "8001", "--workers", "1"]')
  message="copilotos lab api image ($generation generation), recipe $tag"
else
  mkdir -p "$stage/opt/lab" "$stage/app/apps"
  cp -r "$here/app" "$stage/opt/lab/app"
  cp -r "$here/apps/web" "$stage/app/apps/web"
  changes=(--change 'WORKDIR /opt/lab/app' --change 'CMD ["nginx", "-g", "daemon off;"]')
  message="copilotos lab services image, recipe $tag"
fi
find "$stage" -name '__pycache__' -prune -exec rm -rf {} +
docker cp "$stage/." "$cid:/" >/dev/null
docker commit "${changes[@]}" --message "$message" "$cid" "$tag" >/dev/null
echo "$tag"
