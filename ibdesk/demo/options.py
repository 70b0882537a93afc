"""What a demo run is asked to make (DemoOptions) and what it made (DemoSummary)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _


@dataclass
class DemoSummary:
    """What a demo run made."""

    patients: int = 0
    image_sets: int = 0
    media: int = 0
    files: int = 0
    file_bytes: int = 0
    audit_events: int = 0
    logins: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Return every row written."""
        return self.patients + self.image_sets + self.media + self.audit_events + self.logins

    def add(self, part: DemoSummary) -> None:
        """Add the counts of one chunk to this running total."""
        for name in (
            "patients",
            "image_sets",
            "media",
            "files",
            "file_bytes",
            "audit_events",
            "logins",
        ):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for kind, n in part.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + n


@dataclass(frozen=True)
class DemoOptions:
    """How large a demo clinic to make and where its files go."""

    patients: int
    media_per_patient: int = 20
    image_folder: Path | None = None
    seed: int = 2026
    today: dt.date = field(default_factory=dt.date.today)

    def check(self) -> None:
        """Refuse sizes that make no sense."""
        if self.patients < 1 or self.patients > 5_000_000:
            raise UserError(_("The number of patients must be between 1 and 5 000 000."))
        if self.media_per_patient < 0 or self.media_per_patient > 500:
            raise UserError(_("The media per patient must be between 0 and 500."))
        if self.image_folder is not None:
            folder = self.image_folder
            if not folder.is_dir():
                raise UserError(
                    _("The image folder %(folder)s does not exist; create it first.", folder=folder)
                )
            if not os.access(folder, os.W_OK):
                raise UserError(
                    _("The image folder %(folder)s is not writable by this program.", folder=folder)
                )
