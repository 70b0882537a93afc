"""The wizard's forms: the server (step 1), the database (2), the license (3), the first user (4).

``ServerForm`` is also the General settings tab's "Change connection" form. It turns what
was typed into a ``ServerSpec``; its password field never shows a value back.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from ibdesk import limits
from ibdesk.errors import UserError
from ibdesk.forms import DomainCheck
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.settings.connection import (
    BACKEND_LABELS,
    ServerSpec,
    check_database_name,
    check_host,
)
from ibdesk.users import normalize_username
from ibdesk.users.passwords import MIN_LENGTH, check_rule

BACKEND_CHOICES = [
    SelectChoice("sqlite", _l("SQLite (a file on this computer)")),
    SelectChoice("postgresql", BACKEND_LABELS["postgresql"]),
    SelectChoice("mssql", BACKEND_LABELS["mssql"]),
]
AUTH_CHOICES = [
    SelectChoice("sql", _l("SQL Server login")),
    SelectChoice("windows", _l("Windows authentication")),
]
PASSWORD_KEPT = _l("Leave empty to keep the password given before (it is never shown).")


def preferred_driver(drivers: list[str]) -> str:
    """Pick the ODBC driver to offer first: Microsoft's newest, else FreeTDS, else any."""
    microsoft = sorted((d for d in drivers if "SQL Server" in d), reverse=True)
    free_tds = [d for d in drivers if "FreeTDS" in d]
    return (microsoft or free_tds or drivers or [""])[0]


