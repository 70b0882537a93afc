"""The General settings tab's forms: the image folder and the database tools.

Changing the connection reuses the wizard's ``ServerForm`` (``ibdesk/forms/wizard.py``).
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired

from ibdesk.errors import UserError
from ibdesk.forms import DomainCheck, FullPath
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.settings.connection import check_database_name
from ibdesk.settings.dbadmin import check_login_name, check_login_password


class _SectionForm(FlaskForm):
    """A form of one page section, its fields prefixed (``backup-folder``) so ids stay unique.

    The app's CSRFProtect checks every POST's token (``csrf_token``) before the view runs;
    a prefixed form would look for ``backup-csrf_token`` instead, so it checks none itself.
    """

    PREFIX = ""

    class Meta:
        """No form-level CSRF field: the app-wide protection covers the request."""

        csrf = False

    def __init__(self, *args: Any, **kwargs: Any):
        """Use the section's prefix."""
        kwargs.setdefault("prefix", self.PREFIX)
        super().__init__(*args, **kwargs)


class ImageFolderForm(_SectionForm):
    """The shared image folder every workstation uses."""

    PREFIX = "image"

    path = StringField(
        _l("Shared image folder"),
        validators=[DataRequired(_l("Type the path of the shared image folder."))],
        description=_l(
            "The folder all workstations keep the images in, such as D:\\ImageBank "
            "or /srv/imagebank. A Windows network path (\\\\server\\share\\folder) is stored as "
            "typed."
        ),
        render_kw={"spellcheck": "false"},
    )


class BackupForm(_SectionForm):
    """[Backup now]: the database and the image folder, one snapshot (nothing to fill in)."""

    PREFIX = "backup"


class CopyForm(_SectionForm):
    """[Copy the database]: where the verified copy of the database alone goes."""

    PREFIX = "copy"

    folder = StringField(
        _l("Folder for the copy"),
        validators=[DataRequired(_l("Type the folder for the copy.")), FullPath()],
        description=_l("A folder on this computer; for SQL Server, a folder on the server itself."),
        render_kw={"spellcheck": "false"},
    )


class UpdateForm(_SectionForm):
    """[Update database]: the verified backup taken first."""

    PREFIX = "update"

    backup_folder = StringField(
        _l("Backup folder"),
        validators=[FullPath()],
        description=_l("A verified backup is written here before the schema changes."),
        render_kw={"spellcheck": "false"},
    )
    backed_up_on_server = BooleanField(
        _l("The database was backed up on the SQL Server (see Backup now)")
    )


class AttachForm(_SectionForm):
    """[Attach existing 2.1 database]: a SQLite file, or SQL Server .mdf/.ldf files."""

    PREFIX = "attach"

    path = StringField(
        _l("Database file"),
        validators=[DataRequired(_l("Type the path of the database file.")), FullPath()],
        render_kw={"spellcheck": "false"},
    )
    ldf = StringField(_l("Log file (.ldf)"), render_kw={"spellcheck": "false"})
    name = StringField(_l("Name for the attached database"), render_kw={"spellcheck": "false"})

    def __init__(self, *args: Any, backend: str, **kwargs: Any):
        """Ask for what the current database's type needs."""
        super().__init__(*args, **kwargs)
        self.backend = backend
        if backend == "mssql":
            self.path.label.text = _l("Data file (.mdf) on the server")
            self.path.description = _l("The path as the SQL Server machine sees it.")
        elif backend == "postgresql":
            self.path.label.text = _l("Dump file (made by pg_dump -Fc)")
            self.path.description = _l(
                "A dump of an ImageBank 2.x database, such as one written by Backup now; "
                "it is restored into a new database on this server."
            )
            self.name.label.text = _l("Name for the new database")
            self.name.description = _l("A name not yet used on the server, such as imagebank_2.")
        else:
            self.path.description = _l(
                "The ImageBank 2.1 SQLite file, such as D:\\ImageBank\\ib.sqlite3."
            )

    def validate_name(self, field: Field) -> None:
        """Require a safe database name for SQL Server and PostgreSQL."""
        if self.backend not in ("mssql", "postgresql"):
            return
        try:
            field.data = check_database_name(field.data or "")
        except UserError as error:
            raise ValidationError(str(error)) from error


class LoginForm(_SectionForm):
    """[Create database user]: a login for the workstations, with their rights only."""

    PREFIX = "login"

    login = StringField(
        _l("Login name"),
        validators=[
            DataRequired(_l("Type the new login's name.")),
            DomainCheck(check_login_name, strip=True),
        ],
        description=_l("2 to 63 letters, digits or _, starting with a letter; such as rum_1."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Type the new login's password.")),
            DomainCheck(check_login_password),
        ],
        description=_l(
            "At least 12 characters. Workstations sign in with it: keep it in the "
            "clinic's password safe."
        ),
        render_kw={"autocomplete": "new-password"},
    )
