"""Sweeps: many runs of a scenario over a grid of overrides x seeds x backends, as Ray tasks, into one
Parquet table and a report with confidence intervals (`ape run sweep SWEEP.yaml`; README: Sweeps).

spec     the sweep file: grid, overrides (dotted paths), seeds, backends, plot; every cell's scenario parsed
backends the one dispatch from a backend's name to the function that runs a cell on it
cell     one cell as a Ray task runs it: its row of metrics, or its error
metrics  a run's summary.json as a row of float columns
runner   the Ray driver: resume, progress bar, records, results.parquet
report   means and 95% intervals per configuration, the plot, sweep.html
"""
