"""Statistics from trigger-kept counters: exact under concurrent workstations, at any size."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from factories import ACTOR, make_image_set, make_media, make_patient
from ibdesk import clients, clinic_settings, demo, patients, statistics
from ibdesk.audit import Actor
from ibdesk.cli import main
from ibdesk.db import make_engine, session_scope
from ibdesk.models import MediaItem
from ibdesk.progress import run_to_end
from ibdesk.statistics import imagecheck


def test_counts_follow_demo_and_purge(engine: Engine) -> None:
    run_to_end(demo.generate(engine, demo.DemoOptions(patients=12, media_per_patient=5)))
    with Session(engine) as session:
        assert statistics.counters(session) == statistics.recount(session)
        number = session.execute(text("SELECT personnummer FROM patient LIMIT 1")).scalar_one()
        patients.purge_patient(session, ACTOR, number, confirm=number)
        assert statistics.counters(session) == statistics.recount(session)
        statistics.fold(session)
        session.commit()
        report = statistics.generate(session, image_folder=None)
        window = dt.datetime.fromisoformat(f"{report.months[0].month}-01T00:00:00+00:00")
        recent = session.scalar(
            select(func.count()).select_from(MediaItem).where(MediaItem.created_at >= window)
        )
    assert report.patients.live == 11 and report.media_live == 55
    assert sum(m.count for m in report.months) == recent
    assert report.disk is None and "not set" in report.disk_message


def test_twenty_workstations_at_once_keep_counts_exact(db_url: str, session: Session) -> None:
    image_sets = [make_image_set(session).id for _ in range(4)]
    session.close()
    errors: list[BaseException] = []

    def workstation(n: int) -> None:
        rng = random.Random(n)
        engine = make_engine(db_url)
        actor = Actor(f"user{n}", f"RUM-{n}")
        mine: list[int] = []
        try:
            for step in range(12):
                with session_scope(engine) as s:
                    if mine and rng.random() < 0.4:
                        media_id = rng.choice(mine)
                        if rng.random() < 0.5:
                            clients.delete_media(s, actor, media_id)
                        else:
                            clients.undelete_media(s, actor, media_id)
                    else:
                        kind = rng.choice(["intraoral", "photo", "audio", "document"])
                        image = kind in ("intraoral", "photo")
                        item = clients.add_media(
                            s,
                            actor,
                            rng.choice(image_sets),
                            kind=kind,
                            path=f"w{n}/{step}.bin",
                            byte_size=rng.randint(1, 10_000),
                            sha256=hashlib.sha256(f"{n}-{step}".encode()).hexdigest(),
                            width=10 if image else None,
                            height=10 if image else None,
                            bit_depth=8 if image else None,
                        )
                        mine.append(item.id)
        except BaseException as error:
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=workstation, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = make_engine(db_url)
    with Session(engine) as fresh:
        assert statistics.counters(fresh) == statistics.recount(fresh)
        statistics.fold(fresh)
        fresh.commit()
        assert statistics.counters(fresh) == statistics.recount(fresh)
    engine.dispose()


@pytest.mark.backends("postgresql")  # SQLite: a reader and a writer never overlap so
def test_a_fold_committed_while_the_counters_are_read_is_not_missed(
    engine: Engine, session: Session
) -> None:
    from sqlalchemy import event

    for _ in range(3):
        make_media(session)  # each adds deltas, not folded yet
    truth = statistics.counters(session)
    assert statistics.pending_deltas(session) > 0
    session.rollback()
    folded: list[int] = []
    started: list[bool] = []

    def fold_meanwhile(conn: object, *args: object) -> None:
        if not started:  # another window folds right after the first statement of the read
            started.append(True)
            with session_scope(engine) as other:
                folded.append(statistics.fold(other))

    event.listen(engine, "after_cursor_execute", fold_meanwhile)
    try:
        with Session(engine) as reader:
            seen = statistics.counters(reader)
    finally:
        event.remove(engine, "after_cursor_execute", fold_meanwhile)
    assert folded and folded[0] > 0
    assert seen == truth


def test_months_are_the_last_24() -> None:
    labels = statistics.last_months(dt.date(2026, 2, 10))
    assert len(labels) == 24 and labels[0] == "2024-03" and labels[-1] == "2026-02"


def test_unreachable_image_folder_is_said_not_hung(tmp_path: Path) -> None:
    disk, message = statistics.disk_space(str(tmp_path / "gone"))
    assert disk is None and "cannot be reached" in message
    disk, message = statistics.disk_space(str(tmp_path))
    assert disk is not None and disk.free > 0 and message == ""


def test_a_file_name_that_is_no_utf8_is_listed_not_a_crash(engine: Engine, tmp_path: Path) -> None:
    import os

    folder = tmp_path / "bilder"
    (folder / "old").mkdir(parents=True)
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(folder))
        session.commit()
    os.close(os.open(os.fsencode(folder / "old") + b"/Bj\xf6rk.jpg", os.O_CREAT | os.O_WRONLY))
    (folder / "stray.jpg").write_bytes(b"?")
    report, _log = run_to_end(imagecheck.check(engine))
    assert report.checked_files == 2 and not report.ok
    assert sorted(report.unknown) == ["old/Bj\\xf6rk.jpg", "stray.jpg"]


def test_image_folder_check_finds_every_kind_of_difference(engine: Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "bilder"
    tmp_path.mkdir()
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
        session.commit()
        image_set = make_image_set(session)
        for name, data in (
            ("ok.png", b"ok"),
            ("gone.png", b"x"),
            ("size.png", b"abc"),
            ("hash.png", b"abc"),
        ):
            (tmp_path / name).write_bytes(data)
            make_media(
                session,
                image_set,
                path=name,
                byte_size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
    (tmp_path / "gone.png").unlink()
    (tmp_path / "size.png").write_bytes(b"abcd")
    (tmp_path / "hash.png").write_bytes(b"xyz")
    (tmp_path / "stray.jpg").write_bytes(b"?")
    report, log = run_to_end(imagecheck.check(engine))
    assert (report.missing, report.size_differs, report.hash_differs, report.unknown) == (
        ["gone.png"],
        ["size.png"],
        ["hash.png"],
        ["stray.jpg"],
    )
    assert not report.ok and report.checked_rows == 4
    assert any("Missing on disk: gone.png" in line.text for line in log)


def test_stats_and_images_check_cli(db_url: str, session: Session, tmp_path: Path) -> None:
    tmp_path = tmp_path / "bilder"
    tmp_path.mkdir()
    make_patient(session)
    clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(tmp_path))
    session.commit()
    session.close()
    runner = CliRunner()
    data = json.loads(runner.invoke(main, ["--db", db_url, "stats", "--json"]).stdout)
    assert data["patients"]["live"] == 1 and len(data["months"]) == 24
    (tmp_path / "stray.png").write_bytes(b"x")
    result = runner.invoke(
        main, ["--db", db_url, "images", "check", "--json", "--save", str(tmp_path / "report.txt")]
    )
    assert result.exit_code == 1 and json.loads(result.stdout)["unknown"] == ["stray.png"]
    assert "stray.png" in (tmp_path / "report.txt").read_text()
    missing = runner.invoke(main, ["--db", db_url, "images", "check"])
    assert missing.exit_code == 1
