"""Sweep files: which scenario, which overrides to hold fixed, which to sweep (a grid), which seeds, which
backends, and which metric to plot. `load_sweep` checks all of it, and builds and parses every cell's scenario,
before anything runs: a bad override is one `SweepError` line naming its path.

    scenario: default                  # a shipped scenario's name, or a path (relative to the sweep file)
    seeds: [1, 2, 3]
    backends: [chain]                  # default: [chain]
    overrides: {steps: 24}             # applied to every cell
    grid:                              # one cell per combination of values (x seeds x backends)
      providers.cost-plus.params.margin: [0.05, 0.3, 0.6]
    plot: {metric: cost-plus.mean_sortino}

A path is dotted: mapping keys, list indices (`providers.0`), or, in a list of named entries, an entry's
`name` (`providers.cost-plus`). A missing mapping on the way is created (`demand.daily_amplitude` on a
scenario without `demand:`); the scenario's own checks then judge the value.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.simulation.fields import ScenarioError
from agents.simulation.scenario import SCENARIO_DIR, Scenario, parse_scenario
from agents.sweeps.backends import check_backend
from agents.sweeps.metrics import check_metric

SWEEP_FIELDS = ("name", "scenario", "seeds", "backends", "overrides", "grid", "plot")


class SweepError(ValueError):
    """A sweep file, or one of its overrides, is wrong; the message names the field or the path."""


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: the swept parameters' values, a seed and a backend, and the scenario they make."""

    params: dict[str, Any]  # swept path -> value, in the grid's order
    seed: int
    backend: str
    scenario: Scenario
    key: str  # hash of everything that decides the run's outcome: finished cells are found again by it

    @property
    def label(self) -> str:
        values = ", ".join(f"{path}={value}" for path, value in self.params.items())
        return f"{values + ', ' if values else ''}seed {self.seed}, {self.backend}"


