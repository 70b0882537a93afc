"""The ibdesk command: db check/upgrade/drivers, demo, and one clear sentence for bad input."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from ibdesk import config, schema
from ibdesk.cli import main
from ibdesk.db import make_engine
from ibdesk.models import Patient


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_one_sentence_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert err.startswith("ibdesk: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_upgrade_then_check_on_the_default_sqlite(ibdesk_home: Path) -> None:
    result = run("db", "check")
    assert_one_sentence_error(result, "does not exist")
    assert not (ibdesk_home / "data" / config.DEFAULT_SQLITE_NAME).exists()
    assert run("db", "upgrade").exit_code == 0
    assert (ibdesk_home / "data" / config.DEFAULT_SQLITE_NAME).exists()
    result = run("db", "check", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["state"] == "current" and data["source"] == "default"


def test_db_option_beats_environment_beats_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = {name: tmp_path / f"{name}.sqlite3" for name in ("option", "env", "config")}
    config.set_database_url(f"sqlite:///{paths['config']}")
    monkeypatch.setenv("IBDESK_DB", f"sqlite:///{paths['env']}")
    assert run("--db", f"sqlite:///{paths['option']}", "db", "upgrade").exit_code == 0
    assert run("db", "upgrade").exit_code == 0
    monkeypatch.delenv("IBDESK_DB")
    assert run("db", "upgrade").exit_code == 0
    assert all(p.exists() for p in paths.values())
    assert oct(config.config_path().stat().st_mode & 0o777) == "0o600"


def test_upgrade_and_check_on_postgresql(empty_db_url: str, backend: str) -> None:
    assert run("--db", empty_db_url, "db", "upgrade").exit_code == 0
    result = run("--db", empty_db_url, "db", "check", "--json")
    assert json.loads(result.stdout)["state"] == "current"


def test_older_schema_is_offered_an_upgrade(empty_db_url: str, backend: str) -> None:
    engine = make_engine(empty_db_url, create=True)
    schema.upgrade(engine, to="0001_initial")
    engine.dispose()
    result = run("--db", empty_db_url, "db", "check")
    assert result.exit_code == 1 and "older than this program" in result.stdout
    assert "ibdesk db upgrade" in result.stdout
    upgraded = run("--db", empty_db_url, "db", "upgrade")
    assert upgraded.exit_code == 0
    assert f"from 0001_initial to {schema.head_revision()}" in upgraded.stdout
    assert run("--db", empty_db_url, "db", "check").exit_code == 0


def test_newer_schema_is_refused_by_every_command(db_url: str, backend: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0099_future'"))
    engine.dispose()
    result = run("--db", db_url, "db", "check")
    assert result.exit_code == 2 and "newer than this program" in result.stdout
    assert_one_sentence_error(run("--db", db_url, "db", "upgrade"), "newer")
    assert_one_sentence_error(run("--db", db_url, "demo", "--patients", "1"), "newer")
    engine = make_engine(db_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
    engine.dispose()


def test_foreign_database_is_refused_and_untouched(empty_db_url: str, backend: str) -> None:
    engine = make_engine(empty_db_url, create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE journal (id INTEGER PRIMARY KEY)"))
    assert_one_sentence_error(
        run("--db", empty_db_url, "db", "upgrade"), "not an ImageBank 2.1 database"
    )
    assert inspect(engine).get_table_names() == ["journal"]
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://root@localhost/imagebank", "Unsupported database type 'mysql'"),
        ("not a url", "is not a database URL"),
        ("postgresql+asyncpg://u:p@localhost/x", "driver 'asyncpg' is not supported"),
        ("sqlite:////no/such/folder/x.db", "does not exist"),
        ("nosuchdialect://u:S3cret@h/db", "Unsupported database type 'nosuchdialect'"),
        ("postgresql://u:S3cret@h:abc/db", "postgresql://u:***@h:abc/db"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    result = run("--db", url, "db", "upgrade")
    assert_one_sentence_error(result, fragment)
    assert "S3cret" not in result.output + result.stderr


def test_unreachable_server_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket closes
    result = run("--db", f"postgresql://u:p@127.0.0.1:{port}/imagebank", "db", "check")
    assert_one_sentence_error(result, "refused the connection")


def test_unknown_host() -> None:
    result = run("--db", "postgresql://u:p@no-such-host.invalid/imagebank", "db", "check")
    assert_one_sentence_error(result, "no-such-host.invalid", "not found")


def test_server_that_never_answers_times_out(silent_server: int) -> None:
    result = run("--db", f"postgresql://u:p@127.0.0.1:{silent_server}/x", "db", "check")
    assert_one_sentence_error(result, "did not answer within 5 seconds")


@pytest.mark.backends("postgresql")
def test_wrong_password(pg_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    url = pg_server.url().replace(pg_server.password, "wrong-password")
    assert_one_sentence_error(run("--db", url, "db", "check"), "refused the user name or password")
    assert "wrong-password" not in run("--db", url, "db", "check").stderr


def test_read_only_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "readonly.sqlite3"
    assert run("--db", f"sqlite:///{path}", "db", "upgrade").exit_code == 0
    # Root ignores permission bits: make the file immutable instead (as a read-only share).
    chattr = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if chattr.returncode != 0:
        path.chmod(0o444)
        if path.stat().st_uid == 0 and hasattr(sys, "getuid") and sys.getuid() == 0:
            pytest.skip(f"cannot make a file read-only for root here: {chattr.stderr.strip()}")
    try:
        before = path.read_bytes()
        result = run("--db", f"sqlite:///{path}", "demo", "--patients", "2")
        assert_one_sentence_error(result, "read-only")
        assert path.read_bytes() == before
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_demo_json_reports_rates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    run("--db", url, "db", "upgrade")
    result = run("--db", url, "demo", "--patients", "30", "--media-per-patient", "4", "--json")
    data = json.loads(result.stdout)
    assert data["patients"] == 30 and data["media"] == 120 and data["rows_per_second"] > 0
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM patient")).scalar() == 30
    engine.dispose()


def test_demo_says_what_it_made_and_shows_its_defaults(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    run("--db", url, "db", "upgrade")
    result = run("--db", url, "demo", "--patients", "3", "--media-per-patient", "2")
    made = r"Made 3 patients, \d+ image sets, 6 media \(0 files\), \d+ audit events"
    assert re.match(made + r" and 1 log-ins in [\d.]+ s\.$", result.stdout), result.stdout
    # The job's own last log line, on stderr with the progress.
    assert re.search(made + r" in [\d.]+ s\.$", result.stderr, re.M), result.stderr
    shown = run("demo", "--help").stdout
    assert "[default: 50;" in shown and "[default: 20;" in shown and "[default: 2026]" in shown


def test_demo_with_files_needs_a_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    run("--db", url, "db", "upgrade")
    assert_one_sentence_error(run("--db", url, "demo", "--with-files"), "--images")


def test_drivers_lists_odbc_drivers() -> None:
    result = run("db", "drivers", "--json")
    assert "FreeTDS" in json.loads(result.stdout)


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ibdesk", "--db", "oracle://x/y", "db", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("ibdesk: Unsupported database type 'oracle'")
    assert "Traceback" not in proc.stderr


def test_db_tools_on_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "dbs"
    folder.mkdir()
    created = run(
        "db", "create", "Kliniken", "--backend", "sqlite", "--folder", str(folder), "--use"
    )
    assert created.exit_code == 0, created.stderr
    assert json.loads(run("db", "check", "--json").stdout)["source"] == "config"
    assert json.loads(run("db", "list", "--json").stdout) == ["Kliniken.sqlite3"]
    assert "successful" in run("db", "test-connection").stdout
    backups = tmp_path / "backups"
    backups.mkdir()
    saved = json.loads(run("db", "backup", "--to", str(backups), "--json").stdout)
    assert Path(saved["path"]).exists() and saved["verified"] == "integrity check ok"
    assert_one_sentence_error(run("db", "backup", "--to", str(tmp_path / "nope")), "does not exist")
    assert_one_sentence_error(
        run("db", "create-login", "rum_1", "--login-password", "x" * 12), "SQLite has no logins"
    )
    assert_one_sentence_error(
        run("db", "use", f"sqlite:///{tmp_path / 'nothing.db'}"), "does not exist"
    )


@pytest.mark.backends("postgresql")
def test_create_login_and_backup_on_postgresql(
    db_url: str, backend: str, tmp_path: Path, cli_admin: str
) -> None:
    result = run(
        "--db", db_url, "db", "create-login", "rum_3", "--login-password", "ett långt lösenord 7"
    )
    assert result.exit_code == 0, result.stderr
    saved = json.loads(run("--db", db_url, "db", "backup", "--to", str(tmp_path), "--json").stdout)
    assert saved["path"].endswith(".dump") and "entries" in saved["verified"]


MSSQL_URL = "mssql+pyodbc://sa:pw@sqlhost/Klinik?driver=ODBC+Driver+18+for+SQL+Server"


def test_db_backup_on_sql_server_prints_the_statements_as_the_window_does(
    ibdesk_home: Path,
) -> None:
    # No SQL Server here: the statements are built from the URL alone, nothing connects.
    shown = run("--db", MSSQL_URL, "db", "backup", "--to", "D:\\Kopior", "--json")
    assert shown.exit_code == 0, shown.stderr
    backup, verify = json.loads(shown.stdout)["statements"]
    target = re.fullmatch(
        r"BACKUP DATABASE \[Klinik\] TO DISK = N'(D:\\Kopior\\Klinik-\d{8}-\d{6}\.bak)' "
        r"WITH COPY_ONLY, CHECKSUM, INIT",
        backup,
    )
    assert target, backup
    assert verify == f"RESTORE VERIFYONLY FROM DISK = N'{target.group(1)}' WITH CHECKSUM"
    text = run("--db", MSSQL_URL, "db", "backup", "--to", "D:\\Kopior").stdout
    assert "SQL Server Management Studio or sqlcmd" in text and "BACKUP DATABASE [Klinik]" in text
    assert_one_sentence_error(
        run("--db", MSSQL_URL, "db", "backup", "--to", " "), "Type the folder on the SQL Server"
    )


def test_a_failure_under_json_is_json_on_stdout_too(tmp_path: Path) -> None:
    missing = tmp_path / "no-export"
    failed = run("export", "verify", str(missing), "--json")
    assert failed.exit_code == 1
    assert failed.stderr.strip() == f"ibdesk: {missing} is not a folder."
    assert json.loads(failed.stdout) == {"error": f"{missing} is not a folder.", "exit_code": 1}
    plain = run("export", "verify", str(missing))  # without --json, stdout stays empty
    assert plain.exit_code == 1 and plain.stdout == ""