class ServerForm(FlaskForm):
    """Step 1: which kind of database server, where it is and how to sign in."""

    backend = RadioField(_l("Database type"), choices=BACKEND_CHOICES, default="sqlite")
    folder = StringField(
        _l("Folder for the database file"),
        description=_l("The SQLite database is one file in this folder on this computer."),
    )
    host = StringField(
        _l("Server"),
        description=_l("The server's name or address; for SQL Server also SERVER\\INSTANCE."),
    )
    port = StringField(
        _l("Port"),
        description=_l("Empty: the usual one."),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    instance = StringField(
        _l("Instance"), description=_l("A named SQL Server instance, such as SQLEXPRESS; or empty.")
    )
    auth = RadioField(_l("Sign in with"), choices=AUTH_CHOICES, default="sql")
    user = StringField(_l("User name"), render_kw={"autocomplete": "off", "spellcheck": "false"})
    password = PasswordField(_l("Password"), render_kw={"autocomplete": "off"})
    driver = SelectField(
        _l("ODBC driver"),
        choices=[],
        validate_choice=False,
        description=_l("The drivers installed on this computer."),
    )
    encrypt = BooleanField(_l("Encrypt the connection"), default=True)
    trust_server_certificate = BooleanField(
        _l("Trust the server's certificate without checking it"),
        description=_l("Only for a server with a self-made certificate, inside the clinic."),
    )

    def __init__(self, *args: Any, drivers: list[str], password_kept: bool = False, **kwargs: Any):
        """Offer the ODBC drivers installed here; say when an empty password keeps the old."""
        super().__init__(*args, **kwargs)
        self.drivers = drivers
        self.driver.choices = [SelectChoice(d) for d in drivers]
        if not self.driver.data:
            self.driver.data = preferred_driver(drivers)
        if password_kept:
            self.password.description = PASSWORD_KEPT

    @classmethod
    def from_spec(
        cls, spec: ServerSpec, *, drivers: list[str], password_kept: bool = False
    ) -> ServerForm:
        """Return the form filled in from a spec, all but its password (never shown)."""
        data = {
            "backend": spec.backend,
            "folder": spec.folder,
            "host": spec.host,
            "port": str(spec.port) if spec.port else "",
            "instance": spec.instance,
            "auth": "windows" if spec.trusted else "sql",
            "user": spec.user,
            "driver": spec.driver or preferred_driver(drivers),
            "encrypt": spec.encrypt,
            "trust_server_certificate": spec.trust_server_certificate,
        }
        return cls(formdata=None, data=data, drivers=drivers, password_kept=password_kept)

    def _server(self) -> bool:
        return self.backend.data in ("postgresql", "mssql")

    def validate_folder(self, field: Field) -> None:
        """Require the folder for SQLite."""
        if self.backend.data == "sqlite" and not (field.data or "").strip():
            raise ValidationError(_("Choose the folder for the SQLite database."))

    def validate_host(self, field: Field) -> None:
        """Require a server's name or address for PostgreSQL and SQL Server."""
        if not self._server():
            return
        host = (field.data or "").strip()
        host = host.split("\\", 1)[0]  # SERVER\INSTANCE: the instance is checked apart
        try:
            check_host(host)
        except UserError as error:
            raise ValidationError(str(error)) from error

    def validate_port(self, field: Field) -> None:
        """Accept an empty port or a number from 1 to 65535."""
        value = (field.data or "").strip()
        if self._server() and value and not 0 < (limits.row_id(value) or 0) < 65536:
            raise ValidationError(_("The port must be a number from 1 to 65535."))

    def validate_user(self, field: Field) -> None:
        """Require a user name, except for Windows authentication."""
        windows = self.backend.data == "mssql" and self.auth.data == "windows"
        if self._server() and not windows and not (field.data or "").strip():
            raise ValidationError(_("Type the user name to sign in with."))

    def validate_driver(self, field: Field) -> None:
        """Require one of the ODBC drivers installed on this computer, for SQL Server."""
        if self.backend.data != "mssql":
            return
        if not self.drivers:
            raise ValidationError(
                _(
                    "No ODBC driver is installed on this computer; install Microsoft's ODBC "
                    "Driver for SQL Server (or FreeTDS) first."
                )
            )
        if field.data not in self.drivers:
            raise ValidationError(
                _(
                    "That ODBC driver is not installed here; choose one of: %(drivers)s.",
                    drivers=", ".join(self.drivers),
                )
            )

    def spec(self, kept_password: str = "") -> ServerSpec:
        """Return what was typed as a checked ServerSpec (raises UserError)."""
        port = (self.port.data or "").strip()
        server = self._server()
        spec = ServerSpec(
            backend=self.backend.data or "",
            host=(self.host.data or "") if server else "",
            port=limits.row_id(port) if server else None,
            instance=(self.instance.data or "") if self.backend.data == "mssql" else "",
            user=(self.user.data or "") if server else "",
            password=(self.password.data or kept_password) if server else "",
            trusted=self.backend.data == "mssql" and self.auth.data == "windows",
            driver=(self.driver.data or "") if self.backend.data == "mssql" else "",
            encrypt=bool(self.encrypt.data),
            trust_server_certificate=bool(self.trust_server_certificate.data),
            folder=(self.folder.data or "") if self.backend.data == "sqlite" else "",
        )
        return spec.check()

    def checked_spec(self, kept_password: str = "") -> ServerSpec | None:
        """Validate the form and return its spec, or None with the errors on the form."""
        if not self.validate_on_submit():
            return None
        try:
            return self.spec(kept_password)
        except UserError as error:
            self.form_errors.append(str(error))
            return None


class CreateDatabaseForm(FlaskForm):
    """Step 2, first way: a new, empty ImageBank database."""

    name = StringField(
        _l("Name of the new database"),
        default="imagebank",
        validators=[DataRequired(_l("Type a name for the new database."))],
        description=_l("Letters, digits, _ or -, starting with a letter; for example imagebank."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )

    def validate_name(self, field: Field) -> None:
        """Refuse a name that is not safe on every kind of server."""
        try:
            field.data = check_database_name(field.data or "")
        except UserError as error:
            raise ValidationError(str(error)) from error


class ChooseDatabaseForm(FlaskForm):
    """Step 2, second way: one of the databases listed on the server."""

    database = RadioField(_l("Databases on the server"), choices=[], validate_choice=False)

    def __init__(self, *args: Any, names: list[str], **kwargs: Any):
        """Offer the names that [List databases] found."""
        super().__init__(*args, **kwargs)
        self.names = names
        self.database.choices = [SelectChoice(name) for name in names]

    def validate_database(self, field: Field) -> None:
        """Accept only a database from the list."""
        if not field.data:
            raise ValidationError(_("List the databases and choose one first."))
        if field.data not in self.names:
            raise ValidationError(_("That database is not in the list; list the databases again."))


class AdminUserForm(FlaskForm):
    """Step 4: the first administrator account."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Type a user name.")), DomainCheck(normalize_username)],
        description=_l("2 to 64 letters, digits or . - _ @, no spaces; for example anna.admin."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    display_name = StringField(_l("Full name (optional)"))
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Type a password."))],
        description=_l(
            "At least %(count)s characters, not containing the user name; a short phrase of "
            "a few words is easy to remember and hard to guess.",
            count=MIN_LENGTH,
        ),
        render_kw={"autocomplete": "new-password"},
    )

    def validate_password(self, field: Field) -> None:
        """Refuse a password that does not meet the rule (beside the user name's error)."""
        if not field.data:
            return  # DataRequired has said so
        try:
            check_rule(field.data, username=(self.username.data or "").strip().lower())
        except UserError as error:
            raise ValidationError(str(error)) from error
