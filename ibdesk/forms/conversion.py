"""The Conversion tab's form: where the ImageBank 1.2 installation is."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ibdesk.forms import FullPath
from ibdesk.i18n import lazy_gettext as _l


class SourceForm(FlaskForm):
    """The 1.2 database (any backend the program speaks) and its image folder."""

    backend = SelectField(
        _l("Database"),
        choices=[
            SelectChoice("mssql", _l("SQL Server")),
            SelectChoice("postgresql", _l("PostgreSQL")),
            SelectChoice("sqlite", _l("SQLite file")),
        ],
        default="mssql",
    )
    server = StringField(_l("Server"), validators=[Length(max=200)])
    instance = StringField(_l("Instance"), validators=[Length(max=100)])
    database = StringField(
        _l("Database or SQLite file"),
        validators=[DataRequired(_l("Type the 1.2 database's name or file.")), Length(max=400)],
    )
    user = StringField(_l("User"), validators=[Length(max=100)])
    password = PasswordField(_l("Password"), validators=[Length(max=200)])
    driver = StringField(
        _l("ODBC driver"),
        default="ODBC Driver 18 for SQL Server",
        validators=[Length(max=100)],
        description=_l("SQL Server only."),
    )
    images = StringField(
        _l("1.2 image folder"),
        validators=[DataRequired(_l("Type the 1.2 image folder.")), Length(max=400), FullPath()],
        description=_l("Read only: nothing in it is changed."),
    )
