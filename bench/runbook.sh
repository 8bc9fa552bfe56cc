#!/usr/bin/env bash
# The hand-run runbook of the diagnosis: the baselines remediate.yml is
# measured against (bench/run). Same managed keys, same override, the same
# `up -d --no-deps api` as compose_apply (plain `up -d api` would also wait for
# redis and mongodb to be healthy), then curl the health endpoint until it
# answers 200. No preflight, backup, lock, rollback or report.
#
# With RUNBOOK_CHECKS=1 it then runs the seed's own verification commands, as
# a careful operator types them (the fair baseline for a *proven* repair):
#   - redis-cli PING with the password, inside the redis container;
#   - a Mongo ping (the lab's Mongo stand-in has no mongosh: the same
#     {ping: 1} through pymongo inside the api container, on the api's URL);
#   - a CORS preflight curl per origin, checking Access-Control-Allow-Origin;
#   - 50 concurrent curls of /api/health, all 200;
#   - docker logs of the api since the recreate, grep for the Redis and Mongo
#     error signatures: none.
#   REDIS_PASSWORD=... RATE_LIMIT=500 [RUNBOOK_CHECKS=1] bench/runbook.sh <project_dir> <compose_project> <api_port>
# The password comes from the environment, never from the command line.
set -euo pipefail
dir=$1 project=$2 port=$3
: "${REDIS_PASSWORD:?set REDIS_PASSWORD}"
rate_limit=${RATE_LIMIT:-500}
env_file=$dir/.env.production

set_key() {  # replace KEY=... in place, or append it
  local key=$1 value=$2 escaped
  escaped=$(printf '%s' "$value" | sed -e 's/[\\&|]/\\&/g')
  if grep -q "^$key=" "$env_file"; then
    sed -i "s|^$key=.*|$key=$escaped|" "$env_file"
  else
    printf '%s=%s\n' "$key" "$value" >>"$env_file"
  fi
}

encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$REDIS_PASSWORD")
# The keys the api reads (see the README's "What the application really reads"),
# plus the diagnosis's names kept in step, as remediate.yml writes them.
set_key REDIS_HOST redis
set_key REDIS_PORT 6379
set_key REDIS_DB 0
set_key REDIS_URL "redis://:$encoded@redis:6379/0"
set_key REDIS_PASSWORD "$REDIS_PASSWORD"
set_key CELERY_BROKER_URL "redis://:$encoded@redis:6379/1"
set_key CORS_ORIGINS '["https://copiloto.saptiva.com","https://www.copiloto.saptiva.com"]'
set_key SAPTIVA_TIMEOUT 120
set_key SAPTIVA_CONNECT_TIMEOUT 15
set_key SAPTIVA_READ_TIMEOUT 120
set_key DB_MIN_POOL_SIZE 5
set_key DB_MAX_POOL_SIZE 50
set_key DB_CONNECT_TIMEOUT_MS 10000
set_key DB_CONNECTION_TIMEOUT_MS 10000
set_key DB_SERVER_SELECTION_TIMEOUT_MS 10000
set_key DB_MAX_IDLE_TIME_MS 300000
set_key RATE_LIMIT_CALLS "$rate_limit"
set_key RATE_LIMIT_PERIOD 60
set_key RATE_LIMIT_REQUESTS_PER_MINUTE "$rate_limit"

# The override remediate.yml writes for the lab's flat layout, whose api
# environment: block holds only REDIS_URL (a managed key): the block is
# replaced by an empty one, so every managed key comes from .env.production.
# Its marker comment is included, so the toolkit recognises the file afterwards.
cat >"$dir/docker-compose.override.yml" <<'YAML'
# Managed by copilotos-remediation: regenerated on every run, do not edit.
# The api's environment: block of the compose files above this one, without the keys
# the toolkit manages in the env file: those come from the env file, which the block
# would otherwise override. Compose merges this file last.
services:
  api:
    environment: !override {}
YAML

cd "$dir"
since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
docker compose --project-name "$project" up -d --no-deps api >/dev/null 2>&1

deadline=$((SECONDS + 180))
until curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$port/api/health"; do
  if [ $SECONDS -ge $deadline ]; then
    echo "runbook: api not healthy after 180 s" >&2
    exit 1
  fi
  sleep 0.2
done

[ "${RUNBOOK_CHECKS:-0}" = 1 ] || exit 0

fail() { echo "runbook: check failed: $*" >&2; exit 1; }
container() { docker compose --project-name "$project" ps -q "$1"; }
api=$(container api) redis=$(container redis)

# Redis: the password through the environment (REDISCLI_AUTH), not argv.
[ "$(REDISCLI_AUTH=$REDIS_PASSWORD docker exec -e REDISCLI_AUTH "$redis" redis-cli --no-auth-warning PING)" = PONG ] \
  || fail "redis PING"
# Mongo: {ping: 1} on the api's own URL.
docker exec "$api" python3 -c 'import os, pymongo
pymongo.MongoClient(os.environ["MONGODB_URL"], serverSelectionTimeoutMS=5000).admin.command("ping")' \
  || fail "mongo ping"
# CORS: one preflight per origin.
for origin in https://copiloto.saptiva.com https://www.copiloto.saptiva.com; do
  curl -s -o /dev/null -D - -X OPTIONS "http://127.0.0.1:$port/api/health" -H "Origin: $origin" \
    -H "Access-Control-Request-Method: POST" -H "Access-Control-Request-Headers: content-type,authorization" \
    | tr -d '\r' | grep -qix "access-control-allow-origin: $origin" || fail "CORS preflight for $origin"
done
# 50 concurrent requests, all 200.
codes=$(seq 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "http://127.0.0.1:$port/api/health")
[ "$(grep -c '^200$' <<<"$codes")" = 50 ] || fail "burst: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"
# The logs since the recreate: no Redis or Mongo error signature.
if docker logs --since "$since" "$api" 2>&1 \
    | grep -E 'Error 111|Connection refused|NOAUTH|WRONGPASS|invalid (username-)?password|ServerSelectionTimeoutError'; then
  fail "error signatures in the api's logs"
fi
