"""Job sizes and provider utilization: busy capacity-seconds over available capacity-seconds.

A job declares its size (the cores it holds and its duration on the reference machine, in its spec). It holds
its provider's cores from its commencement attestation until its result is delivered (the completion
attestation) or the deal ends without one (an abort, a slash at the completion deadline): chain times, read from
the run's messages. The simulated provider delivers only once the declared duration has passed in chain time
(the process that ran is the real workload, scaled down), so busy time is the job's size, not the process's.

Available capacity-seconds: each provider's cores over the market's active period, from the run's start until
the last job left its machine (at least until the last step in which jobs arrived): the drain's idle tail, in
which the market only settles, is not counted against the providers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents.protocol import Message, Performative


def job_sizes(messages: list[Message], jobs) -> dict[str, tuple[int, float]]:
    """Each requested deal's size, by deal id (hex): (cores, declared seconds), for requests of a job in the
    scenario's mix `jobs` (`JobMixEntry`s); requests of other specs are left out."""
    by_hash = {entry.spec.spec_hash: entry.spec for entry in jobs}
    sizes = {}
    for m in messages:
        if m.performative == Performative.REQUEST and m.request.spec_hash in by_hash:
            spec = by_hash[m.request.spec_hash]
            sizes[m.deal_id.hex()] = (spec.requirements.min_cores, spec.estimated_seconds())
    return sizes


def attach_job_sizes(deals: pd.DataFrame, sizes: dict[str, tuple[int, float]]) -> pd.DataFrame:
    """The deals table with each job's `cores` and `declared_hours` (NaN for a spec outside the mix)."""
    if not len(deals):
        return deals.assign(cores=pd.Series(dtype=float), declared_hours=pd.Series(dtype=float))
    return deals.assign(
        cores=deals["deal_id"].map(lambda d: sizes[d][0] if d in sizes else np.nan),
        declared_hours=deals["deal_id"].map(lambda d: sizes[d][1] / 3600 if d in sizes else np.nan),
    )


def busy_intervals(messages: pd.DataFrame, deals: pd.DataFrame) -> pd.DataFrame:
    """One row per job that ran: `deal_id`, `provider`, `cores`, `start` (commencement) and `end` (completion,
    abort or close, whichever came first), chain seconds."""
    columns = ["deal_id", "provider", "cores", "start", "end"]
    if not len(messages) or not len(deals):
        return pd.DataFrame(columns=columns)
    by_kind = messages.groupby(["deal_id", "message"])["time"].min().unstack()
    started = by_kind.get(Performative.COMMENCE.value)
    if started is None:
        return pd.DataFrame(columns=columns)
    ran = deals.set_index("deal_id").loc[lambda d: d.index.isin(started.dropna().index)]
    ends = pd.concat([by_kind.get(p.value, pd.Series(dtype=float)).reindex(ran.index)
                      for p in (Performative.COMPLETE, Performative.ABORT)] + [ran["closed_at"]], axis=1)
    return pd.DataFrame({
        "deal_id": ran.index, "provider": ran["provider"].to_numpy(), "cores": ran["cores"].to_numpy(),
        "start": started.reindex(ran.index).to_numpy(), "end": ends.min(axis=1).to_numpy(),
    }).dropna(subset=["cores", "end"]).reset_index(drop=True)


def active_period(intervals: pd.DataFrame, start: float, last_arrival: float) -> tuple[float, float]:
    """The market's active period: from `start` until the last job left its machine, at least `last_arrival`."""
    end = max(last_arrival, float(intervals["end"].max()) if len(intervals) else last_arrival)
    return start, end


def utilization(intervals: pd.DataFrame, cores: dict[str, int], period: tuple[float, float]) -> dict[str, float]:
    """Each provider's busy core-seconds over its cores x the period (`cores`: provider -> its machine's cores)."""
    start, end = period
    length = end - start
    if length <= 0:
        return {name: 0.0 for name in cores}
    busy = (intervals["end"].clip(upper=end) - intervals["start"].clip(lower=start)).clip(lower=0) * intervals["cores"]
    by_provider = busy.groupby(intervals["provider"]).sum() if len(intervals) else pd.Series(dtype=float)
    return {name: float(by_provider.get(name, 0.0)) / (n * length) for name, n in cores.items()}


def utilization_by_step(intervals: pd.DataFrame, cores: dict[str, int], period: tuple[float, float],
                        step_seconds: float) -> pd.DataFrame:
    """The share of each provider's cores busy in each step of the period: columns `time` (the step's start),
    `provider`, `busy_share`."""
    start, end = period
    lefts = np.arange(start, end + step_seconds, step_seconds)[:-1]
    rights = lefts + step_seconds
    by_provider = dict(tuple(intervals.groupby("provider", sort=False))) if len(intervals) else {}
    frames = []
    for name, n in cores.items():
        busy = np.zeros(len(lefts))
        mine = by_provider.get(name)
        if mine is not None:  # every interval against every step at once: rows are intervals, columns steps
            starts, ends = (mine[c].to_numpy(dtype=float)[:, None] for c in ("start", "end"))
            overlap = np.clip(np.minimum(ends, rights) - np.maximum(starts, lefts), 0.0, None)
            busy = (overlap * mine["cores"].to_numpy(dtype=float)[:, None]).sum(axis=0) / (n * step_seconds)
        frames.append(pd.DataFrame({"time": lefts, "provider": name, "busy_share": busy}))
    if not frames:
        return pd.DataFrame(columns=["time", "provider", "busy_share"])
    return pd.concat(frames, ignore_index=True)
