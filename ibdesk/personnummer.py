"""Swedish identity numbers: personnummer, samordningsnummer and the clinic's reserve numbers.

Written here rather than wrapping the PyPI ``personnummer`` package (3.2.1) because that one
picks the century from the year alone (so ``240701+1234`` read on 2024-06-01 is a 99-year-old),
cannot be given ``today``, accepts ``+`` with 12 digits, rejects spaces, knows no reserve
numbers and raises exceptions without a message staff could act on.

Every number is stored normalised as 12 ASCII digits ``YYYYMMDDNNNC``; a samordningsnummer has
60 added to the day, a reserve number starts with ``99`` (no real century) and is not checked.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from ibdesk.errors import UserError
from ibdesk.i18n import gettext as _
from ibdesk.i18n import lazy_gettext as _l
from ibdesk.models import PatientKind

__all__ = [
    "Identity",
    "PersonnummerError",
    "generate",
    "luhn_digit",
    "normalize",
    "parse",
    "search_key",
    "stored_form",
    "typed_problem",
]

_DIGITS = frozenset("0123456789")
# Word processors and web pages turn '-' into these; staff paste numbers from both.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"))
_CENTURIES = ("18", "19", "20")
_RESERVE_PREFIX = "99"
_MONTHS = (
    _l("January"),
    _l("February"),
    _l("March"),
    _l("April"),
    _l("May"),
    _l("June"),
    _l("July"),
    _l("August"),
    _l("September"),
    _l("October"),
    _l("November"),
    _l("December"),
)
_SHAPE = _l("type only digits, with '-' or '+' before the last four, as in 121212-1212")


class PersonnummerError(UserError, ValueError):
    """An identity number that cannot be accepted; the message is one sentence for staff."""


@dataclass(frozen=True)
class Identity:
    """A parsed identity number."""

    number: str
    kind: PatientKind
    birth_date: dt.date | None
    sex: str | None

    @property
    def display(self) -> str:
        """Return the number as ``YYYYMMDD-NNNN``."""
        return f"{self.number[:8]}-{self.number[8:]}"


def luhn_digit(nine_digits: str) -> int:
    """Return the Luhn check digit for the nine digits ``YYMMDDNNN``."""
    if len(nine_digits) != 9 or not _DIGITS.issuperset(nine_digits):
        raise PersonnummerError(_("The check digit can only be computed from exactly nine digits."))
    total = 0
    for i, ch in enumerate(nine_digits):
        value = int(ch) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def parse(text: str, *, today: dt.date | None = None) -> Identity:
    """Parse any form staff type into an Identity, or raise PersonnummerError."""
    digits, sep = _digits_and_separator(_compact(text))
    if len(digits) == 12 and digits.startswith(_RESERVE_PREFIX):
        # Reserve numbers are the clinic's own: no date or check digit to verify.
        return Identity(digits, PatientKind.RESERVE, None, None)

    today = today or dt.date.today()
    ten = digits[-10:]
    month, raw_day = int(ten[2:4]), int(ten[4:6])
    day = raw_day - 60 if raw_day > 60 else raw_day
    if len(digits) == 12:
        if digits[:2] not in _CENTURIES:
            raise PersonnummerError(
                _(
                    "A 12-digit number must start with the century 18, 19 or 20 "
                    "(or 99 for a reserve number)."
                )
            )
        year = int(digits[:4])
    else:
        year = _short_year(int(ten[:2]), month, day, today, plus=sep == "+")
    problem = _date_problem(year, month, raw_day)
    if problem:
        raise PersonnummerError(problem)
    birth = dt.date(year, month, day)
    if birth > today:
        raise PersonnummerError(
            _("The birth date %(birth)s is in the future: check the year.", birth=_spoken(birth))
        )
    _check_serial_and_check_digit(ten)
    kind = PatientKind.SAMORDNINGSNUMMER if raw_day > 60 else PatientKind.PERSONNUMMER
    return Identity(f"{year:04d}{ten[2:]}", kind, birth, "M" if int(ten[8]) % 2 else "F")


def _digits_and_separator(compact: str) -> tuple[str, str]:
    """Check the shape of a compacted number; return its digits and its '-' or '+' (or "")."""
    _check_characters(compact)
    separators = [ch for ch in compact if ch in "-+"]
    if len(separators) > 1:
        raise PersonnummerError(
            _(
                "There is more than one '-' or '+': "
                "type at most one, right before the last four digits."
            )
        )
    digits = compact.replace("-", "").replace("+", "")
    _check_digit_count(digits)
    sep = separators[0] if separators else ""
    if sep and compact.index(sep) != len(compact) - 5:
        raise PersonnummerError(
            _(
                "The '%(sep)s' must come right before the last four digits, as in "
                "121212%(sep)s1212.",
                sep=sep,
            )
        )
    if sep == "+" and len(digits) == 12:
        raise PersonnummerError(
            _("A '+' cannot be used with 12 digits: type '-' or nothing before the last four.")
        )
    return digits, sep


def _check_characters(compact: str) -> None:
    """Raise unless the compacted number is non-empty and holds only digits, '-' and '+'."""
    if not compact:
        raise PersonnummerError(
            _("The number is empty: type a personnummer such as 121212-1212 or 19121212-1212.")
        )
    for ch in compact:
        if ch.isalpha():
            raise PersonnummerError(_("Letters are not allowed: %(SHAPE)s.", SHAPE=_SHAPE))
        if ch not in _DIGITS and ch not in "-+":
            raise PersonnummerError(
                _("The character %(ch)s is not allowed: %(SHAPE)s.", ch=repr(ch), SHAPE=_SHAPE)
            )


def _check_digit_count(digits: str) -> None:
    """Raise unless there are 10 or 12 digits."""
    if len(digits) < 10:
        raise PersonnummerError(
            _(
                "Too few digits (%(digits)s): a personnummer has 10 or 12 digits.",
                digits=len(digits),
            )
        )
    if len(digits) == 11:
        raise PersonnummerError(_("There are 11 digits: a personnummer has 10 or 12 digits."))
    if len(digits) > 12:
        raise PersonnummerError(
            _(
                "Too many digits (%(digits)s): a personnummer has 10 or 12 digits.",
                digits=len(digits),
            )
        )


def _check_serial_and_check_digit(ten: str) -> None:
    """Raise if the serial of the ten digits ``YYMMDDNNNC`` is 000 or C is not its Luhn digit."""
    if ten[6:9] == "000":
        raise PersonnummerError(
            _("The serial number 000 is never issued: check the last four digits.")
        )
    check = luhn_digit(ten[:9])
    if int(ten[9]) != check:
        raise PersonnummerError(
            _(
                "The check digit is wrong: the last digit should be %(check)s if "
                "the other digits are right.",
                check=check,
            )
        )


def normalize(text: str, *, today: dt.date | None = None) -> str:
    """Return the normalised 12 digits of a typed number."""
    return parse(text, today=today).number


def search_key(text: str, *, today: dt.date | None = None) -> tuple[str, str] | None:
    """Turn search-box text into a range ``low <= personnummer < high``, or None for names.

    Spaces, '-' and '+' are dropped first; anything left that is not ASCII digits gives None.
    The digits are then read by the first rule that fits:

    1. A complete valid number (anything ``parse`` accepts) matches exactly that number.
    2. Six or ten digits whose first six are a real date ``YYMMDD`` (day + 60 allowed) are the
       short form: the century is the one ``parse`` would pick (age under 100 on ``today``, or
       100 or more if a '+' was typed).  So ``191212`` means 12 December 2019, not December
       1912: six and ten digits are where people stop typing the short form, while the long
       form is naturally cut after eight (``19121212``).
    3. One digit, 11 or more digits, or digits starting with 19, 20 or 99 are a prefix of the
       12-digit form as typed (``1985`` is everyone born in 1985).
    4. Any other digits start with a two-digit year and get a century: from the date as in
       rule 2 when the first six digits are a real date, otherwise the latest year not after
       ``today`` (100 years earlier with '+'); ``8503`` is March 1985.

    ``high`` is the prefix plus one at the same length (``1999`` -> ``2000``), or 13 nines for
    an all-nines prefix; both stay ASCII digits so the range holds under any collation.
    """
    compact = _compact(text)
    digits = compact.replace("-", "").replace("+", "")
    if not digits or not _DIGITS.issuperset(digits):
        return None
    today = today or dt.date.today()
    plus = "+" in compact
    try:
        return _prefix_range(parse(text, today=today).number)
    except PersonnummerError:
        pass  # not a complete number: read it as a partial one below
    dated = _short_form_year(digits, today, plus)
    if len(digits) in (6, 10) and dated is not None:
        return _prefix_range(f"{dated:04d}"[:2] + digits)
    if len(digits) > 12:
        return digits, digits  # longer than any number: matches nothing (and no int() of it)
    if len(digits) == 1 or len(digits) > 10 or digits.startswith(("19", "20", "99")):
        return _prefix_range(digits)
    if dated is None:
        dated = today.year - (today.year - int(digits[:2])) % 100 - (100 if plus else 0)
    return _prefix_range(f"{dated:04d}"[:2] + digits)


def typed_problem(text: str, *, today: dt.date | None = None) -> str | None:
    """Say why a complete-looking number (10 or 12 digits) is not valid, or None.

    The search still finds a patient stored with exactly those digits (converted 1.2 data
    keeps numbers as they were typed); this is the sentence every tab shows beside it.
    """
    compact = _compact(text)
    digits = compact.replace("-", "").replace("+", "")
    if len(digits) not in (10, 12) or not _DIGITS.issuperset(digits):
        return None
    try:
        parse(text, today=today)
    except PersonnummerError as error:
        return str(error)
    return None


def stored_form(text: str, *, today: dt.date | None = None) -> str:
    """Return the 12 digits a typed number is stored as, valid or not (a filter's key).

    A valid number is normalised; a complete but invalid one (wrong check digit, serial
    000) gets the century the search would give it, so it still names the patient stored
    with exactly that number. Anything shorter raises the reason it is not a number.
    """
    try:
        return normalize(text, today=today)
    except PersonnummerError:
        key = search_key(text, today=today) if typed_problem(text, today=today) else None
        if key is None or len(key[0]) != 12:
            raise
        return key[0]


def generate(
    rng: random.Random, *, birth_date: dt.date, female: bool, coordination: bool = False
) -> str:
    """Return a random valid normalised number for demo data."""
    if f"{birth_date.year:04d}"[:2] not in _CENTURIES:
        raise PersonnummerError(_("Only people born from 1800 to 2099 can have a personnummer."))
    # Serial 000 is never issued; the last serial digit is even for women, odd for men.
    serial = rng.randrange(1, 500) * 2 if female else rng.randrange(500) * 2 + 1
    day = birth_date.day + (60 if coordination else 0)
    nine = f"{birth_date.year % 100:02d}{birth_date.month:02d}{day:02d}{serial:03d}"
    return f"{birth_date.year // 100}{nine}{luhn_digit(nine)}"


def _compact(text: str) -> str:
    """Drop all whitespace and turn typographic dashes into '-'."""
    return "".join(text.split()).translate(_DASHES)


def _short_year(yy: int, month: int, day: int, today: dt.date, *, plus: bool) -> int:
    """Return the full year for a ``YYMMDD`` birth date: age under 100 on today, 100+ if plus."""
    year = today.year - (today.year - yy) % 100
    if year == today.year and (month, day) > (today.month, today.day):
        year -= 100  # this year's date has not come yet, so it is 100 years ago
    return year - 100 if plus else year


def _short_form_year(digits: str, today: dt.date, plus: bool) -> int | None:
    """Return the year ``parse`` would give digits starting with a real ``YYMMDD``, else None."""
    if len(digits) < 6:
        return None
    month, raw_day = int(digits[2:4]), int(digits[4:6])
    day = raw_day - 60 if raw_day > 60 else raw_day
    year = _short_year(int(digits[:2]), month, day, today, plus=plus)
    return None if _date_problem(year, month, raw_day) else year


def _date_problem(year: int, month: int, raw_day: int) -> str | None:
    """Return a sentence saying why the date does not exist, or None if it does."""
    if not 1 <= month <= 12:
        return _(
            "There is no month %(month)s: the two digits after the year must "
            "be a month from 01 to 12.",
            month=format(month, "02d"),
        )
    coordination = raw_day > 60
    day = raw_day - 60 if coordination else raw_day
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if 1 <= day <= last:
        return None
    shown = _("day 00 in") if day == 0 else str(day)
    if coordination:
        return _(
            "There is no %(day)s %(month)s %(year)s (day %(raw_day)s in a samordningsnummer): "
            "check the date of birth.",
            day=shown,
            month=_MONTHS[month - 1],
            year=year,
            raw_day=raw_day,
        )
    return _(
        "There is no %(day)s %(month)s %(year)s: check the date of birth.",
        day=shown,
        month=_MONTHS[month - 1],
        year=year,
    )


def _spoken(day: dt.date) -> str:
    """Return a date as ``12 March 2030`` (no locale, so the same on every workstation)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _prefix_range(prefix: str) -> tuple[str, str]:
    """Return the half-open range of digit strings that start with prefix."""
    if set(prefix) == {"9"}:
        # No same-length successor; a longer run of nines sorts after every stored number.
        return prefix, "9" * max(13, len(prefix) + 1)
    return prefix, str(int(prefix) + 1).zfill(len(prefix))
