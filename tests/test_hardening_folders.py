"""Dangerous folders are refused with a sentence that says why, and nothing is stored.

The root of a disk and the operating system's folders (also through a symbolic link) are
refused as the image folder (domain, General settings, ``ibdesk images folder``) and as an
export target; a database backup is refused inside the shared image folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from test_settings_views import _stored, configured  # noqa: F401 - the fixture
from test_wizard_views import html, post

from ibdesk import clinic_settings, config, folders
from ibdesk.cli import main
from ibdesk.db import make_engine
from ibdesk.errors import Refused, UserError
from ibdesk.export import plan
from ibdesk.settings import backup, imagefolder

pytestmark = [
    pytest.mark.backends("sqlite"),
    pytest.mark.skipif(os.name != "posix", reason="POSIX system folders"),
]

DANGEROUS = ("/", "/etc", "/usr", "/usr/local/share", "/bin", "/proc", "/dev", "/var/lib")


@pytest.fixture
def etc_link(tmp_path: Path) -> Path:
    link = tmp_path / "looks-harmless"
    link.symlink_to("/etc")
    return link


def test_the_one_check_names_the_reason(etc_link: Path, tmp_path: Path) -> None:
    assert "root of a disk" in folders.danger("/")
    assert "operating system" in folders.danger("/etc")
    assert "operating system" in folders.danger(etc_link)
    assert "operating system" in folders.danger("/usr/share/doc")
    assert "side by side" in folders.danger("/home")
    assert folders.danger(tmp_path) == ""
    assert folders.danger("/etcetera") == ""
    assert folders.danger("/srv/imagebank") == ""


@pytest.mark.parametrize("path", DANGEROUS)
def test_the_image_folder_domain_refuses(path: str) -> None:
    with pytest.raises(UserError, match="cannot be used as the image folder"):
        imagefolder.check_image_folder(path)


def test_the_settings_view_refuses_and_stores_nothing(
    configured: FlaskClient,  # noqa: F811 - the imported fixture
    db_url: str,
    etc_link: Path,
) -> None:
    for path in (*DANGEROUS, str(etc_link)):
        for url in ("/settings/image-folder", "/settings/image-folder/check"):
            refused = post(configured, url, {"image-path": path})
            page = html(refused)
            assert refused.status_code == 422, (url, path)
            assert "cannot be used as the image folder" in page
        assert _stored(db_url) is None


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_the_cli_shows_checks_and_stores_like_the_settings_tab(
    db_url: str, tmp_path: Path, etc_link: Path
) -> None:
    config.set_database_url(db_url)
    assert _cli("images", "folder") == (0, "The image folder is not set.\n")
    for path in (*DANGEROUS, str(etc_link)):
        code, output = _cli("images", "folder", path)
        assert code != 0 and "cannot be used as the image folder" in output, path
        assert _stored(db_url) is None
    code, output = _cli("images", "folder", "relative/bilder")
    assert code != 0 and "full path" in output and _stored(db_url) is None
    images = tmp_path / "bilder"
    images.mkdir()
    code, output = _cli("images", "folder", str(images), "--json")
    assert code == 0 and json.loads(output)["image_folder"] == str(images)
    assert _stored(db_url) == str(images)
    code, output = _cli("images", "folder", "--json")
    assert code == 0 and json.loads(output) == {"image_folder": str(images)}
    code, output = _cli("images", "folder", "/etc")
    assert code != 0 and _stored(db_url) == str(images)


@pytest.mark.parametrize("path", DANGEROUS)
def test_an_export_target_in_a_system_folder_is_refused(path: str, tmp_path: Path) -> None:
    images = tmp_path / "bilder"
    images.mkdir()
    with pytest.raises(Refused, match="cannot be used as the export folder"):
        plan.check_target(Path(path), images.resolve())


def test_an_export_target_through_a_link_is_refused(etc_link: Path, tmp_path: Path) -> None:
    with pytest.raises(Refused, match="operating system"):
        plan.check_target(etc_link, (tmp_path / "x").resolve())


def test_a_backup_inside_the_image_folder_or_a_system_folder_is_refused(
    db_url: str, tmp_path: Path
) -> None:
    images = tmp_path / "bilder"
    (images / "backups").mkdir(parents=True)
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(images), by="test")
            session.commit()
        for folder in (images, images / "backups"):
            with pytest.raises(UserError, match="inside the shared image folder"):
                backup.backup(engine, folder)
            assert list(folder.glob("*.sqlite3*")) == []
        with pytest.raises(UserError, match="cannot be used as the backup folder"):
            backup.backup(engine, Path("/etc"))
        outside = tmp_path / "backups"
        outside.mkdir()
        assert backup.backup(engine, outside).path.parent == outside
    finally:
        engine.dispose()


@pytest.mark.parametrize("typed", [".", "kopior", "..", "./bilder", "C:relativ"])
def test_a_relative_path_typed_in_the_window_is_refused(
    configured: FlaskClient,  # noqa: F811 - the imported fixture
    typed: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server's working folder means nothing to the person typing: nothing may land there.
    cwd = tmp_path / "arbetsmapp"
    (cwd / "kopior").mkdir(parents=True)
    monkeypatch.chdir(cwd)
    forms = {
        "/settings/copy": {"copy-folder": typed},
        "/settings/update": {"update-backup_folder": typed},
        "/settings/attach": {"attach-path": typed},
    }
    for url, data in forms.items():
        refused = post(configured, url, data)
        assert refused.status_code == 422, (url, refused.status_code)
        assert "Give the full path, for example D:" in html(refused), url
    assert sorted(p.name for p in cwd.iterdir()) == ["kopior"]
    assert list((cwd / "kopior").iterdir()) == []


def test_full_paths_of_both_kinds_pass_the_window_check() -> None:
    for typed in ("/srv/backup", "D:\\ImageBank\\Backup", "\\\\server\\share\\kopior", "~/backup"):
        assert folders.is_full_path(typed), typed
    for typed in (".", "kopior", "C:relativ", "", "..\\x"):
        assert not folders.is_full_path(typed), typed


def test_an_unknown_home_or_a_loop_of_links_is_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for typed, words in (
        ("~ingen-sadan-anvandare/bilder", "no such user"),
        (str(tmp_path / "a" / "bilder"), "round in a circle"),
    ):
        assert not folders.is_folder(typed)
        with pytest.raises(UserError, match=words):
            folders.danger(typed)
        with pytest.raises(UserError, match=words):
            folders.refuse_dangerous(typed, "image folder")
        with pytest.raises(UserError, match=words):
            imagefolder.check_image_folder(typed)
