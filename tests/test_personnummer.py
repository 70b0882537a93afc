"""Tests for ibdesk.personnummer: every typed form, the error sentences and search ranges."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ibdesk.models import PatientKind
from ibdesk.personnummer import (
    Identity,
    PersonnummerError,
    generate,
    luhn_digit,
    normalize,
    parse,
    search_key,
)

TODAY = dt.date(2024, 6, 15)
# No example database: the test run must not write .hypothesis/ into the source tree.
PROPERTY = settings(database=None, max_examples=300, deadline=None)


def with_check(nine: str) -> str:
    """Return nine digits followed by their Luhn digit."""
    return nine + str(luhn_digit(nine))


def age_on(birth: dt.date, today: dt.date) -> int:
    """Return the age in whole years on today."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def assert_sentence(message: str) -> None:
    """Assert message is one plain sentence for staff, with no Python internals."""
    assert message[:1].isupper(), message
    assert message.endswith("."), message
    assert "\n" not in message, message
    assert not re.search(r"[.!?]\s+[A-Z]", message[:-1]), f"more than one sentence: {message}"
    for internal in ("Error", "Exception", "Traceback", "invalid literal", "NoneType"):
        assert internal not in message, message


def parse_error(text: str, today: dt.date = TODAY) -> str:
    """Return the sentence parse raises for text."""
    with pytest.raises(PersonnummerError) as info:
        parse(text, today=today)
    message = str(info.value)
    assert_sentence(message)
    return message


# --- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("19121212-1212", "191212121212"),
        ("191212121212", "191212121212"),
        ("19121212 1212", "191212121212"),
        ("121212+1212", "191212121212"),
        ("121212-1212", "201212121212"),
        ("1212121212", "201212121212"),
        (" 121212 - 1212 ", "201212121212"),
        ("1 2 1 2 1 2 1 2 1 2", "201212121212"),
        ("\t121212\u20131212\n", "201212121212"),  # en dash pasted from a document
        ("811218-9876", "198112189876"),
    ],
)
def test_every_typed_form(typed: str, number: str) -> None:
    identity = parse(typed, today=TODAY)
    assert identity.number == number
    assert identity.kind is PatientKind.PERSONNUMMER
    assert identity.birth_date == dt.date(int(number[:4]), int(number[4:6]), int(number[6:8]))
    assert identity.display == f"{number[:8]}-{number[8:]}"
    assert normalize(typed, today=TODAY) == number


def test_identity_fields() -> None:
    identity = parse("19121212-1212", today=TODAY)
    assert identity == Identity(
        "191212121212", PatientKind.PERSONNUMMER, dt.date(1912, 12, 12), "M"
    )
    assert identity.display == "19121212-1212"
    assert parse(with_check("811218982"), today=TODAY).sex == "F"
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.number = "x"  # type: ignore[misc]


def test_luhn_digit() -> None:
    assert luhn_digit("811218987") == 6
    assert luhn_digit("121212121") == 2
    assert luhn_digit("000000000") == 0
    with pytest.raises(PersonnummerError):
        luhn_digit("12345")


def test_century_around_the_hundredth_birthday() -> None:
    exactly_100 = with_check("240615123")  # born 1924-06-15: 100 years old on TODAY
    assert parse(exactly_100[:6] + "+" + exactly_100[6:], today=TODAY).number[:4] == "1924"
    assert parse(exactly_100[:6] + "-" + exactly_100[6:], today=TODAY).number[:4] == "2024"
    assert parse(exactly_100, today=TODAY).birth_date == TODAY  # born today, age 0
    almost_100 = with_check("240616123")  # 1924-06-16 is 99 on TODAY, 2024-06-16 is tomorrow
    assert parse(almost_100, today=TODAY).number[:4] == "1924"
    assert parse(almost_100[:6] + "+" + almost_100[6:], today=TODAY).number[:4] == "1824"


def test_leap_years() -> None:
    assert parse("20000229" + with_check("000229123")[6:], today=TODAY).birth_date == dt.date(
        2000, 2, 29
    )
    assert parse(with_check("000229123"), today=TODAY).number.startswith("2000")
    assert "29 February 1900" in parse_error("19000229" + with_check("000229123")[6:])
    assert "29 February 2023" in parse_error(with_check("230229123"))
    assert parse(with_check("240229123"), today=TODAY).number.startswith("2024")


def test_samordningsnummer() -> None:
    identity = parse("701063-2391", today=TODAY)
    assert identity.kind is PatientKind.SAMORDNINGSNUMMER
    assert identity.number == "197010632391"
    assert identity.birth_date == dt.date(1970, 10, 3)
    assert identity.sex == "M"
    assert "samordningsnummer" in parse_error(with_check("700292123"))  # 32 February