@dataclass(frozen=True)
class Sweep:
    name: str
    source: Path
    scenario_source: str  # the scenario file's path
    seeds: tuple[int, ...]
    backends: tuple[str, ...]
    overrides: dict[str, Any]
    grid: dict[str, list]
    plot_metrics: tuple[str, ...]
    cells: tuple[Cell, ...]

    @property
    def swept(self) -> tuple[str, ...]:
        return tuple(self.grid)


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"no sweep file {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SweepError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise SweepError(f"{path}: the top level must be a mapping")
    unknown = [key for key in data if key not in SWEEP_FIELDS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), SWEEP_FIELDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"fields: {', '.join(SWEEP_FIELDS)}"
        raise SweepError(f"{path}: unknown field {unknown[0]!r} ({hint})")
    scenario_path = _scenario_path(data.get("scenario"), path)
    scenario_text = scenario_path.read_text()
    try:
        scenario_data = yaml.safe_load(scenario_text)
    except yaml.YAMLError as error:
        raise SweepError(f"{scenario_path}: not valid YAML: {error}") from error
    seeds = data.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        raise SweepError(f"{path}: seeds must be a list of integers >= 0, e.g. [1, 2, 3]; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"{path}: seeds: {seeds} repeats a seed")
    backends = data.get("backends", ["chain"])
    if not isinstance(backends, list) or not backends:
        raise SweepError(f"{path}: backends must be a list, e.g. [chain]; got {backends!r}")
    for backend in backends:
        try:
            check_backend(backend)
        except ValueError as error:
            raise SweepError(f"{path}: backends: {error}") from error
    overrides = _mapping(data, "overrides", path)
    grid = _mapping(data, "grid", path)
    for swept, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{path}: grid: {swept} must be a non-empty list of values; got {values!r}")
        if swept in overrides:
            raise SweepError(f"{path}: {swept} is both in overrides and in the grid")
    for reserved in ("seed", "name"):
        if reserved in grid or reserved in overrides:
            raise SweepError(f"{path}: {reserved} cannot be overridden: "
                             + ("seeds are swept by `seeds:`" if reserved == "seed" else "each cell has its own folder"))
    try:  # the file itself first: its own faults are not blamed on an override
        parse_scenario(scenario_data, source=str(scenario_path))
    except ScenarioError as error:
        raise SweepError(str(error)) from error
    content_hash = hashlib.sha256(scenario_text.encode()).hexdigest()
    cells = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        data_for_cell = scenario_data
        for override_path, value in {**overrides, **params}.items():
            data_for_cell = apply_override(data_for_cell, override_path, value)
        for seed in seeds:
            scenario = _parse(data_for_cell, seed, str(scenario_path), {**overrides, **params})
            for backend in backends:
                key = cell_key(content_hash, overrides, params, seed, backend)
                cells.append(Cell(params, seed, backend, scenario, key))
    plot = _mapping(data, "plot", path)
    metrics = plot.get("metric", [])
    metrics = [metrics] if isinstance(metrics, str) else metrics
    if set(plot) - {"metric"} or not isinstance(metrics, list) or not metrics:
        raise SweepError(f"{path}: plot must be {{metric: NAME}} (or a list of names), e.g. "
                         "{metric: allocative_efficiency}")
    for metric in metrics:
        try:
            check_metric(metric, cells[0].scenario)
        except ValueError as error:
            raise SweepError(f"{path}: plot: {error}") from error
    return Sweep(name=str(data.get("name", path.stem)), source=path, scenario_source=str(scenario_path),
                 seeds=tuple(seeds), backends=tuple(backends), overrides=overrides, grid=grid,
                 plot_metrics=tuple(metrics), cells=tuple(cells))


def apply_override(data: Any, path: str, value: Any) -> Any:
    """A copy of scenario data with `value` at the dotted `path` (SweepError naming the path if it cannot be)."""
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise SweepError(f"override {path!r}: a path is dotted names and indices, e.g. providers.0.params.margin")
    result = copy.deepcopy(data)
    node = result
    parts = path.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the scenario"
        if isinstance(node, dict):
            if last:
                node[part] = copy.deepcopy(value)
            else:
                node = node.setdefault(part, {})
        elif isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                names = [str(e["name"]) for e in node if isinstance(e, dict) and "name" in e]
                choices = f"indices 0..{len(node) - 1}" + (f" or names {', '.join(names)}" if names else "")
                raise SweepError(f"override {path}: {where} has no entry {part!r} ({choices})")
            if last:
                node[index] = copy.deepcopy(value)
            else:
                node = node[index]
        else:
            raise SweepError(f"override {path}: {where} is {node!r}, not a mapping or a list")
    return result


def cell_key(scenario_hash: str, overrides: dict, params: dict, seed: int, backend: str) -> str:
    """The cell's identity: the scenario file's content, every override, the seed and the backend."""
    identity = json.dumps({"scenario": scenario_hash, "overrides": overrides, "params": params, "seed": seed,
                           "backend": backend}, sort_keys=True, default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _parse(data: Any, seed: int, source: str, applied: dict) -> Scenario:
    if not isinstance(data, dict):
        raise SweepError(f"{source}: the top level must be a mapping")
    try:
        return parse_scenario({**data, "seed": seed}, source=source)
    except ScenarioError as error:
        # Name the overrides that may be to blame, closest to the scenario's message first.
        message = str(error)
        blamed = [p for p in applied if p.split(".")[-1] in message or p.split(".")[0] in message] or list(applied)
        said = ", ".join(f"{p} = {applied[p]!r}" for p in blamed)
        raise SweepError(f"override {said}: {message}" if said else message) from error


def _list_index(entries: list, part: str) -> int | None:
    if part.isdigit():
        index = int(part)
        return index if index < len(entries) else None
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") == part:
            return index
    return None


def _scenario_path(value: Any, sweep_file: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise SweepError(f"{sweep_file}: scenario must name a shipped scenario (default, adversarial, ...) or a file")
    for candidate in (sweep_file.parent / value, Path(value), SCENARIO_DIR / f"{value}.yaml"):
        if candidate.is_file():
            return candidate
    names = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
    raise SweepError(f"{sweep_file}: no scenario file {value!r}; shipped scenarios: {names}")


def _mapping(data: dict, key: str, path: Path) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise SweepError(f"{path}: {key} must be a mapping")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
