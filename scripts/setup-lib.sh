# Shared by run.sh and test.sh: install Debian packages and the Python venv.
# Usage: source scripts/setup-lib.sh; install_debian app|test; make_venv EXTRAS

set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IBDESK_VENV:-$REPO/.venv}"

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "Run this as root (it installs Debian packages with apt-get)." >&2
        exit 1
    fi
}

install_debian() {
    # $1 = "app" (what the program needs) or "test" (that, plus what the tests need).
    local scopes="app"
    [ "$1" = "test" ] && scopes="app test"
    local wanted=() missing=()
    for scope in $scopes; do
        while read -r s pkg; do
            [ "$s" = "$scope" ] && wanted+=("$pkg")
        done < <(grep -v '^#' "$REPO/scripts/apt-packages.txt")
    done
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

make_venv() {
    # $1 = the extras to install, e.g. "desktop" or "desktop,test".
    local python="${PYTHON:-python3}"
    if [ ! -x "$VENV/bin/python" ]; then
        "$python" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$REPO[$1]"
}
