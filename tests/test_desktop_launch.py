"""``ibdesk`` alone: the launch address opens the app once from the moment it is published."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ibdesk import desktop, security
from ibdesk.cli import Runtime, shell


@pytest.mark.backends("sqlite")
def test_the_published_address_is_single_use_while_the_display_is_probed(
    ibdesk_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Flask] = []
    seen: dict[str, Any] = {}
    real_create_app = shell.create_app

    def create_app(**kwargs: Any) -> Flask:
        made.append(real_create_app(**kwargs))
        return made[-1]

    class SlowProbe:
        """The display probe, still running: whoever reads the lock file may use the URL."""

        def reason(self) -> str:
            app = made[0]
            port = app.config["IBDESK_PORT"]  # published in the lock file with the token
            path = security.launch_url(app).removeprefix(security.origin(port))
            statuses = []
            for _ in range(2):  # the address, used twice before the window opens
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                statuses.append(conn.getresponse().status)
                conn.close()
            seen["statuses"] = statuses
            return desktop.NO_DISPLAY

    monkeypatch.setattr(shell, "create_app", create_app)
    monkeypatch.setattr(desktop, "DisplayProbe", SlowProbe)
    monkeypatch.setattr(shell, "_serve_until_stopped", lambda *args, **kwargs: None)
    shell.launch(Runtime())
    first, second = seen["statuses"]
    assert first in (200, 302, 303) and second == 403, seen
