#!/usr/bin/env bash
# Install the launcher of the built program (python build/build.py makes dist/ibdesk/):
# the menu entry "ImageBank SysAdmin", its icon, and a launcher on the desktop that a
# double-click starts.
#
#   bash scripts/install-launcher.sh [--system] [PROGRAM_FOLDER]
#
# PROGRAM_FOLDER defaults to dist/ibdesk (copy that folder to /opt/ibdesk first to keep it
# apart from the checkout). Without --system: for this user (~/.local/share, ~/Desktop);
# with --system (as root): the menu of every user (/usr/local/share), no desktop launcher.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

system=0
if [ "${1:-}" = "--system" ]; then
    system=1
    shift
fi
folder="${1:-$REPO/dist/ibdesk}"
if [ ! -x "$folder/ibdesk" ]; then
    echo "There is no built program in $folder; build it first: .venv/bin/python build/build.py" >&2
    exit 1
fi
program="$(cd "$folder" && pwd)/ibdesk"
case "$program" in
    *[\"\`\$\\%]* | *$'\n'*)
        echo "The program's path $program has a character a launcher cannot hold; move it." >&2
        exit 1
        ;;
esac
exec_value="$program"
[[ "$program" == *" "* ]] && exec_value="\"$program\""  # the desktop entry spec's quoting

if [ "$system" -eq 1 ]; then
    data="/usr/local/share"
else
    data="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
apps="$data/applications"
icons="$data/icons/hicolor"
mkdir -p "$apps" "$icons/scalable/apps" "$icons/256x256/apps"
install -m 0644 "$REPO/build/linux/ibdesk.svg" "$icons/scalable/apps/ibdesk.svg"
install -m 0644 "$REPO/build/linux/ibdesk.png" "$icons/256x256/apps/ibdesk.png"

launcher="$apps/ibdesk.desktop"
EXEC_VALUE="$exec_value" PROGRAM="$program" awk '
    /^Exec=/ { print "Exec=" ENVIRON["EXEC_VALUE"]; next }
    /^TryExec=/ { print "TryExec=" ENVIRON["PROGRAM"]; next }
    { print }
' "$REPO/build/linux/ibdesk.desktop" >"$launcher.part"
chmod 0755 "$launcher.part"  # desktops start only executable (trusted) launchers
mv "$launcher.part" "$launcher"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$launcher"
fi
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$icons" || true
echo "Installed the menu entry $launcher"

if [ "$system" -eq 0 ]; then
    desktop="${XDG_DESKTOP_DIR:-$(xdg-user-dir DESKTOP 2>/dev/null || echo "$HOME/Desktop")}"
    if [ -d "$desktop" ]; then
        install -m 0755 "$launcher" "$desktop/ibdesk.desktop"
        # GNOME starts a desktop launcher on a double-click once it is marked trusted.
        gio set "$desktop/ibdesk.desktop" metadata::trusted true 2>/dev/null || true
        echo "Installed the desktop launcher $desktop/ibdesk.desktop"
    fi
fi
