"""Migrations are frozen: each revision's DDL stays what it was when it shipped.

A clinic's database was built by the DDL of the revisions it went through, so a revision
that changes later (through a shared helper in ``ibdesk.frozen_ddl``, a renamed type, a
reordered column) would make databases that differ by the day they were created. Each
revision's offline DDL, up and down, for PostgreSQL and SQL Server, is pinned here by its
SHA-256. A new revision adds its line; an old line never changes.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from ibdesk import schema

PINNED = {
    # revision: (PostgreSQL up, PostgreSQL down, SQL Server up, SQL Server down)
    "0001_initial": (
        "d72115b129a56e323be7bc9585a4d51bcf05bc159b03c588c5d5b7ac2637527a",
        "2e6411cd6d0222d4f3a263f78d76efb9faecb42260f1a10a99e5f5315e5e4986",
        "d8334e5d09bde0b901a67b2500e8945650fe8dc5d1781e78935491ad0f886e7d",
        "525a67599efc48ff5e7c7d9ad8cd84def296accf604701970bf038501a2aeb35",
    ),
    "0002_monthly_media_counters": (
        "478da6ae26880d4e5b1c8452e9afe4aa09bb14057a6e9e9692f1fd53b02dbc0d",
        "45c8c4336b93447b0ab8ed95a884195d1c8d15cac17a26d888c7d1ab4dfb012b",
        "3732f7cb863311b4cecebd874e03c17f083c0b2ce64f7d117896bdbb168b615f",
        "2cb39500ff07cd7c0d3708507cc4d973e4f24090c126a4212014732fc8aa3764",
    ),
    "0003_conversion": (
        "a35c81e3754772e69d963be92edbed7ebd07865377907ded400028ba6861cfef",
        "b5c3e4d0407898e3019eaf2f0fb46e2a7677c13940aca60feced74cb95f53415",
        "8e9da6fc3459f29336a70d46bee3be98a26daeace40111e085121e5f5745bc93",
        "594ccaed2346b108ba6b2d5f4d2fe1da89def91275622b44fca1b82347501f23",
    ),
    "0004_user_groups": (
        "11df85c69d69d7a7eb855e58462650d150401a0c5caa28c6ac895092f995e67c",
        "9234738e2454bb6cb58e3894541b07b60b6dcf4bc6a3b5b5ef2d9ed854dded48",
        "b870270922633318fcfb4deab3a495336b09156ed9c00db402e95e8c10872e15",
        "907302a282eebf89b1c2612d1b51240595821753d761d4d72df0a3965dfd1918",
    ),
    "0005_seat_reported_case": (
        "f85b6719f2f8d3e4fc1b08387724764a55b0b59bc63a999d8eacf937261b638c",
        "2308dcf95ebba1a74010302bf62d40a7f61c769386ab803043014bec9fec5b5b",
        "17f66ec99935d7ac66b6e01e4f3f5b59a17ceba6e8c7be000556b6cdce156b80",
        "a00fffa9faa319f7755dc0126a7ee9014a3e84c5f9b4aa16a5a29f15ed80d85d",
    ),
    "0006_legacy_md5": (
        "0e1b6bd897f6f43838d139634e5954509be0a9b60c1e9856fa2602e0ddd53c84",
        "608f4e79580aa81154dd57fc4975207085ba01cedd20c7661a196e72a9f513e8",
        "08dbe33eafb23d6cf17480730b208a0bf9ccb3ee8fb9e36fa59a130d769664a7",
        "3da18172b8e1c0522608aaeaf8dedfd656797a4fcce0badc5e63181a56c9ed85",
    ),
}


def _revisions() -> list[tuple[str, str]]:
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    chain = [s.revision for s in scripts.walk_revisions()][::-1]
    return list(zip(["base", *chain[:-1]], chain, strict=True))


def _digest(dialect: str, steps: str, *, up: bool) -> str:
    buffer = io.StringIO()
    cfg = schema.alembic_config()
    cfg.attributes.update(dialect_name=dialect, dialect_opts={}, output_buffer=buffer)
    (command.upgrade if up else command.downgrade)(cfg, steps, sql=True)
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def _digests(before: str, revision: str) -> tuple[str, str, str, str]:
    up = revision if before == "base" else f"{before}:{revision}"
    down = f"{revision}:{before}"
    return (
        _digest("postgresql", up, up=True),
        _digest("postgresql", down, up=False),
        _digest("mssql", up, up=True),
        _digest("mssql", down, up=False),
    )


@pytest.mark.parametrize(("before", "revision"), _revisions())
def test_a_revisions_ddl_never_changes(before: str, revision: str) -> None:
    assert revision in PINNED, f"pin the new revision: {revision!r}: {_digests(before, revision)}"
    assert _digests(before, revision) == PINNED[revision]


def test_every_pinned_revision_still_exists() -> None:
    assert sorted(PINNED) == sorted(revision for _, revision in _revisions())
