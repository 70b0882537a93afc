"""Build the clinic's ImageBank SysAdmin with PyInstaller: one folder, dist/ibdesk/.

    .venv/bin/python build/build.py [--distpath DIR]

Work files go under build/.work/ (PyInstaller's default ./build is this recipe's folder).
Start the result with dist/ibdesk/ibdesk (ibdesk.exe on Windows); it is the whole `ibdesk`
command, and opens the window when started with no command.

On Windows the build also bundles the backup engine: the restic.exe pinned in
build/restic-pin.json, downloaded, refused unless its SHA-256 is the pinned one, and put
beside ibdesk.exe (with restic's license). On Linux the program uses Debian's restic.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
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
    restic: Path | None = None
    if sys.platform == "win32":
        restic = _verified_restic(args.workpath)
        if restic is None:
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
    if restic is not None:
        # Beside ibdesk.exe, where the program looks for it (ibdesk.backup.restic).
        for made in sorted(restic.parent.iterdir()):
            shutil.copyfile(made, program.parent / made.name)
        print(f"Bundled {program.parent / restic.name}")
    print(f"Built {program}")
    return 0


def _verified_restic(workpath: Path) -> Path | None:
    """Download (or reuse) and verify the pinned restic.exe; None after saying why not."""
    from restic_pin import PinError, bundle, load_pin  # build/restic_pin.py, beside this file

    try:
        pin = load_pin()
        made = bundle(pin, workpath / "restic", workpath / "restic-bundle")
    except (PinError, OSError) as error:
        print(f"The bundled restic.exe: {error}", file=sys.stderr)
        return None
    print(f"restic {pin.version} for Windows verified (SHA-256 {pin.sha256}).")
    return made


if __name__ == "__main__":
    sys.exit(main())
