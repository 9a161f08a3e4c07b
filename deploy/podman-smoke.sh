#!/usr/bin/env bash
# Builds the image from deploy/Containerfile and runs the compose stack with podman, on a machine
# that cannot reach docker.io: the Debian base is made with debootstrap and `podman import`, and
# local stand-ins replace postgres:15, caddy:2 and rust:1.95 (deploy/test-images). Not part of CI
# (it compiles a release build inside a container); what it printed here is in the notes.
#   deploy/podman-smoke.sh                       (as root, from anywhere)
#   deploy/podman-smoke.sh --prebuilt BINARY     (skip the compile: the runtime stage around BINARY)
set -euo pipefail
cd "$(dirname "$0")/.."
# Needs (Debian): podman runc debootstrap, and podman-compose (pip, or the test venv's).
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || { echo "FATAL: $tool is missing (apt-get install podman runc debootstrap)" >&2; exit 1; }
done
export CONTAINERS_CONF="$PWD/deploy/test-images/containers.conf"
base=localhost/debian:bookworm-minbase
if ! podman image exists "$base"; then
  root="$(mktemp -d)"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
  # debootstrap keeps the packages it installed; an image does not need them.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base"
  rm -rf "$root"
fi
for image in postgres:15-standin caddy:2-standin rust:1.95-standin; do
  name="${image%%:*}"
  podman image exists "localhost/$image" || podman build -q -f "deploy/test-images/$name.Containerfile" -t "localhost/$image" deploy/test-images
done
start=$(date +%s)
if [ "${1:-}" = --prebuilt ]; then
  ctx="$(mktemp -d)"
  cp "$2" "$ctx/posada"
  podman build -f deploy/test-images/prebuilt.Containerfile -t localhost/posada:latest --build-arg RUNTIME_IMAGE="$base" "$ctx"
  rm -rf "$ctx"
else
  podman build -f deploy/Containerfile -t localhost/posada:latest \
    --build-arg RUST_IMAGE=localhost/rust:1.95-standin --build-arg RUNTIME_IMAGE="$base" \
    --build-arg POSADA_GIT_COMMIT="$(git rev-parse HEAD)" \
    -v "$HOME/.rustup:/usr/local/rustup:ro" -v "$HOME/.cargo/bin:/usr/local/cargo/bin:ro" .
fi
echo "image built in $(( $(date +%s) - start )) s"
podman image inspect localhost/posada:latest --format 'image size: {{.Size}} bytes, user {{.Config.User}}'
podman run --rm localhost/posada:latest --version

cd deploy
cp env.example posada.env
sed -i "s|^POSADA_JWT_SECRET=.*|POSADA_JWT_SECRET=$(openssl rand -hex 32)|; s|^POSADA_ADMIN_EMAIL=.*|POSADA_ADMIN_EMAIL=duena@example.com|; s|^POSADA_ADMIN_PASSWORD=.*|POSADA_ADMIN_PASSWORD=una-clave-larga|; s|^POSADA_PAYMENT_PROVIDER=.*|POSADA_PAYMENT_PROVIDER=none|" posada.env
export POSADA_POSTGRES_IMAGE=localhost/postgres:15-standin POSADA_CADDY_IMAGE=localhost/caddy:2-standin
export POSADA_DOMAIN=localhost POSADA_ACME_EMAIL=duena@example.com POSTGRES_PASSWORD="$(openssl rand -hex 16)"
export POSADA_HTTP_PORT=18080 POSADA_HTTPS_PORT=18443
compose="${PODMAN_COMPOSE:-$(command -v podman-compose || echo "$PWD/../.venv/bin/podman-compose")}"
trap '$compose down -v >/dev/null 2>&1 || true; rm -f posada.env' EXIT
$compose up -d --no-build
for _ in $(seq 1 60); do
  curl -skf "https://localhost:$POSADA_HTTPS_PORT/api/v1/readyz" && break
  sleep 2
done
echo
echo "healthz through Caddy: $(curl -sk -o /dev/null -w '%{http_code}' "https://localhost:$POSADA_HTTPS_PORT/api/v1/healthz")"
echo "/metrics through Caddy: $(curl -sk -o /dev/null -w '%{http_code}' "https://localhost:$POSADA_HTTPS_PORT/metrics") (404 expected)"
$compose exec -T db psql -P pager=off -U posada -d posada -Atc "select 'btree_gist ' || extversion from pg_extension where extname = 'btree_gist'"
# Podman runs health checks from systemd timers; without systemd, run them once by hand.
for c in posada_db_1 posada_posada_1; do echo "health check of $c: $(podman healthcheck run "$c" && echo healthy)"; done
$compose exec -T posada posada backup
$compose exec -T posada posada doctor || true
podman ps --format '{{.Names}} {{.Status}}'
