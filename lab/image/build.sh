#!/usr/bin/env bash
# Build the copilotos lab image from Debian bookworm packages, with no registry:
# debootstrap --variant=minbase, the lab apps copied in, then `docker import`.
#
# The tag is a content hash of the recipe (this directory), so the image is
# rebuilt only when the recipe changes. Prints the tag on stdout.
#   build.sh            build when missing, print the tag
#   build.sh --tag      print the tag only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=${COPILOTOS_LAB_IMAGE_NAME:-copilotos-lab}

recipe_hash() {
  (cd "$here" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum) | sha256sum | cut -c1-12
}
tag="$name:$(recipe_hash)"
if [ "${1:-}" = "--tag" ]; then echo "$tag"; exit 0; fi

die() { echo "lab image: $*" >&2; exit 1; }
command -v docker >/dev/null || die "docker CLI not found (run scripts/setup-toolchain.sh)"
docker info >/dev/null 2>&1 || die "Docker engine unreachable (run scripts/setup-toolchain.sh)"

if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi

# One build at a time on this engine (several lab hosts may ask at once).
exec 9>/var/lock/copilotos-lab-image.lock
flock -w 900 9 || die "another build holds /var/lock/copilotos-lab-image.lock"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi

[ "$(id -u)" = 0 ] || die "building the image needs root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"

# The mirror is the one this machine's apt already uses.
mirror=${COPILOTOS_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -hsoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1 || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n 1 || true)
fi
[ -n "$mirror" ] || die "no Debian mirror found in the apt sources; set COPILOTOS_DEBIAN_MIRROR"

pkgs=$(grep -vE '^\s*(#|$)' "$here/packages.txt" | paste -sd, -)
root=$(mktemp -d /var/tmp/copilotos-lab-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "lab image: debootstrap bookworm ($pkgs)" >&2
debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"

pip=${COPILOTOS_LAB_PIP:-"$repo/.venv/bin/pip"}
[ -x "$pip" ] || pip=$(command -v pip3 || true)
[ -n "$pip" ] || die "pip not found to install the MongoDB stand-in libraries"
"$pip" install --quiet --no-deps --only-binary=:all: --python-version 3.11 \
  --target "$root/opt/lab/mongo-pylib" -r "$here/pip-requirements.txt" 2>"$root.pip.log" \
  || { tail -n 5 "$root.pip.log" >&2; die "pip could not install the MongoDB stand-in libraries"; }
rm -f "$root.pip.log"

mkdir -p "$root/opt/lab/app"
cp -r "$here/app/." "$root/opt/lab/app/"
find "$root/opt/lab" -name '__pycache__' -prune -exec rm -rf {} +
cp "$here/nginx.conf" "$root/etc/nginx/nginx.conf"
# Slim the image: apt lists, caches, docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV PYTHONUNBUFFERED=1' \
  --change 'WORKDIR /opt/lab/app' \
  --change 'CMD ["python3", "/opt/lab/app/api.py"]' \
  --message "copilotos lab image, recipe $tag" - "$tag" >/dev/null
echo "$tag"