@pytest.mark.parametrize(
    "typed", ["99123456-7890", "991234567890", " 9912 3456 7890 ", "99000000-0000"]
)
def test_reserve_numbers(typed: str) -> None:
    identity = parse(typed, today=TODAY)
    assert identity.kind is PatientKind.RESERVE
    assert identity.number == typed.replace(" ", "").replace("-", "")
    assert identity.birth_date is None
    assert identity.sex is None
    assert identity.display == f"{identity.number[:8]}-{identity.number[8:]}"


def test_ten_digits_starting_with_99_are_a_1999_personnummer() -> None:
    assert parse(with_check("991231123"), today=TODAY).number.startswith("1999")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("121212-121X", "Letters are not allowed"),
        ("ÅÄÖ", "Letters are not allowed"),
        ("121212/1212", "'/' is not allowed"),
        ("121212-1213", "the last digit should be 2"),
        ("19121212-1213", "the last digit should be 2"),
        ("19120231-1234", "There is no 31 February 1912"),
        ("121312-1212", "no month 13"),
        ("121200-1212", "day 00"),
        ("121245-1212", "There is no 45 December"),
        ("12121", "Too few digits (5): a personnummer has 10 or 12 digits"),
        ("12121212121", "11 digits"),
        ("1912121212120", "Too many digits (13)"),
        ("19121212+1212", "'+' cannot be used with 12 digits"),
        ("99121212+1212", "'+' cannot be used with 12 digits"),
        ("121212--1212", "more than one"),
        ("121212-+1212", "more than one"),
        ("1212-121212", "right before the last four digits"),
        ("991234-567890", "right before the last four digits"),
        ("+1212121212", "right before the last four digits"),
        ("20301212-1212", "in the future"),
        ("17121212-1212", "century 18, 19 or 20"),
    ],
)
def test_bad_input_gives_one_sentence(typed: str, expected: str) -> None:
    assert expected in parse_error(typed)


def test_error_is_a_value_error() -> None:
    assert issubclass(PersonnummerError, ValueError)


def test_generate_gives_valid_numbers() -> None:
    rng = random.Random(1)
    for female in (True, False):
        for coordination in (True, False):
            number = generate(
                rng, birth_date=dt.date(1985, 3, 9), female=female, coordination=coordination
            )
            identity = parse(number, today=TODAY)
            assert identity.number == number
            assert identity.birth_date == dt.date(1985, 3, 9)
            assert identity.sex == ("F" if female else "M")
            assert number[6:8] == ("69" if coordination else "09")
            assert number[8:11] != "000"
    assert generate(random.Random(7), birth_date=TODAY, female=True) == generate(
        random.Random(7), birth_date=TODAY, female=True
    )


# --- search_key examples --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("19121212-1212", ("191212121212", "191212121213")),
        ("121212+1212", ("191212121212", "191212121213")),
        ("1212121212", ("201212121212", "201212121213")),
        ("1912", ("1912", "1913")),
        ("1999", ("1999", "2000")),
        ("19", ("19", "20")),
        ("2", ("2", "3")),
        ("99", ("99", "9999999999999")),
        ("9912 3456 7890", ("991234567890", "991234567891")),
        ("19121212", ("19121212", "19121213")),
        ("1912121", ("1912121", "1912122")),
        ("191212", ("20191212", "20191213")),  # six digits are the short form YYMMDD
        ("121212+", ("19121212", "19121213")),
        ("850309", ("19850309", "19850310")),
        ("8503", ("198503", "198504")),
        ("85", ("1985", "1986")),
        ("24", ("2024", "2025")),
        ("25", ("1925", "1926")),
        ("201399", ("201399", "201400")),  # not a date, so a 12-digit prefix
        ("1212121213", ("201212121213", "201212121214")),  # wrong check digit, still found
        ("121212-12", ("2012121212", "2012121213")),
    ],
)
def test_search_key_examples(typed: str, expected: tuple[str, str]) -> None:
    assert search_key(typed, today=TODAY) == expected


@pytest.mark.parametrize("typed", ["", "  ", "-", "+ -", "Anna", "Lind-Berg", "1212a", "12.12"])
def test_search_key_none_for_names(typed: str) -> None:
    assert search_key(typed, today=TODAY) is None


# --- properties -----------------------------------------------------------------------------


Person = tuple[dt.date, dt.date, bool, bool, str]


@st.composite
def people(draw: st.DrawFn) -> Person:
    """Draw (today, birth date, female, coordination, generated number)."""
    today = draw(st.dates(dt.date(1990, 1, 1), dt.date(2090, 12, 31)))
    birth = draw(st.dates(dt.date(max(1800, today.year - 150), 1, 1), today))
    female, coordination = draw(st.booleans()), draw(st.booleans())
    rng = random.Random(draw(st.integers(0, 2**32)))
    number = generate(rng, birth_date=birth, female=female, coordination=coordination)
    return today, birth, female, coordination, number


def typed_forms(number: str, birth: dt.date, today: dt.date) -> list[str]:
    """Return every way staff may type number on today."""
    old = age_on(birth, today) >= 100
    forms = [
        number,
        f"{number[:8]}-{number[8:]}",
        f"{number[2:8]}{'+' if old else '-'}{number[8:]}",
    ]
    if not old:
        forms.append(number[2:])
    return forms


