"""What the memory market keeps of the EVM: reverts with named errors, events, and all-or-nothing calls.

A contract call either changes state and emits its logs, or reverts and leaves no trace. The memory market
gets the same by checking everything a call can fail on before it writes anything (the contracts write some
state before their last external call, a token pull; the memory market checks that pull first), and by
holding a call's events back until it returns (`CallContext`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32
MAX_UINT256 = 2**256 - 1

# A call the EVM refuses before any contract logic runs (calldata that does not decode as the function's
# types, or a call into an address whose code has no such function) reverts with no data: no error name.
NO_DATA = ""


class Revert(Exception):
    """A reverted call: the Solidity custom error's name and its arguments by parameter name, in the shapes
    the chain layer decodes them to (checksummed addresses, bytes32 as bytes, integers), so that a revert in
    memory compares equal to the same revert decoded from the chain. A revert without data has name ''."""

    def __init__(self, name: str, **args: Any):
        super().__init__(f"{name or 'revert without data'}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
        self.name = name
        self.args_by_name = args

    def __eq__(self, other) -> bool:
        return isinstance(other, Revert) and (self.name, self.args_by_name) == (other.name, other.args_by_name)

    __hash__ = None


@dataclass(frozen=True)
class Event:
    """One log: the emitting contract (its address), the event's name and its arguments by name, in the shapes
    `agents.chain.codec.ContractCodec.decode_log` gives (structs as dicts keyed by Solidity field names)."""

    emitter: str
    name: str
    args: dict[str, Any]


def check_uint(value: int, bits: int) -> int:
    """A calldata integer of type uintN: out of range, the ABI decoder reverts without data."""
    if not isinstance(value, int) or value < 0 or value >= 1 << bits:
        raise Revert(NO_DATA)
    return value


def checked_add(a: int, b: int, bits: int) -> int:
    """Solidity 0.8's checked `a + b` into a uintN: an overflow panics (Panic(0x11))."""
    total = a + b
    if total >= 1 << bits:
        raise Revert("Panic", code=0x11)
    return total


@dataclass
class CallContext:
    """The events of the call in progress, shared by the contracts one call goes through (the attestation
    service calls the market as resolver; the escrow calls the token). A revert drops them with the call."""

    _pending: list[Event] | None = None

    def emit(self, emitter: str, name: str, **args) -> None:
        assert self._pending is not None, "events are emitted inside a call"
        self._pending.append(Event(emitter, name, args))

    @contextmanager
    def call(self) -> Iterator[list[Event]]:
        """Runs one external call and yields the list its events go to, which the caller returns once the call
        went through. Nested (a contract calling another), the inner call shares the outer one's list."""
        if self._pending is not None:
            yield self._pending
            return
        self._pending = pending = []
        try:
            yield pending
        finally:
            self._pending = None


@dataclass
class Clock:
    """`block.timestamp` of the next call: the caller sets it (a simulation's step, a test's chosen second)."""

    now: int = 0
