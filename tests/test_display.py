"""The one display module: exact strings in Swedish and English."""

from __future__ import annotations

import datetime as dt

import pytest

from ibdesk import display

NBSP = "\u00a0"


@pytest.fixture(params=["en", "sv"])
def language(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LANG", "sv_SE.UTF-8" if request.param == "sv" else "en_GB.UTF-8")
    return str(request.param)


def test_numbers_sizes_and_kinds_in_both_languages(language: str) -> None:
    sv = language == "sv"
    assert display.number(1234567) == (f"1{NBSP}234{NBSP}567" if sv else "1,234,567")
    assert display.byte_size(45_800_000) == ("45,8 MB" if sv else "45.8 MB")
    assert display.byte_size(532) == "532 B"
    assert display.byte_size(3_200_000_000) == ("3,2 GB" if sv else "3.2 GB")
    assert display.byte_size(999_999) == ("1,0 MB" if sv else "1.0 MB")
    assert display.media_kind("audio") == ("Ljud" if sv else "Sound")
    assert display.media_kind_plural("intraoral") == (
        "Intraorala röntgenbilder" if sv else "Intraoral X-rays"
    )
    assert display.media_count("photo", 1) == ("1 foto" if sv else "1 photo")
    assert display.media_count("photo", 1200) == (f"1{NBSP}200 foton" if sv else "1,200 photos")


def test_dates_times_and_personnummer_are_the_same_in_both_languages(language: str) -> None:
    moment = dt.datetime(2026, 12, 1, 14, 5, 9).astimezone()
    assert display.date(dt.date(2026, 12, 1)) == "2026-12-01"
    assert display.date(moment) == "2026-12-01"
    assert display.time(moment) == "14:05"
    assert display.date_time(moment) == "2026-12-01 14:05"
    assert display.date_time(moment, seconds=True) == "2026-12-01 14:05:09"
    assert display.when(None) == "–"
    assert display.personnummer("191212121212") == "19121212-1212"
    assert display.personnummer("abc") == "abc"


def test_databases_and_schemas_are_named_in_plain_words(language: str) -> None:
    sv = language == "sv"
    sqlite = display.database("sqlite:////srv/imagebank.sqlite3")
    assert sqlite == (
        "SQLite-fil /srv/imagebank.sqlite3" if sv else "SQLite file /srv/imagebank.sqlite3"
    )
    pg = display.database("postgresql://u:p@db.klinik:5432/imagebank")
    assert pg == (
        "PostgreSQL-server db.klinik:5432, databas imagebank"
        if sv
        else "PostgreSQL server db.klinik:5432, database imagebank"
    )
    odbc = "mssql+pyodbc:///?odbc_connect=SERVER%3DKLINIK%5CSQLEXPRESS%3BDATABASE%3DImageBank"
    assert display.database(odbc) == (
        "SQL Server KLINIK\\SQLEXPRESS, databas ImageBank"
        if sv
        else "SQL Server KLINIK\\SQLEXPRESS, database ImageBank"
    )
    text, details = display.schema("current", "0002_monthly_media_counters")
    assert text == ("ImageBank 2.1, aktuell" if sv else "ImageBank 2.1, up to date")
    assert details.endswith("0002_monthly_media_counters")


def test_paths_break_after_separators_only_and_stay_escaped() -> None:
    shown = str(display.breakable_path("/srv/Röntgen<bilder>/db.sqlite"))
    assert shown == "/<wbr>srv/<wbr>Röntgen&lt;bilder&gt;/<wbr>db.<wbr>sqlite"
    assert str(display.breakable_path(None)) == ""
