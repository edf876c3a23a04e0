"""Running a sweep on Ray: every cell not finished yet becomes a Ray task (one CPU each, at most `workers` at
once), a progress bar follows them, each row is recorded as soon as it arrives, and the table and the report
are written at the end.

The sweep's folder:
    cells/<key>.json     one cell's row, written by this driver when its task returns (the record of resumes)
    cells/<key>/         the cell's own run: its report (report.html, summary.json, tables), or error.txt
    results.parquet      one row per cell of the sweep: parameters, metrics, `error`
    sweep.html           mean and 95% confidence interval per configuration, and the plot (also *.png)

Resuming: a cell whose record exists without an error is not run again; a failed one is retried. The key
(spec.cell_key) covers the scenario file's content, every override, the seed and the backend: change any of
them and the cell is new.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.sweeps.backends import end_orphaned_anvil
from agents.sweeps.cell import FAIL_SEED_ENV, cell_row, one_line, run_cell
from agents.sweeps.ray_session import ray_session
from agents.sweeps.report import write_sweep_report
from agents.sweeps.spec import Cell, Sweep


@dataclass
class SweepOutcome:
    table: pd.DataFrame
    ran: int  # cells run by this invocation (failed ones included)
    skipped: int  # cells finished by an earlier invocation
    failed: int  # cells of this invocation that failed
    parquet: Path
    html: Path


def run_sweep(sweep: Sweep, out_dir: Path, *, address: str | None = None, workers: int | None = None,
              console: Console | None = None) -> SweepOutcome:
    """Run the sweep's unfinished cells on Ray (the running session if there is one, the cluster at `address`,
    or a local Ray on `workers` CPUs, all of this machine's by default) and write the table and the report."""
    console = console or Console()
    records = out_dir / "cells"
    records.mkdir(parents=True, exist_ok=True)
    finished = {cell.key: row for cell in sweep.cells if (row := _record(records, cell)) and not row.get("error")}
    todo = [cell for cell in sweep.cells if cell.key not in finished]
    console.print(f"[bold]{sweep.name}[/]: {len(sweep.cells)} cells ({len(sweep.cells) // len(sweep.seeds)} "
                  f"configurations x {len(sweep.seeds)} seeds); {len(finished)} finished earlier, {len(todo)} to run")
    rows = dict(finished)
    failed = 0
    if todo:
        for row in _run_on_ray(todo, records, address, workers, console):
            rows[row["cell"]] = row
            failed += bool(row["error"])
    table = _ordered(sweep, pd.DataFrame([rows[cell.key] for cell in sweep.cells if cell.key in rows]))
    parquet = out_dir / "results.parquet"
    _parquet_ready(table).to_parquet(parquet, index=False)  # pyarrow
    html = write_sweep_report(sweep, table, out_dir)
    return SweepOutcome(table, len(todo), len(finished), failed, parquet, html)


def _run_on_ray(cells: list[Cell], records: Path, address: str | None, workers: int | None, console: Console):
    """Yield each cell's row as its task returns (in the order they finish)."""
    import ray

    running: dict = {}  # task -> cell, while it runs
    with ray_session(workers, address) as at_once:
        try:
            if any(cell.backend == "chain" for cell in cells):
                _compile_contracts()
            fail_seed = os.environ.get(FAIL_SEED_ENV)
            # A task that fails is a recorded row, never retried by Ray: a retry could hide a flaky cell.
            task = ray.remote(run_cell).options(num_cpus=1, max_retries=0)
            queue = list(cells)
            columns = (TextColumn("cells"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                bar = progress.add_task("cells", total=len(cells), failed=0)
                failed = 0
                while queue or running:
                    while queue and len(running) < at_once:
                        cell = queue.pop(0)
                        fail = fail_seed is not None and str(cell.seed) == fail_seed
                        running[task.remote(cell, str(records / cell.key), fail)] = cell
                    ready, _ = ray.wait(list(running), num_returns=1)
                    cell = running.pop(ready[0])
                    try:
                        row = ray.get(ready[0])
                    except Exception as error:  # noqa: BLE001 - the worker itself died: still the cell's result
                        row = {**cell_row(cell), "error": one_line(error)}
                    (records / f"{cell.key}.json").write_text(json.dumps(row, indent=1, allow_nan=True) + "\n")
                    if row["error"]:
                        failed += 1
                        progress.console.print(f"[red]failed[/] {cell.label}: {row['error']}")
                    progress.update(bar, advance=1, failed=failed)
                    yield row
        finally:
            if running:  # interrupted: the cells in flight die with their workers, their anvils must not outlive them
                for ref in running:
                    ray.cancel(ref, force=True)
                for cell in running.values():
                    end_orphaned_anvil(records / cell.key)


def _compile_contracts() -> None:
    """Compile the contracts (if they changed) once, here, rather than in several workers at the same time."""
    from agents.deploy.contracts import artifact

    for name in ("ComputeMarket", "TestToken"):
        artifact(name)


def _record(records: Path, cell: Cell) -> dict | None:
    path = records / f"{cell.key}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a record cut short: run the cell again


def _ordered(sweep: Sweep, table: pd.DataFrame) -> pd.DataFrame:
    """Who the run was (key, backend, seed, swept values), its error, its metrics, then where its report is."""
    first = ["cell", "backend", "seed", *sweep.swept, "error"]
    last = ["run_dir", "cell_seconds", "finished_at"]
    for column in first + last:
        if column not in table:
            table[column] = None
    middle = [c for c in table.columns if c not in first and c not in last]
    return table[first + middle + last]


def _parquet_ready(table: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can type: a swept parameter whose values mix kinds (0.5 and "high") is kept as text."""
    table = table.copy()
    for column in table.columns:
        kinds = {type(v) for v in table[column] if v is not None and v == v}
        if len(kinds - {int, float}) and len(kinds) > 1:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    return table
