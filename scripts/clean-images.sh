#!/usr/bin/env bash
# Remove the project's images (the lab image and its base, the test images),
# and the stopped or running containers made from them, so that the next run
# builds everything as a fresh machine does. .ci/run calls it before the tests.
#   scripts/clean-images.sh          remove them
#   scripts/clean-images.sh --list   only list what would be removed
set -euo pipefail
docker info >/dev/null 2>&1 || { echo "clean-images: no Docker engine answers: nothing to clean" >&2; exit 0; }

# Every repository the project builds: copilotos-lab (services), copilotos-lab-api
# (one tag per api generation), copilotos-lab-base, copilotos-test-* (the names
# are the project's own prefix).
mapfile -t images < <(docker image ls --format '{{.Repository}}:{{.Tag}}' \
  | awk -F: '$1 ~ /^copilotos-(lab|lab-api|lab-base|test-[a-z0-9-]+)$/')
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${images[@]}"; exit 0; fi
[ ${#images[@]} -gt 0 ] || { echo "clean-images: no project image present" >&2; exit 0; }

for image in "${images[@]}"; do
  mapfile -t containers < <(docker ps -aq --filter "ancestor=$image")
  if [ ${#containers[@]} -gt 0 ]; then
    echo "clean-images: removing ${#containers[@]} container(s) of $image" >&2
    docker rm -f "${containers[@]}" >/dev/null
  fi
done
echo "clean-images: removing ${images[*]}" >&2
docker image rm "${images[@]}" >/dev/null
