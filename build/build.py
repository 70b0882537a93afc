"""Build the clinic's ImageBank SysAdmin with PyInstaller: one folder, dist/ibdesk/.

    .venv/bin/python build/build.py [--distpath DIR]

Work files go under build/.work/ (PyInstaller's default ./build is this recipe's folder).
Start the result with dist/ibdesk/ibdesk (ibdesk.exe on Windows); it is the whole `ibdesk`
command, and opens the window when started with no command.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str] | None = None) -> int:
    """Run PyInstaller on build/ibdesk.spec and print where the program is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distpath", type=Path, default=ROOT / "dist")
    parser.add_argument("--workpath", type=Path, default=HERE / ".work")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("PyInstaller") is None:
        print(
            "PyInstaller is not installed in this Python; install the build extra: "
            f"{sys.executable} -m pip install -e '{ROOT}[build]'",
            file=sys.stderr,
        )
        return 1
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(HERE / "ibdesk.spec"),
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--workpath",
        str(args.workpath),
        "--distpath",
        str(args.distpath),
    ]
    done = subprocess.run(command, cwd=ROOT, check=False)
    if done.returncode != 0:
        return done.returncode
    program = args.distpath / "ibdesk" / ("ibdesk.exe" if sys.platform == "win32" else "ibdesk")
    print(f"Built {program}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
