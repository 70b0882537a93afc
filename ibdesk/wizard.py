"""The wizard's domain: the state of a way through its steps, kept server-side.

A ``Flow`` is one administrator's way through the quick-start wizard (four steps) or through
General settings' "Change connection" (its steps 1-2). ``FlowStore`` keeps flows in this
process's memory under a random id that the web layer keeps in the session cookie: the
``ServerSpec`` that passed step 1, password included, and the database chosen in step 2.
No page ever contains the password: an empty password field means "the password given
before", for the same host and user only. Nothing here knows of Flask.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ibdesk import config, licensing, users
from ibdesk.demo import clinic as democlinic
from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.progress import Job, LogLine
from ibdesk.settings import connection

EngineFor = Callable[[str], Engine]


@dataclass(frozen=True)
class Answer:
    """What a step says in its grey area: a kind (success, error, warning, info) and text."""

    kind: str
    message: str
    details: tuple[str, ...] = ()
    code: bool = False  # the details are statements, shown as code


@dataclass
class Flow:
    """One administrator's way through steps 1-2 (and, for the wizard, 3-4), server-side."""

    draft: connection.ServerSpec | None = None  # what step 1's form starts from
    spec: connection.ServerSpec | None = None  # the server that passed step 1
    password: str = ""  # the last password given, for an empty field later
    password_for: tuple[object, ...] = ()
    databases: list[str] = field(default_factory=list)
    url: str | None = None  # the database that passed step 2 (saved in the config file)
    demo_job: str | None = None
    demo: democlinic.DemoClinic | None = None


class FlowStore:
    """The flows of this launch, by wizard id; a few at most (oldest forgotten first)."""

    def __init__(self, limit: int = 16) -> None:
        """Keep at most ``limit`` flows."""
        self._flows: OrderedDict[str, Flow] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, key: str) -> Flow:
        """Return the flow under this key, starting a new one when there is none."""
        with self._lock:
            flow = self._flows.pop(key, None) or Flow()
            self._flows[key] = flow
            while len(self._flows) > self._limit:
                self._flows.popitem(last=False)
            return flow

    def drop(self, key: str) -> None:
        """Forget a flow, its password with it."""
        with self._lock:
            self._flows.pop(key, None)


def start_from(state: Flow, url: str, default_folder: Path) -> None:
    """Fill step 1 from the database in force (the SQLite default before any choice)."""
    try:
        draft = connection.spec_from_url(url)
    except (UserError, ValueError):
        draft = connection.ServerSpec("sqlite", folder=str(default_folder))
    state.draft = draft
    state.password, state.password_for = draft.password, identity(draft)


def identity(spec: connection.ServerSpec) -> tuple[object, ...]:
    """Return what a kept password belongs to: backend, host, instance and user."""
    # The password given for one host and user is never sent to another; a corrected port
    # on the same host keeps it.
    return (spec.backend, spec.host.lower(), spec.instance.lower(), spec.user)


@dataclass(frozen=True)
class Steps:
    """Which steps passed, and what steps 3 and 4 found in the chosen database."""

    passed: tuple[bool, bool, bool, bool]
    license: licensing.LicenseInfo | None
    admins: int
    demo: bool

    def unlocked(self, number: int) -> bool:
        """Return whether step ``number`` may be opened: the one before it passed."""
        return number == 1 or self.passed[number - 2]

    @property
    def first_open(self) -> int:
        """Return the first step that has not passed (4 when all have)."""
        return next((n for n in range(1, 5) if not self.passed[n - 1]), 4)

    @property
    def can_finish(self) -> bool:
        """Return whether [Finish] may open the main tabs (a demo needs no user)."""
        return self.passed[3] or (self.demo and self.passed[2])


@contextmanager
def chosen_session(state: Flow, engine_for: EngineFor) -> Iterator[Session]:
    """Open a session on the database chosen in step 2."""
    assert state.url is not None
    with Session(engine_for(state.url), expire_on_commit=False) as chosen:
        yield chosen


def steps_of(state: Flow, engine_for: EngineFor) -> Steps:
    """Say which steps passed, reading steps 3 and 4 from the chosen database."""
    first = state.spec is not None
    second = first and state.url is not None
    info, admins = None, 0
    if second:
        try:
            with chosen_session(state, engine_for) as chosen:
                info = licensing.current_license(chosen)
                admins = users.count_admins(chosen)
        except (UserError, SQLAlchemyError):
            # The chosen database went away (file removed, server down): choose again.
            state.url = None
            second = False
    third = second and info is not None and info.valid
    fourth = third and admins > 0
    return Steps((first, second, third, fourth), info, admins, state.demo is not None)


def demo_then_use(folder: Path) -> Job[democlinic.DemoClinic]:
    """Make a demo clinic in ``folder`` and make it this program's database (a long job)."""
    clinic = yield from democlinic.demo_clinic(folder)
    config.set_database_url(clinic.url.render_as_string(hide_password=False))
    yield LogLine(
        _("%(url)s is now this program's database.", url=connection.shown_url(clinic.url))
    )
    return clinic
