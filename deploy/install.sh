#!/bin/sh
# Installs Posada as a systemd service on Debian/Ubuntu: the binary, its user, the unit and the
# settings file (an existing one is kept). Run from the repository, as root:
#   sudo deploy/install.sh target/release/posada
# DESTDIR=/some/dir installs under that folder instead (the tests do), without touching systemd.
set -eu
root="${DESTDIR:-}"
bin="${1:-target/release/posada}"
here="$(dirname "$0")"
install -D -m 0755 "$bin" "$root/usr/local/bin/posada"
install -D -m 0644 "$here/posada.sysusers" "$root/usr/lib/sysusers.d/posada.conf"
install -D -m 0644 "$here/posada.service" "$root/etc/systemd/system/posada.service"
install -d -m 0750 "$root/etc/posada"
if [ ! -e "$root/etc/posada/env" ]; then
  install -m 0600 "$here/env.example" "$root/etc/posada/env"
fi
if [ -z "$root" ]; then
  systemd-sysusers
  # Readable by the service's group too: `sudo -u posada posada --env-file /etc/posada/env doctor`.
  chown root:posada /etc/posada /etc/posada/env
  chmod 0640 /etc/posada/env
  systemctl daemon-reload
fi
echo "Listo: completá /etc/posada/env y después: sudo systemctl enable --now posada"
