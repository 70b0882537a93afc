#!/usr/bin/env bash
# Install what ibdesk needs on Debian 12 and start it on the embedded SQLite default.
source "$(dirname "$0")/setup-lib.sh"
need_root
install_debian app
make_venv desktop
exec "$VENV/bin/ibdesk" "$@"
