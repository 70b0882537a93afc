"""The Export tab's forms: the search that fills the left list, and the export itself.

Patients travel between the page and the server as database ids only (hidden inputs and
the values of the two lists), never as typed text: the export names each folder from the
patient's normalised personnummer, which the domain reads from the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import LazyString
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, IntegerField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, ValidationError
from wtforms.widgets import NumberInput

from ibdesk import folders, limits
from ibdesk.errors import UserError
from ibdesk.export import default_jobs
from ibdesk.forms import FullPath, QueryForm, search_field
from ibdesk.i18n import lazy_gettext as _l

MAX_JOBS = 64
EVERYONE = "all"
CHOSEN = "selected"


class PatientIdsField(Field):
    """Patient ids sent under one name, any number of times (hidden inputs, list options)."""

    data: list[int]

    def __init__(self, label: str | None = None, **kwargs: Any) -> None:
        """Start empty: no ids until the page sends some."""
        kwargs.setdefault("default", list)
        super().__init__(label, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Keep each id once, in the order given; anything but digits is a damaged page."""
        ids: list[int] = []
        for value in valuelist:
            if (
                not (str(value).isascii() and str(value).isdigit())
                or int(value) > limits.ROW_ID_MAX
            ):
                self.data = []
                raise ValueError(
                    _l("The list of patients on this page is damaged; reload the page.")
                )
            if int(value) not in ids:
                ids.append(int(value))
        self.data = ids

    def _value(self) -> str:
        return ""


class SearchForm(QueryForm):
    """Find patients for the left list."""

    q = search_field(
        _l("Personnummer"),
        _l(
            "Any form of personnummer, or its beginning (121212-1212, 19121212, 1985), or "
            "a last name; blank lists everyone."
        ),
    )
    patient = PatientIdsField()  # the patients already picked: left out of the list


def _typed_folder(text: str | None) -> str:
    """Return the folder as typed, without blanks or the quotes "Copy as path" adds."""
    folder = (text or "").strip()
    if len(folder) > 1 and folder[0] == folder[-1] == '"':
        folder = folder[1:-1].strip()
    return folder


def _folder_field(label: LazyString, missing: LazyString, description: LazyString) -> StringField:
    """Return a required folder box; ``missing`` is the sentence when it is left empty."""
    return StringField(
        label,
        filters=[_typed_folder],
        validators=[DataRequired(missing), FullPath()],
        description=description,
    )


class ExportForm(FlaskForm):
    """What to export, where to, and how."""

    which = RadioField(
        _l("Patients"),
        choices=[
            SelectChoice(CHOSEN, _l("Export selected patients")),
            SelectChoice(EVERYONE, _l("Export all patients")),
        ],
        default=CHOSEN,
    )
    patient = PatientIdsField(_l("Selected patients"))  # the right-hand list, as hidden inputs
    found = PatientIdsField(_l("Patients found"))  # what is highlighted in the left list
    chosen = PatientIdsField(_l("Patients to export"))  # what is highlighted in the right list
    to = _folder_field(
        _l("Export to folder"),
        _l("Choose the folder to export to."),
        _l(
            "An existing folder outside the image folder, for example a USB disk. Each "
            "patient gets a folder named after the personnummer."
        ),
    )
    lossy_photos = BooleanField(
        _l("Store photos visually lossless (smaller files)"),
        description=_l("Unticked: lossless. X-rays are always stored lossless."),
    )
    jobs = IntegerField(
        _l("Parallel jobs"),
        default=default_jobs,
        widget=NumberInput(min=1, max=MAX_JOBS),
        validators=[
            NumberRange(
                1, MAX_JOBS, _l("Give a number of parallel jobs from 1 to %(max)d.", max=MAX_JOBS)
            )
        ],
        description=_l("Images encoded at once; one per processor core is best."),
    )

    def validate_to(self, field: StringField) -> None:
        """Refuse a relative path: it would mean a folder inside the program's own folder."""
        try:
            typed = folders.expand(field.data or "")
        except UserError as error:
            raise ValidationError(str(error)) from None
        if field.data and not typed.is_absolute():
            raise ValidationError(
                _l("Give the folder's whole path, for example E:\\Export or /media/usb/export.")
            )

    @property
    def everyone(self) -> bool:
        """Return whether every patient is to be exported."""
        return self.which.data == EVERYONE

    def without(self, ids: Sequence[int]) -> list[int]:
        """Return the selected patients' ids without these."""
        return [i for i in self.patient.data if i not in ids]


class VerifyForm(FlaskForm):
    """[Verify export]: the export folder to check against its manifest."""

    folder = _folder_field(
        _l("Export folder to check"),
        _l("Choose the export folder to check."),
        _l(
            "Every file is read again and compared with the folder's manifest (its SHA-256 "
            "checksums); nothing is changed."
        ),
    )
