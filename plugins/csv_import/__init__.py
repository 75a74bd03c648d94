"""CSV import (white label): customers, with their opening balance, and points in bulk
from the files merchants have (Excel's and Google Sheets' dialects), with a preview
and column mapping, a job with progress, a per-row report (a result CSV, e-mailed to
the uploader too) and the same from the command line (`premia import …`).

See `plugins.csv_import.importing` for the rules (each row all or nothing, the ledger
keys that make a second upload of a file give nothing twice, resuming after a kill).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.sdk import MANAGERS, MenuItem, PluginInfo, Tenant, hookimpl
from plugins.csv_import import cli, panel
from plugins.csv_import.importing import OPENING

PLUGIN = PluginInfo(
    name="csv_import",
    sdk_version="1.6",
    title=_l("CSV import"),
    description=_l("Import customers and their points, or give points in bulk, from a CSV file."),
    plans=("white-label",),
    entry_kinds={OPENING: _l("Opening balance")},
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint()]


@hookimpl
def startup(app: Any) -> None:
    app.cli.add_command(cli.import_group)


@hookimpl
def panel_menu(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.csv_import.index", _l("Import"), roles=MANAGERS, order=35)]
