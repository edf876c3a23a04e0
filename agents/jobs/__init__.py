"""Job execution: specs and their on-chain hash, the workload catalogue, limited subprocess runs, result
stores and re-validation.

Flow: a client publishes `spec.canonical_json()` (`ResultStore.publish_spec`) and puts `spec.spec_hash` and
the URI in its request; a provider fetches it (`fetch_spec`), runs it (`run_job`), publishes the result
(`ResultStore.publish`) and attests `(result_hash, uri)`; the client checks it (`verify`); a validator
re-runs it (`revalidate`).

Names are imported on first use: the worker subprocess (`python -m agents.jobs.worker`) imports this
package on every job and needs neither the runner nor the stores (nor eth_utils, slow to import).
"""

from importlib import import_module

_EXPORTS = {
    "agents.jobs.runner": ("JobResult", "JobStatus", "run_job"),
    "agents.jobs.spec": ("InvalidJobSpec", "JobSpec", "Limits", "Requirements"),
    "agents.jobs.store": (
        "FetchError",
        "HashMismatch",
        "HttpResultStore",
        "ResultStore",
        "fetch",
        "fetch_spec",
        "fetch_verified",
        "verify",
    ),
    "agents.jobs.validation": ("ValidationVerdict", "revalidate"),
    "agents.jobs.workloads": ("WORKLOADS", "Workload", "seconds_per_unit"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'agents.jobs' has no attribute {name!r}")
    return getattr(import_module(_MODULE_OF[name]), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
