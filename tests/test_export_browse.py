"""Choosing the export folder in a web browser: the server lists folders, refuses the
system's own, and puts the chosen one in the form's folder field."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ibdesk import folders
from ibdesk.errors import UserError
from webfixtures import HX


def test_browse_lists_subfolders_and_marks_what_cannot_be_chosen(tmp_path: Path) -> None:
    here = tmp_path / "usb"
    (here / "Export åäö").mkdir(parents=True)
    (here / "b").mkdir()
    (here / ".hidden").mkdir()
    (here / "a file.txt").write_text("x")
    listing = folders.browse(here)
    assert [s.name for s in listing.subfolders] == ["b", "Export åäö"]
    assert listing.parent == str(tmp_path) and listing.refused == ""
    root = folders.browse("/")
    etc = next(s for s in root.subfolders if s.name == "etc")
    assert not etc.can_open and etc.refused
    assert root.parent is None and root.refused  # a disk's root is never an export folder
    with pytest.raises(UserError, match="operating system"):
        folders.browse("/etc")
    assert folders.browse(str(tmp_path / "no such")).path == str(Path.home().resolve())


def test_the_browser_gets_browse_and_use_this_folder(client: FlaskClient, tmp_path: Path) -> None:
    (tmp_path / "Export åäö").mkdir()
    page = client.get("/export/").text
    assert 'id="export-browse-button"' in page  # no desktop window: browse on the server
    listing = html.unescape(
        client.get("/export/folders", query_string={"to": str(tmp_path)}, headers=HX).text
    )
    assert 'data-folder="Export åäö"' in listing and 'id="export-browse-use"' in listing
    chosen = tmp_path / "Export åäö"
    used = html.unescape(
        client.get("/export/folders/use", query_string={"at": str(chosen)}, headers=HX).text
    )
    assert f'value="{chosen}"' in used and 'id="export-folder"' in used
    assert client.get("/export/folders/use", query_string={"at": "/etc"}).status_code == 400
    assert client.get("/export/folders", query_string={"at": "/usr/lib"}).status_code == 400
    too_long = client.get("/export/folders", query_string={"at": "x" * 5000})
    assert too_long.status_code == 400
