"""The wizard's state between steps, kept server-side, and helpers General settings shares.

The Flask session cookie (signed, HttpOnly, SameSite=Strict, void when the program restarts)
holds only a random wizard id; ``FlowStore`` keeps under it, in this process's memory, the
``ServerSpec`` that passed step 1, password included, and the database chosen in step 2.
No page ever contains the password: an empty password field means "the password given
before", for the same host and user only.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import current_app, redirect, session
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ibdesk import config, licensing, users, web
from ibdesk.blueprints import is_htmx
from ibdesk.errors import UserError
from ibdesk.settings import connection, dbadmin

EXTENSION = "ibdesk.wizard"
_SESSION_KEY = "ibdesk_wizard"


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
    demo: dbadmin.DemoClinic | None = None


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


def flow_key(flow: str) -> str:
    """Return the store's key of this browser's flow (a random id in the session cookie)."""
    wizard_id = session.get(_SESSION_KEY)
    if not isinstance(wizard_id, str):
        wizard_id = secrets.token_urlsafe(18)
        session[_SESSION_KEY] = wizard_id
    return f"{wizard_id}:{flow}"


def store() -> FlowStore:
    """Return the app's flow store."""
    found: FlowStore = current_app.extensions[EXTENSION]
    return found


def flow_state(flow: str) -> Flow:
    """Return this browser's flow (``wizard`` or ``settings``), begun from the database in force."""
    state = store().get(flow_key(flow))
    if state.draft is None:
        start_from_current(state)
    return state


def start_from_current(state: Flow) -> None:
    """Fill step 1 from the database in force (the SQLite default before any choice)."""
    try:
        draft = connection.spec_from_url(web.database().choice().url)
    except (UserError, ValueError):
        draft = connection.ServerSpec("sqlite", folder=str(config.data_dir()))
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
def chosen_session(state: Flow) -> Iterator[Session]:
    """Open a session on the database chosen in step 2."""
    assert state.url is not None
    with Session(web.database().engine(state.url), expire_on_commit=False) as chosen:
        yield chosen


def steps_of(state: Flow) -> Steps:
    """Say which steps passed, reading steps 3 and 4 from the chosen database."""
    first = state.spec is not None
    second = first and state.url is not None
    info, admins = None, 0
    if second:
        try:
            with chosen_session(state) as chosen:
                info = licensing.current_license(chosen)
                admins = users.count_admins(chosen)
        except (UserError, SQLAlchemyError):
            # The chosen database went away (file removed, server down): choose again.
            state.url = None
            second = False
    third = second and info is not None and info.valid
    fourth = third and admins > 0
    return Steps((first, second, third, fourth), info, admins, state.demo is not None)


def status_bar() -> web.Status | None:
    """Return the status bar's content for an htmx answer to refresh it (out of band)."""
    return web.status(web.database()) if is_htmx() else None


def go(location: str) -> Response:
    """Send the browser to another page: HX-Redirect for htmx, a 303 otherwise."""
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": location})
    return redirect(location, code=303)