def with_spaces(text: str, positions: list[int]) -> str:
    """Return text with a space inserted at each position."""
    for position in sorted(positions, reverse=True):
        text = text[:position] + " " + text[position:]
    return text


@PROPERTY
@given(people(), st.lists(st.integers(0, 13), max_size=5))
def test_every_typed_form_round_trips(person: Person, spaces: list[int]) -> None:
    today, birth, female, coordination, number = person
    for form in typed_forms(number, birth, today):
        for typed in (form, with_spaces(form, spaces), f" {form} "):
            identity = parse(typed, today=today)
            assert identity.number == number
            assert identity.birth_date == birth
            assert identity.sex == ("F" if female else "M")
            expected = PatientKind.SAMORDNINGSNUMMER if coordination else PatientKind.PERSONNUMMER
            assert identity.kind is expected
            assert parse(identity.display, today=today) == identity


@PROPERTY
@given(people(), st.integers(0, 9), st.integers(1, 9))
def test_any_single_digit_change_is_caught(person: Person, position: int, shift: int) -> None:
    today, birth, _female, _coordination, number = person
    ten = number[2:]
    changed = ten[:position] + str((int(ten[position]) + shift) % 10) + ten[position + 1 :]
    parse_error(number[:2] + changed, today)
    sep = "+" if age_on(birth, today) >= 100 else "-"
    parse_error(f"{changed[:6]}{sep}{changed[6:]}", today)


@PROPERTY
@given(st.text(st.characters(), max_size=20), st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31)))
def test_any_text_parses_or_gives_a_sentence(text: str, today: dt.date) -> None:
    try:
        identity = parse(text, today=today)
    except PersonnummerError as error:
        assert_sentence(str(error))
    else:
        assert re.fullmatch(r"\d{12}", identity.number)
    key = search_key(text, today=today)
    assert key is None or (key[0].isdigit() and key[1].isdigit())


@PROPERTY
@given(st.text("0123456789", min_size=10, max_size=10))
def test_reserve_numbers_are_not_checked(rest: str) -> None:
    identity = parse(f"99{rest[:6]}-{rest[6:]}", today=TODAY)
    assert identity.kind is PatientKind.RESERVE
    assert identity.number == "99" + rest


# Small alphabets make shared prefixes and carries (…9 -> …0) common.
stored_numbers = st.lists(
    st.one_of(
        st.text("0129", min_size=12, max_size=12),
        st.text("0123456789", min_size=12, max_size=12),
        st.builds(lambda r: "99" + r, st.text("89", min_size=10, max_size=10)),
    ),
    min_size=1,
    max_size=40,
)


@PROPERTY
@given(stored_numbers, st.data())
def test_search_range_is_exactly_the_prefix(stored: list[str], data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(stored))
    typed = data.draw(
        st.one_of(
            st.integers(1, 12).map(lambda k: source[:k]),
            st.integers(1, 10).map(lambda k: source[2 : 2 + k]),
            st.text("0129", min_size=1, max_size=13),
        )
    )
    key = search_key(typed, today=TODAY)
    assert key is not None
    low, high = key
    assert low.isdigit() and high.isdigit()
    in_range = {s for s in stored if low <= s < high}
    assert in_range == {s for s in stored if s.startswith(low)}


@PROPERTY
@given(people(), st.integers(1, 12))
def test_typed_prefix_finds_the_person(person: Person, length: int) -> None:
    today, _birth, _female, _coordination, number = person
    assume(not number.startswith("18"))  # typed 18... is a two-digit year (2018), by design
    typed = number[:length]
    key = search_key(typed, today=today)
    assert key is not None
    if length in (6, 10) and key[0] != typed:
        # Rule 2: six or ten digits that are a real YYMMDD are read as the short form.
        assert len(key[0]) == length + 2
        return
    assert key[0] == typed or length == 12
    assert key[0] <= number < key[1]


@PROPERTY
@given(people(), st.sampled_from([6, 7, 8, 9, 10]))
def test_short_form_prefix_finds_the_person(person: Person, length: int) -> None:
    today, birth, _female, _coordination, number = person
    sep = "+" if age_on(birth, today) >= 100 else ""
    short = number[2 : 2 + length]
    typed = short[:6] + sep + short[6:]
    key = search_key(typed, today=today)
    assert key is not None
    if length in (6, 10) or not short.startswith(("19", "20", "99")):
        assert key[0] <= number < key[1]


@PROPERTY
@given(people())
def test_complete_number_matches_only_itself(person: Person) -> None:
    today, birth, _female, _coordination, number = person
    neighbours = [number, str(int(number) - 1), str(int(number) + 1), number[:11]]
    for typed in typed_forms(number, birth, today):
        key = search_key(typed, today=today)
        assert key is not None
        assert [s for s in neighbours if key[0] <= s < key[1]] == [number]
