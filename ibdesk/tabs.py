"""The window's tabs, as data: the one list that registers blueprints and draws the nav bar.

A tab is listed here only once its feature works (no dead links), in the clinic's order (the
order of ``TABS`` is the nav bar's):
wizard, settings (General settings), licensing, users (Users & groups), export, statistics,
logs, patients, backup, conversion. Each tab ``x`` lives in ``ibdesk/blueprints/x.py`` (a
blueprint named ``bp``) with its pages under ``templates/x/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString

from ibdesk.i18n import lazy_gettext as _l

WIZARD = "wizard"


@dataclass(frozen=True)
class Tab:
    """One tab: its id, its label in the nav bar, its page's endpoint and its blueprint."""

    id: str
    label: str | LazyString
    endpoint: str
    blueprint_module: str


TABS: tuple[Tab, ...] = (
    Tab("wizard", _l("Wizard"), "wizard.index", "ibdesk.blueprints.wizard"),
    Tab("settings", _l("General settings"), "settings.index", "ibdesk.blueprints.settings"),
    Tab("licensing", _l("Licensing"), "licensing.index", "ibdesk.blueprints.licensing"),
    Tab("users", _l("Users & user groups"), "users.index", "ibdesk.blueprints.users"),
    Tab("export", _l("Export"), "export.index", "ibdesk.blueprints.export"),
    Tab("statistics", _l("Statistics"), "statistics.index", "ibdesk.blueprints.statistics"),
    Tab("logs", _l("Logs"), "logs.index", "ibdesk.blueprints.logs"),
    Tab("patients", _l("Patients"), "patients.index", "ibdesk.blueprints.patients"),
    Tab("backup", _l("Backup"), "backup.index", "ibdesk.blueprints.backup"),
    Tab(
        "conversion",
        _l("Conversion from 1.2"),
        "conversion.index",
        "ibdesk.blueprints.conversion",
    ),
)


def find(tab_id: str, tabs: tuple[Tab, ...] = TABS) -> Tab | None:
    """Return the tab with this id, or None when it is not (yet) part of the program."""
    return next((tab for tab in tabs if tab.id == tab_id), None)
