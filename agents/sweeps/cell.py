"""One cell of a sweep, as a Ray task runs it: the cell's scenario on its backend, its report written under
the cell's folder, and its row of the sweep's table returned (with `error` set, instead of metrics, when it
failed: a failed cell never stops the sweep)."""

from __future__ import annotations

import json
import os
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from agents.chain.abi import REPO_ROOT
from agents.sweeps.backends import run_on_backend
from agents.sweeps.metrics import summary_row
from agents.sweeps.spec import Cell

# Test hook: cells of this seed fail on purpose at their first market step (after their anvil started and the
# system was deployed), so that tests see a failure inside a run recorded while the other cells finish. The
# sweep's driver reads it and tells the cell (Ray workers do not share the driver's environment).
FAIL_SEED_ENV = "COMPUTE_MARKET_SWEEP_FAIL_SEED"


class DeliberateFailure(RuntimeError):
    """Raised by the test hook above."""


def run_cell(cell: Cell, cell_dir: str, fail_on_purpose: bool = False) -> dict:
    """The cell's row: its parameters and either its metrics or its error (one line; the traceback goes to
    error.txt in the cell's folder)."""
    # A Ray worker starts wherever its node's Ray did; Ape finds the project's compiled contracts from here.
    os.chdir(REPO_ROOT)
    started = time.perf_counter()
    folder = Path(cell_dir)
    folder.mkdir(parents=True, exist_ok=True)

    def progress(done: int, total: int) -> None:
        if fail_on_purpose and done >= 1:
            raise DeliberateFailure(f"seed {cell.seed} fails on purpose ({FAIL_SEED_ENV})")

    row = cell_row(cell)
    try:
        summary = run_on_backend(cell.backend, cell.scenario, folder, progress)
    except Exception as error:  # noqa: BLE001 - any failure is the cell's result, recorded, not the sweep's end
        (folder / "error.txt").write_text(traceback.format_exc())
        row["error"] = one_line(error)
        row["run_dir"] = folder.name  # its error.txt, and whatever the run wrote before it failed
    else:
        row.update(summary_row(summary))
        row["run_dir"] = f"{folder.name}/{cell.scenario.name}-seed{cell.seed}"
    row["cell_seconds"] = round(time.perf_counter() - started, 2)
    row["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def cell_row(cell: Cell) -> dict:
    """The columns every row has, whatever the outcome: the cell's key, backend, seed and swept values."""
    row = {"cell": cell.key, "backend": cell.backend, "seed": cell.seed}
    for path, value in cell.params.items():
        # A mapping or list swept as one value (a whole `demand:` section, say) is kept as its JSON.
        row[path] = value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)
    row["error"] = None
    return row


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"
