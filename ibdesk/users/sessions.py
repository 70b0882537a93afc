"""Signed-in sessions of the window, kept on the server (the cookie holds only a random id).

A session ends after 30 minutes without a request or 12 hours after sign-in, whichever comes
first. Administering users and groups needs a *fresh* sign-in: the password typed again
within the last five minutes.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, replace

IDLE_LIMIT = dt.timedelta(minutes=30)
MAX_AGE = dt.timedelta(hours=12)
FRESH_FOR = dt.timedelta(minutes=5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WindowSession:
    """One signed-in person at the window."""

    id: str
    user_id: int
    username: str
    display_name: str
    rights: frozenset[str]
    signed_in_at: dt.datetime
    last_seen_at: dt.datetime
    fresh_until: dt.datetime

    def is_fresh(self, now: dt.datetime | None = None) -> bool:
        """Return whether the password was typed within the last few minutes."""
        return (now or _now()) < self.fresh_until


class SessionStore:
    """The app's signed-in sessions, by id, under a lock."""

    def __init__(self) -> None:
        """Start with nobody signed in."""
        self._sessions: dict[str, WindowSession] = {}
        self._lock = threading.Lock()

    def start(
        self,
        user_id: int,
        username: str,
        display_name: str,
        rights: frozenset[str],
        now: dt.datetime | None = None,
    ) -> WindowSession:
        """Sign someone in under a new random session id (never one the browser chose)."""
        now = now or _now()
        found = WindowSession(
            id=secrets.token_urlsafe(32),
            user_id=user_id,
            username=username,
            display_name=display_name,
            rights=rights,
            signed_in_at=now,
            last_seen_at=now,
            fresh_until=now + FRESH_FOR,
        )
        with self._lock:
            self._sessions[found.id] = found
        return found

    def get(self, session_id: str | None, now: dt.datetime | None = None) -> WindowSession | None:
        """Return the live session with this id (and note the request), or None."""
        if not session_id:
            return None
        now = now or _now()
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None:
                return None
            if now - found.last_seen_at > IDLE_LIMIT or now - found.signed_in_at > MAX_AGE:
                del self._sessions[session_id]
                return None
            found = replace(found, last_seen_at=now)
            self._sessions[session_id] = found
            return found

    def refresh(self, session_id: str, now: dt.datetime | None = None) -> None:
        """Mark a session fresh: its password was just typed again."""
        now = now or _now()
        with self._lock:
            found = self._sessions.get(session_id)
            if found is not None:
                self._sessions[session_id] = replace(found, fresh_until=now + FRESH_FOR)

    def end(self, session_id: str | None) -> WindowSession | None:
        """Sign out: forget the session; return it when there was one."""
        with self._lock:
            return self._sessions.pop(session_id or "", None)

    def end_user(self, user_id: int) -> None:
        """End every session of an account (it was disabled or lost a right)."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.user_id == user_id]:
                del self._sessions[key]

    def end_all_but(self, keep: WindowSession | None) -> None:
        """End every session but one (a group's rights changed under them)."""
        with self._lock:
            for key in [k for k in self._sessions if keep is None or k != keep.id]:
                del self._sessions[key]
