"""Folders that must never hold the clinic's images, exports or backups.

One check for every place a person types a folder (the image folder, an export target, a
backup folder): the root of a disk and the operating system's own folders are refused with a
sentence that says why. Symbolic links are resolved first, so a link to ``/etc`` is ``/etc``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _

# The system's own folders: refused themselves and everything inside them.
_POSIX_SYSTEM = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/System",
    "/private/etc",
)
# Folders that hold everybody's data side by side: refused themselves, fine further down.
_POSIX_SHARED_ROOTS = ("/home", "/root", "/Users", "/var", "/var/lib", "/private/var")


def _windows_system() -> tuple[str, ...]:
    drive = os.environ.get("SYSTEMDRIVE", "C:")
    return tuple(
        os.environ.get(name, default)
        for name, default in (
            ("SYSTEMROOT", f"{drive}\\Windows"),
            ("PROGRAMFILES", f"{drive}\\Program Files"),
            ("PROGRAMFILES(X86)", f"{drive}\\Program Files (x86)"),
            ("PROGRAMDATA", f"{drive}\\ProgramData"),
        )
    )


def _key(path: PurePath) -> str:
    text = str(path)
    return text.casefold() if os.name == "nt" else text


def _within(path: PurePath, folder: str) -> bool:
    key, root = _key(path), _key(type(path)(folder))
    separator = "\\" if os.name == "nt" else "/"
    return key == root or key.startswith(root.rstrip(separator) + separator)


def _unusable(path: Path | str, why: str) -> UserError:
    return UserError(
        _("%(path)s cannot be used: %(why)s; type the folder's full path.", path=str(path), why=why)
    )


def expand(path: Path | str) -> Path:
    """Return a typed path with ``~`` expanded, or say that no such user's home exists."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise _unusable(path, _("there is no such user's home folder")) from None


def resolve(path: Path | str) -> Path:
    """Return the folder with ``~`` expanded and every symbolic link resolved."""
    if "\0" in str(path):
        raise UserError(
            _("%(path)r holds a NUL character, which no folder name can hold.", path=str(path))
        )
    expanded = expand(path)
    try:
        return expanded.resolve()
    except RuntimeError:  # links that lead to each other
        raise _unusable(path, _("its links lead round in a circle")) from None


def danger(path: Path | str) -> str:
    """Return why a folder must not be used for the clinic's files, or "" when it may."""
    resolved = resolve(path)
    if resolved.parent == resolved:
        return _("%(folder)s is the root of a disk", folder=resolved)
    system = _windows_system() if os.name == "nt" else _POSIX_SYSTEM
    for folder in system:
        if _within(resolved, folder):
            return _(
                "%(folder)s is a folder of the operating system (%(system)s)",
                folder=resolved,
                system=folder,
            )
    if os.name != "nt" and str(resolved) in _POSIX_SHARED_ROOTS:
        return _(
            "%(folder)s holds other people's or programs' folders side by side", folder=resolved
        )
    return ""


def is_full_path(typed: str) -> bool:
    """Return whether a typed path is whole (Windows or POSIX, or from a home folder ``~``).

    A relative path typed into the window would be read from the server process's working
    folder, which means nothing to the person typing it.
    """
    text = typed.strip()
    return (
        text.startswith("~")
        or PurePosixPath(text).is_absolute()
        or PureWindowsPath(text).is_absolute()
    )


def refuse_dangerous(path: Path | str, use: str) -> Path:
    """Return the resolved folder, refusing the root of a disk or a system folder for ``use``."""
    reason = danger(path)
    if reason:
        raise UserError(
            _(
                "%(path)s cannot be used as the %(use)s: %(reason)s; choose a folder of its "
                "own, for example D:\\ImageBank or /srv/imagebank.",
                path=path,
                use=use,
                reason=reason,
            )
        )
    return resolve(path)


def is_inside(path: Path | str, folder: Path | str) -> bool:
    """Return whether ``path`` is ``folder`` or lies inside it, once links are resolved."""
    inner, outer = resolve(path), resolve(folder)
    return inner == outer or outer in inner.parents


def is_folder(path: Path | str) -> bool:
    """Return whether a typed path names a reachable folder (a name too long is not one)."""
    try:
        return Path(path).expanduser().is_dir()
    except (OSError, ValueError, RuntimeError):  # too long, a NUL, ~nobody: not a folder
        return False


def is_file(path: Path | str) -> bool:
    """Return whether a typed path names a reachable file (a name too long is not one)."""
    try:
        return Path(path).expanduser().is_file()
    except (OSError, ValueError, RuntimeError):  # too long, no way in, ~nobody: not a file
        return False


def exists(path: Path | str) -> bool:
    """Return whether anything can be reached under a typed path (a name too long cannot)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


LISTED_MAX = 500  # subfolders one listing shows; a folder with more is narrowed by typing


@dataclass(frozen=True)
class Subfolder:
    """One folder of a listing: whether it can be opened, and why it cannot be chosen."""

    name: str
    path: str
    can_open: bool
    refused: str  # "" when the folder may be chosen


@dataclass(frozen=True)
class Listing:
    """A folder, its parent (None at a disk's root) and its subfolders, for the browser."""

    path: str
    parent: str | None
    refused: str
    subfolders: list[Subfolder]
    more: bool


def _is_system(resolved: Path) -> bool:
    system = _windows_system() if os.name == "nt" else _POSIX_SYSTEM
    return any(_within(resolved, folder) for folder in system)


def browse(path: Path | str | None) -> Listing:
    """List a folder's subfolders for choosing one in a web browser (no desktop dialog).

    The system's own folders are listed but can be neither opened nor chosen; hidden
    folders are left out. A path that is not a folder starts from the home folder.
    """
    start = Path.home() if not path or not is_folder(path) else Path(path)
    here = resolve(start)
    if _is_system(here):
        raise UserError(
            _("%(folder)s is a folder of the operating system; choose another folder.", folder=here)
        )
    found: list[Subfolder] = []
    more = False
    try:
        entries = sorted(os.scandir(here), key=lambda e: e.name.casefold())
    except OSError as error:
        raise UserError(
            _("%(folder)s cannot be listed (%(reason)s).", folder=here, reason=error.strerror)
        ) from error
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_dir():
                continue
        except OSError:
            continue
        if len(found) == LISTED_MAX:
            more = True
            break
        child = here / entry.name
        system = _is_system(resolve(child))
        found.append(Subfolder(entry.name, str(child), not system, danger(child)))
    parent = str(here.parent) if here.parent != here else None
    return Listing(str(here), parent, danger(here), found, more)
