"""Any small random 1.2 database converts with read = converted + merged + rejected per table."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from ibdesk import clinic_settings, conversion
from ibdesk.conversion import source as legacy
from ibdesk.db import make_engine
from ibdesk.progress import run_to_end

NUMBERS = st.sampled_from(
    ["19121212-1212", "121212-1212", "1212121212", "19121212-1213", "", None, "abc", "12+12"]
)
TEXT = st.one_of(st.none(), st.sampled_from(["Åsa", "Ã…sa", "BjÃ¶rn", "x"]), st.text(max_size=8))
IDS = st.integers(min_value=1, max_value=6)
DATES = st.sampled_from([None, "", "2020-01-02", "2020-01-02 03:04:05", "igår", "2020-13-40"])


def _database(data: dict[str, list[dict[str, Any]]], out: Path) -> str:
    url = f"sqlite:///{out / 'imagebank12.sqlite'}"
    engine = create_engine(url)
    legacy.meta.create_all(engine)
    with engine.begin() as conn:
        for table in legacy.TABLES:
            rows = data.get(table.name, [])
            if rows:
                conn.execute(insert(table), rows)
    engine.dispose()
    return url


@st.composite
def installations(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Draw a small 1.2 database with every kind of dirt."""
    patients = [
        {"PatientId": i, "PersonNr": draw(NUMBERS), "Fornamn": draw(TEXT), "Efternamn": draw(TEXT),
         "Adress": None, "Postnr": None, "Ort": draw(TEXT), "Telefon": None,
         "Anteckning": draw(TEXT), "Skapad": draw(DATES), "Raderad": draw(st.integers(0, 1))}
        for i in range(1, draw(st.integers(0, 5)) + 1)
    ]  # fmt: skip
    statuses = [
        {"StatusId": i, "PatientId": draw(IDS), "Datum": draw(DATES), "Beskrivning": draw(TEXT),
         "Signerad": draw(st.integers(0, 1)), "SigneradAv": draw(st.sampled_from([None, "tl"]))}
        for i in range(1, draw(st.integers(0, 5)) + 1)
    ]  # fmt: skip
    items = [
        {"BildId": i, "StatusId": draw(st.one_of(st.none(), IDS)), "PatientId": draw(IDS),
         "Filnamn": draw(st.sampled_from([f"{i:06d}\\B{i:06d}.BMP", "..\\x", "/etc/passwd", ""])),
         "Typ": draw(st.integers(0, 7)), "Tander": draw(st.sampled_from(["", "11,12", "99"])),
         "Tagen": draw(DATES), "Kommentar": draw(TEXT), "Raderad": draw(st.integers(0, 1)),
         "_file": draw(st.sampled_from([None, b"", b"BM data"]))}
        for i in range(1, draw(st.integers(0, 6)) + 1)
    ]  # fmt: skip
    logs = [
        {"LoggId": i, "Tid": draw(DATES), "Anvandare": draw(st.sampled_from([None, "admin"])),
         "PatientId": draw(st.one_of(st.none(), IDS)),
         "Handelse": draw(st.sampled_from(["SKAPAD", "INLOGGNING", "EXPORT"])), "Detaljer": None}
        for i in range(1, draw(st.integers(0, 5)) + 1)
    ]  # fmt: skip
    names = draw(st.lists(st.sampled_from(["admin", "Admin", "x y", "tl", "ö"]), unique=True))
    users = [
        {"AnvandarId": i, "Namn": name, "LosenordMD5": "0" * 32, "Admin": 0}
        for i, name in enumerate(names, start=1)
    ]
    settings_rows = [{"Nyckel": "Klinik", "Varde": draw(TEXT)}]
    return {"Patienter": patients, "Status": statuses, "Bilder": items, "Logg": logs,
            "Anvandare": users, "Installningar": settings_rows}  # fmt: skip


@pytest.mark.backends("sqlite")
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=installations())
def test_random_installations_are_accounted_for(
    data: dict[str, list[dict[str, Any]]],
    backend: str,
    sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = Path(tempfile.mkdtemp(dir=tmp_path))
    monkeypatch.setenv("IBDESK_HOME", str(out / "home"))  # a fresh audit chain head each time
    images = out / "Bilder"
    images.mkdir()
    for item in data["Bilder"]:
        content = item.pop("_file")
        if content is not None:
            path = images / f"{item['BildId']:06d}" / f"B{item['BildId']:06d}.BMP"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    url = _database(data, out)
    shutil.copyfile(sqlite_template, out / "target.sqlite3")
    engine = make_engine(f"sqlite:///{out / 'target.sqlite3'}")
    with Session(engine) as session:
        clinic_settings.put(session, clinic_settings.IMAGE_FOLDER, str(out / "images21"))
        session.commit()
    source = conversion.open_source(url, images)
    try:
        for step in (1, 2, 3, 4):
            result, _log = run_to_end(conversion.run_step(engine, source, step))
    finally:
        source.close()
        engine.dispose()
    rec = result["reconciliation"]
    for name, counts in rec["tables"].items():
        assert counts["read"] == len(data[name])
        assert counts["read"] == counts["converted"] + counts["merged"] + counts["rejected"], name
    assert rec["accounted"] and rec["passed"], rec
