"""The Users tab's lists: a page of accounts found by name, an account's latest sign-ins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ibdesk.models import LoginEvent, UserAccount, UserGroup

PAGE_SIZE = 50


@dataclass(frozen=True)
class UserPage:
    """One page of the users list."""

    rows: list[UserAccount]
    total: int
    page: int
    pages: int


def list_users(session: Session, search: str = "", page: int = 1) -> UserPage:
    """Return one page of accounts, by name, whose name or display name holds ``search``."""
    query = select(UserAccount)
    counted = select(func.count()).select_from(UserAccount)
    text = search.strip().lower()[:100]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        condition = or_(
            UserAccount.username.like(pattern, escape="\\"),
            func.lower(UserAccount.display_name).like(pattern, escape="\\"),
        )
        query, counted = query.where(condition), counted.where(condition)
    total = session.scalar(counted) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(
        session.scalars(
            query.options(selectinload(UserAccount.groups).selectinload(UserGroup.rights))
            .order_by(UserAccount.username)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return UserPage(rows, total, page, pages)


def recent_logins(session: Session, username: str, limit: int = 10) -> list[LoginEvent]:
    """Return an account's latest sign-in attempts, newest first."""
    query = (
        select(LoginEvent)
        .where(LoginEvent.user_name == username.lower())
        .order_by(LoginEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
