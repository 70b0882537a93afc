"""The database behind the web app: the one in force, one session per request, its status.

The database is resolved on each request (``--db``, ``IBDESK_DB``, the configuration file,
then the default SQLite file), so that when the wizard saves a new choice the next page
uses it; engines are cached per URL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ibdesk import audit, clinic_settings, config, display, schema
from ibdesk.audit import Actor
from ibdesk.backup import store
from ibdesk.db import DatabaseError, explain, make_engine
from ibdesk.errors import UserError
from ibdesk.settings.connection import DatabaseLabel, describe_database

_EXTENSION = "ibdesk.database"


class Database:
    """The database in force for one app, with its engines cached by URL."""

    def __init__(self, db_option: str | None) -> None:
        """Remember the --db option; nothing connects yet."""
        self.db_option = db_option
        self._engines: dict[str, Engine] = {}
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    def choice(self) -> config.DatabaseChoice:
        """Return the database URL in force and where it came from."""
        return config.resolve_database(self.db_option)

    def engine(self, url: str | None = None) -> Engine:
        """Return the engine for the URL (default: the one in force); raise DatabaseError."""
        url = url or self.choice().url
        with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                engine = make_engine(url)
                self._engines[url] = engine
            return engine

    def schema_status(self, url: str | None = None) -> schema.SchemaStatus:
        """Check the schema of the database in force (connects; raises DatabaseError)."""
        url = url or self.choice().url
        status = schema.check(self.engine(url))
        if status.usable:
            with self._lock:
                self._ready.add(url)
        return status

    def is_configured(self) -> bool:
        """Say whether a database was chosen, or the default SQLite file is ready to use."""
        choice = self.choice()
        if choice.configured:
            return True
        with self._lock:
            if choice.url in self._ready:
                return True
        try:
            return self.schema_status(choice.url).usable
        except DatabaseError:
            return False

    def ready_engine(self) -> Engine:
        """Return the engine of the database in force once its schema is current."""
        url = self.choice().url
        with self._lock:
            known_ready = url in self._ready
        if not known_ready:
            status = self.schema_status(url)
            if not status.usable:
                raise DatabaseError(status.message)
        return self.engine(url)

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def install(app: Flask, db_option: str | None) -> Database:
    """Attach the database to the app and close each request's session at teardown."""
    database = Database(db_option)
    app.extensions[_EXTENSION] = database
    app.teardown_appcontext(_close_session)
    return database


def database() -> Database:
    """Return the current app's database."""
    found: Database = current_app.extensions[_EXTENSION]
    return found


def actor() -> Actor:
    """Return who acts in this request: the signed-in person at this machine.

    Before anyone can sign in (the wizard creating the first administrator) it is the
    operating-system account running the program, as ``audit.local_admin`` says.
    """
    found = g.get("ibdesk_signed_in")
    if found is None:
        return audit.local_admin()
    return Actor(user=found.username, machine=audit.this_machine(), rights=found.rights)


def db_session() -> Session:
    """Return this request's session on the database in force (schema checked once)."""
    session: Session | None = g.get("ibdesk_db_session")
    if session is None:
        session = Session(database().ready_engine(), expire_on_commit=False)
        g.ibdesk_db_session = session
    return session


def _close_session(_error: BaseException | None) -> None:
    session: Session | None = g.pop("ibdesk_db_session", None)
    if session is not None:
        session.close()


@dataclass(frozen=True)
class Status:
    """The database, its schema and the image folder, as the status bar and overview show."""

    label: DatabaseLabel
    schema_state: schema.SchemaState | None
    schema_revision: str | None
    schema_message: str
    image_folder: str | None
    problem: str | None
    backup: store.Health | None = None  # the last good backup, read from the config folder

    @property
    def ok(self) -> bool:
        """Return whether the database answered and its schema is current."""
        return self.problem is None and self.schema_state is schema.SchemaState.CURRENT

    @property
    def schema_text(self) -> str:
        """Say the schema in words: "ImageBank 2.1, up to date"."""
        return display.schema(self.schema_state, self.schema_revision)[0]

    @property
    def schema_details(self) -> str:
        """Name the schema revision, for a details line."""
        return display.schema(self.schema_state, self.schema_revision)[1]


def database_label(database: Database) -> DatabaseLabel:
    """Describe the database in force from its URL alone (instant, never fails)."""
    return describe_database(database.choice)


def status(database: Database) -> Status:
    """Connect to the database in force and report its schema and image folder."""
    label = database_label(database)
    try:
        url = database.choice().url
        state = database.schema_status(url)
        folder = None
        if state.usable:
            reader = database.engine(url).execution_options(ibdesk_read_only=True)
            with Session(reader) as session:
                folder = clinic_settings.get(session, clinic_settings.IMAGE_FOLDER)
    except UserError as error:
        return Status(label, None, None, str(error), None, str(error), store.health())
    except Exception as error:  # the status bar must never break the page
        message = explain(error, None)
        return Status(label, None, None, message, None, message, store.health())
    return Status(label, state.state, state.revision, state.message, folder, None, store.health())
