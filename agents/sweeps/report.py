"""A sweep's report: each metric's mean and 95% confidence interval per configuration (a configuration is one
combination of the swept values and a backend; its seeds are the samples), and the sweep file's metric plotted
against each swept parameter. Written as configurations.csv, one PNG per plotted metric and sweep.html, which
holds everything in one self-contained file (plots embedded, like a run's report.html)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend that needs no display
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from agents.simulation.html import STYLE, embedded_image  # noqa: E402
from agents.sweeps.spec import Sweep  # noqa: E402

CONFIDENCE = 0.95
# Columns of the table that describe a run rather than measure it.
NOT_MEASURED = ("cell", "backend", "seed", "error", "run_dir", "cell_seconds", "finished_at")
# Shown next to the plotted metrics in the report's headline table, where the runs have them.
HEADLINE = ("allocative_efficiency", "deals_settled", "price_cv", "provider_utilization_median",
            "surplus_providers_usd", "surplus_clients_usd")


def configuration_columns(sweep: Sweep) -> list[str]:
    return [*sweep.swept, "backend"]


def metric_columns(sweep: Sweep, table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in NOT_MEASURED and c not in sweep.swept]


def confidence_interval(values) -> tuple[int, float, float, float]:
    """(n, mean, low, high) of the finite values: Student's t interval at 95% (low = high = mean with one value,
    NaN with none)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return 0, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) == 1:
        return 1, mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return len(x), mean, mean - half, mean + half


def configurations(sweep: Sweep, table: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and metric: n (seeds with a value), mean, ci_low, ci_high; failed cells left out."""
    keys = configuration_columns(sweep)
    ok = table[table["error"].isna()] if "error" in table else table
    rows = []
    for config, group in ok.groupby(keys, sort=False, dropna=False):
        for metric in metric_columns(sweep, table):
            n, mean, low, high = confidence_interval(group[metric])
            rows.append({**dict(zip(keys, config)), "metric": metric, "n": n, "mean": mean, "ci_low": low,
                         "ci_high": high})
    return pd.DataFrame(rows, columns=[*keys, "metric", "n", "mean", "ci_low", "ci_high"])


def plot_metric(sweep: Sweep, table: pd.DataFrame, metric: str, path: Path) -> Path:
    """`metric` against each swept parameter: the mean over seeds with its 95% interval as error bars, one line
    per combination of the other parameters and backend, each seed's value as a faint dot."""
    swept = list(sweep.swept) or ["backend"]
    ok = table[table["error"].isna()] if "error" in table else table
    fig, axes = plt.subplots(1, len(swept), figsize=(5.6 * len(swept), 4.2), squeeze=False)
    for ax, parameter in zip(axes[0], swept):
        # The lines: one per combination of the other swept values (and backends, when there are several).
        others = [c for c in configuration_columns(sweep) if c != parameter and (c != "backend" or
                                                                               len(sweep.backends) > 1)]
        values = list(dict.fromkeys(sweep.grid.get(parameter, sweep.backends)))  # the file's order
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        position = {v: (v if numeric else i) for i, v in enumerate(values)}
        groups = list(ok.groupby(others, sort=False, dropna=False)) if others else [((), ok)]
        for line, (label, group) in enumerate(groups):
            # Categories have room: the lines are set side by side there, so their error bars do not overlap.
            dodge = 0.0 if numeric else 0.08 * (line - (len(groups) - 1) / 2)
            label = label if isinstance(label, tuple) else (label,)
            xs, means, lows, highs = [], [], [], []
            for value in values:
                samples = group.loc[group[parameter] == value, metric] if metric in group else pd.Series(dtype=float)
                n, mean, low, high = confidence_interval(samples)
                if n:
                    xs.append(position[value] + dodge)
                    means.append(mean)
                    lows.append(mean - low if n > 1 else 0.0)
                    highs.append(high - mean if n > 1 else 0.0)
                    ax.scatter([position[value] + dodge] * len(samples), samples, s=10, alpha=0.3, color="grey", zorder=1)
            name = ", ".join(f"{k}={v}" for k, v in zip(others, label)) if others else None
            ax.errorbar(xs, means, yerr=[lows, highs], marker="o", capsize=4, label=name, zorder=2,
                        linestyle="-" if numeric else "none")  # no line between unordered categories
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(parameter)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize=7)
    fig.suptitle(f"{metric}\nmean and {CONFIDENCE:.0%} interval over {len(sweep.seeds)} seeds (dots: each seed)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_sweep_report(sweep: Sweep, table: pd.DataFrame, out_dir: Path) -> Path:
    summary = configurations(sweep, table)
    summary.to_csv(out_dir / "configurations.csv", index=False)
    plots = [plot_metric(sweep, table, metric, out_dir / f"{_file_name(metric)}.png") for metric in sweep.plot_metrics]
    keys = configuration_columns(sweep)
    failed = table[table["error"].notna()] if "error" in table else table.iloc[0:0]
    parts = [
        f"<h1>Sweep: {html.escape(sweep.name)}</h1>",
        f"<p>Scenario <code>{html.escape(sweep.scenario_source)}</code>; {len(sweep.cells)} cells: "
        f"{len(sweep.cells) // (len(sweep.seeds) or 1)} configurations x seeds {', '.join(map(str, sweep.seeds))}; "
        f"{len(table) - len(failed)} finished, {len(failed)} failed. Overrides of every cell: "
        f"<code>{html.escape(json.dumps(sweep.overrides))}</code>; swept: "
        f"<code>{html.escape(json.dumps(sweep.grid))}</code>.</p>",
        f"<p class='note'>Each figure is the mean over a configuration's seeds and, in brackets, its "
        f"{CONFIDENCE:.0%} confidence interval (Student's t, n - 1 degrees of freedom; none with one seed). "
        "Failed cells are left out. Every run's own report is in cells/&lt;key&gt;/; results.parquet has a row per "
        "run, configurations.csv every figure below.</p>",
        "<h2>Plots</h2>", *[embedded_image(path) for path in plots],
    ]
    if len(summary):
        headline = [m for m in dict.fromkeys([*sweep.plot_metrics, *HEADLINE]) if m in set(summary["metric"])]
        parts += ["<h2>Headline figures</h2>", _wide(summary, keys, headline, by="configuration")]
        parts += ["<h2>Every metric per configuration</h2>",
                  _wide(summary, keys, list(dict.fromkeys(summary["metric"])), by="metric")]
    if len(failed):
        shown = failed[[c for c in (*sweep.swept, "backend", "seed", "error", "run_dir") if c in failed]]
        parts += ["<h2>Failed cells</h2><p class='note'>Run the sweep again to retry them; each one's traceback "
                  "is in its folder's error.txt.</p>", _html_table(shown.columns, shown.itertuples(index=False))]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(sweep.name)} sweep</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    path = out_dir / "sweep.html"
    path.write_text(page, encoding="utf-8")
    return path


