"""The built program's size, and its start-to-window time next to the venv's, in one run.

    python benchmarks/build.py [--dist DIR] [--rounds R]

Builds dist/ibdesk/ with ``build/build.py`` into a temporary folder (timed), or measures an
existing build given with ``--dist``, and prints its size on disk. Then, on a private Xvfb
display, it starts the built program and the same program from the venv (``.venv/bin/ibdesk``)
R times each (default 5), alternating, each with a fresh IBDESK_HOME so the wizard opens,
and measures from process start to (1) the window mapped on the display and (2) the wizard
drawn in it (a screenshot shows the header band and the wizard's first step). Each run is
closed as a window manager closes a window and must exit 0. One warm-up start of each comes
first (not counted): both then read their files from the page cache. Medians and minima are
printed, with the ratio built / venv. The goal: the window visible in under 2 s here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

GOAL_S = 2.0
WAIT_S = 120.0


def folder_size(folder: Path) -> tuple[int, int]:
    """Return the bytes and the number of files under a folder."""
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(sizes), len(sizes)


def build(dist: Path) -> float:
    """Build the program into `dist` and return the seconds it took."""
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "build" / "build.py"),
            "--distpath",
            str(dist),
            "--workpath",
            str(dist.parent / "work"),
        ],
        cwd=ROOT,
        check=True,
    )
    return time.monotonic() - started


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Start a private X server for all the starts; return it and its display name.

    ``-noreset``: by default Xvfb resets when its last client leaves, and a program that
    connects during the reset cannot open its display.
    """
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [
            *("Xvfb", "-displayfd", str(write_end), "-noreset"),
            *("-screen", "0", "1280x800x24", "-nolisten", "tcp"),
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        number = numbers.readline().strip()
    return proc, f":{number}"


def poll(condition: Callable[[], object], what: str, deadline: float, interval: float) -> float:
    """Poll until condition() is truthy; return the monotonic time it became so."""
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def start_to_window(command: list[str], display: str, home: Path) -> tuple[float, float]:
    """Start the program; return the seconds to the window mapped and to the wizard drawn."""
    from PIL import ImageGrab
    from test_build import shows_the_wizard
    from test_window import close_window, find_window

    env = {k: v for k, v in os.environ.items() if k not in ("IBDESK_DB", "PYTHONPATH")}
    env.update(IBDESK_HOME=str(home), DISPLAY=display)
    home.mkdir(parents=True)
    log = home / "output.log"
    with log.open("w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = started + WAIT_S
        try:

            def mapped_window() -> object:
                if "instead." in log.read_text():  # no window: it fell back to a browser
                    raise SystemExit("the program could not open its window")
                return find_window(display)

            mapped = poll(mapped_window, "the window", deadline, 0.01)
            drawn = poll(
                lambda: shows_the_wizard(ImageGrab.grab(xdisplay=display).convert("RGB")),
                "the wizard",
                deadline,
                0.02,
            )
        except SystemExit:
            print(f"{command[0]} said:\n{log.read_text()}", file=sys.stderr)
            raise
        window = find_window(display)
        assert window is not None
        close_window(display, window)
        code = proc.wait(timeout=WAIT_S)
        if code != 0:
            raise SystemExit(f"{command[0]} exited with {code} after its window was closed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return mapped - started, drawn - started


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="an existing dist/ibdesk folder to measure")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ibdesk-bench-build-") as tmp:
        scratch = Path(tmp)
        if args.dist is None:
            seconds = build(scratch / "dist")
            folder = scratch / "dist" / "ibdesk"
            print(f"build: {seconds:.1f} s (build/build.py, PyInstaller one folder)")
        else:
            folder = args.dist.resolve()
        size, files = folder_size(folder)
        internal = folder / "_internal"
        webengine = sum(
            p.stat().st_size
            for p in internal.rglob("libQt6WebEngineCore*")
            if p.is_file() and not p.is_symlink()
        )
        print(
            f"size: {size / 1e6:.0f} MB in {files} files ({folder}); "
            f"Qt WebEngine's core library alone {webengine / 1e6:.0f} MB"
        )
        commands = {
            "built": [str(folder / "ibdesk")],
            "venv": [str(ROOT / ".venv" / "bin" / "ibdesk")],
        }
        xvfb, display = start_xvfb()
        try:
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for round_number in range(args.rounds + 1):  # round 0 is the warm-up
                for name, command in commands.items():
                    home = scratch / f"home-{name}-{round_number}"
                    measured = start_to_window(command, display, home)
                    if round_number:
                        times[name].append(measured)
        finally:
            xvfb.terminate()
            xvfb.wait()
    print(f"start to window, {args.rounds} starts each (median / min, seconds):")
    medians = {}
    for name, runs in times.items():
        mapped = [m for m, _ in runs]
        drawn = [d for _, d in runs]
        medians[name] = (statistics.median(mapped), statistics.median(drawn))
        print(
            f"  {name:6} window mapped {medians[name][0]:.2f} / {min(mapped):.2f}"
            f"   wizard drawn {medians[name][1]:.2f} / {min(drawn):.2f}"
        )
    built, venv = medians["built"], medians["venv"]
    print(
        f"  built / venv: window {built[0] / venv[0]:.2f}, wizard {built[1] / venv[1]:.2f}; "
        f"goal: window visible in under {GOAL_S:g} s: "
        + ("met" if built[0] < GOAL_S else "NOT met")
    )


if __name__ == "__main__":
    main()
