"""Users and user groups: accounts, passwords, lockout, rights and sign-in.

``accounts`` holds accounts and the sign-in check, ``admins`` the administrators who must
remain, ``passwords`` the password rule and
hashing, ``groups`` the groups and their rights, ``rights`` the check every client call
makes. The names most callers need are importable from here.
"""

from __future__ import annotations

from ibdesk.models import Right, UserAccount, UserGroup
from ibdesk.users.accounts import (
    LoginOutcome,
    authenticate,
    create_user,
    find_user,
    get_user,
    normalize_username,
)
from ibdesk.users.admins import count_admins
from ibdesk.users.rights import actor_for, require

__all__ = [
    "LoginOutcome",
    "Right",
    "UserAccount",
    "UserGroup",
    "actor_for",
    "authenticate",
    "count_admins",
    "create_user",
    "find_user",
    "get_user",
    "normalize_username",
    "require",
]