def _wide(summary: pd.DataFrame, keys: list[str], metrics: list[str], by: str) -> str:
    """A table of "mean [low, high]": a row per configuration and a column per metric (by="configuration"), or
    a row per metric and a column per configuration (by="metric")."""
    chosen = summary[summary["metric"].isin(metrics)]
    configs = list(dict.fromkeys(tuple(row) for row in chosen[keys].astype(object).itertuples(index=False)))
    cell = {(tuple(r[k] for k in keys), r["metric"]): _figure(r) for r in chosen.to_dict(orient="records")}
    if by == "configuration":
        head = [*keys, "n", *metrics]
        n = {tuple(r[k] for k in keys): r["n"] for r in chosen.to_dict(orient="records")}
        rows = [[*c, n.get(c, 0), *(cell.get((c, m), "–") for m in metrics)] for c in configs]
    else:
        head = ["metric", *(", ".join(f"{k}={v}" for k, v in zip(keys, c)) for c in configs)]
        rows = [[m, *(cell.get((c, m), "–") for c in configs)] for m in metrics]
    return _html_table(head, rows)


def _figure(row: dict) -> str:
    if not row["n"]:
        return "–"
    mean = _number(row["mean"])
    return mean if row["n"] < 2 else f"{mean} [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"


def _number(x: float) -> str:
    if x != x:
        return "–"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return f"{x:.3g}"


def _html_table(head, rows) -> str:
    header = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def _file_name(metric: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in metric)
