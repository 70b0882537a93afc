"""Shared fixtures: a private IBDESK_HOME, and fresh migrated databases on SQLite and PostgreSQL.

Every test that takes ``engine``, ``session`` or ``db_url`` runs twice: on SQLite and on a
real PostgreSQL server that this suite starts itself (a throwaway cluster, see pgserver.py).
``--backend sqlite`` or ``--backend postgresql`` runs one of them only.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement, TextClause

sys.path.insert(0, str(Path(__file__).parent))

import pgserver
from ibdesk import schema
from ibdesk.db import make_engine, mssql_dialect

pytest_plugins = ["webfixtures", "adfixtures"]

BACKENDS = ("sqlite", "postgresql")
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=BACKENDS,
        action="append",
        help="run database tests on this backend only (repeatable)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--backend") or list(BACKENDS)
        only = metafunc.definition.get_closest_marker("backends")
        if only is not None:
            chosen = [b for b in chosen if b in only.args]
        marks = {"postgresql": [pytest.mark.pg]}
        metafunc.parametrize(
            "backend",
            [pytest.param(b, marks=marks.get(b, []), id=b) for b in chosen],
            indirect=False,
        )


@pytest.fixture(autouse=True)
def ibdesk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give every test its own configuration and data folder."""
    home = tmp_path / "ibdesk-home"
    home.mkdir()
    monkeypatch.setenv("IBDESK_HOME", str(home))
    # English unless a test asks for Swedish: the assertions are in English.
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.delenv("IBDESK_DB", raising=False)
    monkeypatch.delenv("IBDESK_TRUST_KEY", raising=False)
    return home


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer]:
    """Start one throwaway PostgreSQL cluster for the whole run."""
    server = pgserver.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: pgserver.PgServer) -> str:
    """Create a migrated template database that each test's database is copied from."""
    admin = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE ibdesk_template"))
    admin.dispose()
    engine = make_engine(pg_server.url("ibdesk_template"))
    schema.upgrade(engine)
    engine.dispose()
    return "ibdesk_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create a migrated SQLite file that each test's database is copied from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}", create=True)
    schema.upgrade(engine)
    engine.dispose()  # the last connection to close folds the WAL into the file
    return path


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of a new, empty database on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server: pgserver.PgServer = request.getfixturevalue("pg_server")
    name = f"t_empty_{next(_counter)}"
    yield from _pg_database(server, name, template=None)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of a fresh database with the current schema."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "imagebank.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server: pgserver.PgServer = request.getfixturevalue("pg_server")
    template_name: str = request.getfixturevalue("pg_template")
    yield from _pg_database(server, f"t_{next(_counter)}", template=template_name)


def _pg_database(server: pgserver.PgServer, name: str, template: str | None) -> Iterator[str]:
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        suffix = f" TEMPLATE {template}" if template else ""
        conn.execute(text(f"CREATE DATABASE {name}{suffix}"))
    try:
        yield server.url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def engine(db_url: str, backend: str) -> Iterator[Engine]:
    """Return an engine on a fresh, migrated database.

    On SQLite, every statement the program issues during the test is also compiled for
    SQL Server (no server can run here), and the test fails if one does not compile.
    """
    eng = make_engine(db_url)
    failures: list[str] = []
    if backend == "sqlite":
        event.listen(eng, "before_execute", _mssql_compile_checker(failures))
    yield eng
    eng.dispose()
    assert not failures, "statements that do not compile for SQL Server:\n" + "\n".join(failures)


def _mssql_compile_checker(failures: list[str]) -> Any:
    dialect = mssql_dialect()

    def check(conn: Any, element: Any, multiparams: Any, params: Any, options: Any) -> None:
        if isinstance(element, ClauseElement) and not isinstance(element, TextClause):
            try:
                element.compile(dialect=dialect)
            except Exception as error:
                failures.append(f"{type(error).__name__}: {error} in {element}")

    return check


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Return a session on a fresh, migrated database (tests commit as the program does)."""
    with Session(engine, expire_on_commit=False) as sess:
        yield sess


@pytest.fixture
def vendor_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make a vendor key and trust it through IBDESK_TRUST_KEY, as tests and evaluators do."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ibdesk import vendor

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "test-vendor.pub"
    path.write_bytes(vendor.public_pem(key))
    monkeypatch.setenv("IBDESK_TRUST_KEY", str(path))
    return key


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture(scope="session")
def restic_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create one empty restic repository that backup tests copy (init is slow on purpose)."""
    import os
    import subprocess

    from backupclinic import PASSWORD

    folder = tmp_path_factory.mktemp("restic-template")
    secret = folder / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(secret), "RESTIC_CACHE_DIR": str(folder / "c")}
    subprocess.run(
        ["restic", "-r", str(folder / "repo"), "init"], env=env, check=True, capture_output=True
    )
    return folder / "repo"


CLI_ADMIN = "cli.admin"


@pytest.fixture
def cli_admin(db_url: str) -> str:
    """Sign an administrator in on the command line, as ``ibdesk login`` does; return the name.

    The commands that read or change patient data, users or licenses act as this person.
    """
    from ibdesk import users
    from ibdesk.audit import Actor
    from ibdesk.users import clisession

    engine = make_engine(db_url)
    with Session(engine) as session:
        if users.find_user(session, CLI_ADMIN) is None:
            users.create_user(
                session,
                CLI_ADMIN,
                "en administratör på kommandoraden",
                actor=Actor("test", "test"),
                is_admin=True,
            )
            session.commit()
        clisession.save(session, CLI_ADMIN)  # signed in to this database
    engine.dispose()
    return CLI_ADMIN
