#!/usr/bin/env bash
# Install everything the tests need on Debian 12 and run the whole suite: ruff, mypy, pytest
# on SQLite and on a throwaway PostgreSQL server, real Chromium and a real window under Xvfb.
source "$(dirname "$0")/setup-lib.sh"
need_root
install_debian test
make_venv desktop,test,build
cd "$REPO"
echo "== ruff"
"$VENV/bin/ruff" check ibdesk tests benchmarks
"$VENV/bin/ruff" format --check ibdesk tests benchmarks
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here." >&2
    exit 1
fi
exit "$status"
