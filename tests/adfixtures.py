"""Fixtures for Active Directory tests: one real Samba AD DC per run, and settings that use it.

The DC is provisioned once (with its users and groups) into a cache beside the runs' temporary
folders, copied into this run's temporary folder and started; it is stopped at the end. When
Samba is not installed the AD tests are skipped on a developer's machine, but fail under CI
(``CI=true``), so that CI can never pass by silently skipping Active Directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import adserver
import pytest

from ibdesk.users import directory


def require_samba() -> None:
    """Skip when Samba is missing on a developer's machine; fail under CI (CI=true)."""
    if adserver.installed():
        return
    message = (
        "Samba's AD DC is not installed: scripts/test.sh installs it (apt-packages.txt, "
        "the test set)."
    )
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[adserver.SambaDC]:
    """Start the test domain controller for the whole run."""
    require_samba()
    cache = tmp_path_factory.getbasetemp().parent
    dc = adserver.start(cache, tmp_path_factory.getbasetemp() / "samba")
    yield dc
    dc.stop()


@pytest.fixture
def dc(samba_dc: adserver.SambaDC) -> adserver.SambaDC:
    """Return the running DC (started again when a test stopped it and failed midway)."""
    if samba_dc.process is None or samba_dc.process.poll() is not None:
        samba_dc.start()
    return samba_dc


@pytest.fixture
def ad_settings(dc: adserver.SambaDC) -> directory.ADSettings:
    """Return LDAPS settings for the test DC, with its lookup account's password kept here."""
    directory.save_password(adserver.PASSWORD)
    return directory.ADSettings(
        enabled=True,
        servers=(dc.address,),
        security=directory.LDAPS,
        ca_pem=dc.certs.ca.read_text(encoding="utf-8"),
        base_dn=adserver.BASE_DN,
        bind_user="bind@ib.test",
        mappings=(
            directory.Mapping(f"CN=IB Clinic,CN=Users,{adserver.BASE_DN}", "Clinicians"),
            directory.Mapping(f"CN=IB Admins,CN=Users,{adserver.BASE_DN}", "Administrators"),
        ),
    )
