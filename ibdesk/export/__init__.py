"""Export of patients to XML and JPEG 2000, as the Swedish patient data act asks.

One folder per patient (named from the normalised personnummer) holds ``patient.xml``
(valid against ``ibdesk/schemas/ibdesk-export-1.0.xsd``), X-rays and photos as JPEG 2000
and every other media file unchanged; ``manifest.sha256`` lists every file with its SHA-256.
The format is described in ``docs/export-format.md``.

    job = export_patients(engine, Selection.of_numbers(["19121212-1212"]),
                          ExportOptions(to=Path("E:/Export")), actor)
    summary = drive(job, "Exporting")   # ibdesk.cli.progress, or the web job registry
    report = run_to_end(verify_export(Path("E:/Export")))[0]

The names are imported on first use, so the worker processes, which import only
``ibdesk.export.media``, start without loading the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ibdesk.export.job import export_patients
    from ibdesk.export.plan import (
        ExportOptions,
        ExportSummary,
        FailedItem,
        Selection,
        default_jobs,
    )
    from ibdesk.export.verify import VerifyReport, verify_export

_HOMES = {
    "export_patients": "job",
    "ExportOptions": "plan",
    "ExportSummary": "plan",
    "FailedItem": "plan",
    "Selection": "plan",
    "default_jobs": "plan",
    "VerifyReport": "verify",
    "verify_export": "verify",
}

__all__ = [
    "ExportOptions",
    "ExportSummary",
    "FailedItem",
    "Selection",
    "VerifyReport",
    "default_jobs",
    "export_patients",
    "verify_export",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ibdesk.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ibdesk.export.{home}"), name)
