"""The Licensing tab's sentences about an uploaded file are wholly in the window's language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ibdesk import i18n, licensing
from ibdesk.licensing.licensefile import LicenseError, parse


@pytest.fixture
def swedish() -> Iterator[None]:
    i18n.use_language("sv")
    yield
    i18n.use_language(None)


def test_a_file_that_is_no_license_is_named_in_swedish(swedish: None) -> None:
    with pytest.raises(LicenseError) as refused:
        parse(b"hej", name=licensing.upload_name("C:\\Users\\anna\\lic.txt"))
    assert str(refused.value).startswith("Filen lic.txt är ingen licensfil för ImageBank")
    with pytest.raises(LicenseError) as unnamed:
        parse(b"hej")
    assert str(unnamed.value).startswith("Filen är ingen licensfil")


def test_a_damaged_license_is_said_to_be_damaged_in_swedish(swedish: None) -> None:
    damaged = b"ibdesk-license: 1\nno colon on this line\nlicense-id: x\n"
    with pytest.raises(LicenseError) as refused:
        parse(damaged, name=licensing.upload_name("lic.txt"))
    assert str(refused.value).startswith("Filen lic.txt är skadad: rad 2 ")
