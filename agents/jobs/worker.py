"""Subprocess entry point for catalogue workloads: `python -m agents.jobs.worker <spec.json> <output-file>`.

The runner starts this under the job's limits; it reads the spec, computes the workload and writes the
result bytes. The output file appears only when the run completed (written aside, then renamed), so a
killed run never leaves a partial result that could be hashed and published.

Exit status: 0 success, 2 unusable arguments or spec, 3 out of memory (the runner reports memory_exceeded).
"""

from __future__ import annotations

import os
import sys

EXIT_OK = 0
EXIT_BAD_SPEC = 2
EXIT_OUT_OF_MEMORY = 3


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m agents.jobs.worker <spec-json-file> <output-file>", file=sys.stderr)
        return EXIT_BAD_SPEC
    spec_path, output_path = argv
    try:
        from agents.jobs.spec import InvalidJobSpec, JobSpec
        from agents.jobs.workloads import WORKLOADS

        try:
            with open(spec_path, "rb") as spec_file:
                spec = JobSpec.from_json(spec_file.read())
        except (OSError, InvalidJobSpec) as error:
            print(f"worker: cannot use job spec {spec_path}: {error}", file=sys.stderr)
            return EXIT_BAD_SPEC
        if spec.workload is None:
            print("worker: the spec is a command, not a catalogue workload", file=sys.stderr)
            return EXIT_BAD_SPEC

        result = WORKLOADS[spec.workload](spec.params, spec.seed)

        partial_path = output_path + ".partial"
        with open(partial_path, "wb") as output:
            output.write(result)
        os.replace(partial_path, output_path)
    except MemoryError:
        # Raised when RLIMIT_AS refuses an allocation; a distinct status lets the runner say so.
        print("worker: MemoryError: the workload exceeded the job's memory limit", file=sys.stderr)
        return EXIT_OUT_OF_MEMORY
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
