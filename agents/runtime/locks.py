"""Locks: an agent never commits the same capacity or the same funds to two deals at once.

A provider reserves cores, memory and collateral when it makes an offer, and keeps them while the deal
runs; a client reserves the most it may pay when it requests, and the accepted price once agreed. A
reservation is keyed (by deal id, or by offer hash for an offer not yet accepted) so that releasing is
idempotent, and the books rebuild from the open dialogues after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.policy import Capacity


class LockUnavailable(Exception):
    """The capacity or funds asked for are already committed elsewhere."""


@dataclass
class Locks:
    capacity: Capacity = field(default_factory=Capacity)
    funds: int = 0  # what the agent may commit: its unlocked escrow balance plus what it will deposit
    # What the agent signs for beyond its funds: zero for every honest agent; an overbooking adversary's policy
    # sets it (`overcommit_units`), and the deals it cannot fund end in collateral_missing.
    credit: int = 0
    _capacity_held: dict[bytes, Capacity] = field(default_factory=dict)
    _funds_held: dict[bytes, int] = field(default_factory=dict)
    # Asked for in every context, changed only when a reservation is: kept until then.
    _free_capacity: Capacity | None = field(default=None, repr=False, compare=False)
    _funds_held_total: int = field(default=0, repr=False, compare=False)  # sum(_funds_held.values())

    @property
    def free_capacity(self) -> Capacity:
        if self._free_capacity is None:
            held, total = self._capacity_held.values(), self.capacity
            self._free_capacity = Capacity(total.cores - sum(c.cores for c in held),
                                           total.ram_bytes - sum(c.ram_bytes for c in held),
                                           total.gpus - sum(c.gpus for c in held))
        return self._free_capacity

    @property
    def free_funds(self) -> int:
        return self.funds + self.credit - self._funds_held_total

    def can_hold(self, capacity: Capacity = Capacity(), funds: int = 0) -> bool:
        return capacity.fits_within(self.free_capacity) and funds <= self.free_funds

    def hold(self, key: bytes, capacity: Capacity = Capacity(), funds: int = 0) -> None:
        """Reserve capacity and funds under `key`, all or nothing. Holding a key twice replaces it."""
        previous = (self._capacity_held.pop(key, Capacity()), self._funds_held.pop(key, 0))
        self._free_capacity = None
        self._funds_held_total -= previous[1]
        if not self.can_hold(capacity, funds):
            self._put(key, *previous)
            raise LockUnavailable(
                f"need {capacity} and {funds} funds; free: {self.free_capacity} and {self.free_funds}"
            )
        self._put(key, capacity, funds)

    def _put(self, key: bytes, capacity: Capacity, funds: int) -> None:
        # Only what is non-zero is recorded, so that `holds` and `keys` name real reservations.
        if capacity != Capacity():
            self._capacity_held[key] = capacity
            self._free_capacity = None
        if funds:
            self._funds_held[key] = funds
            self._funds_held_total += funds

    def move(self, old_key: bytes, new_key: bytes) -> None:
        """Carry a reservation over, e.g. from an offer's hash to the deal it became (replacing any under
        `new_key`)."""
        if old_key == new_key:
            return
        if old_key in self._capacity_held:
            self._free_capacity = None
            self._capacity_held[new_key] = self._capacity_held.pop(old_key)
        if old_key in self._funds_held:
            self._funds_held_total -= self._funds_held.get(new_key, 0)
            self._funds_held[new_key] = self._funds_held.pop(old_key)

    def release(self, key: bytes) -> None:
        if self._capacity_held.pop(key, None) is not None:
            self._free_capacity = None
        self._funds_held_total -= self._funds_held.pop(key, 0)

    def holds(self, key: bytes) -> bool:
        return key in self._capacity_held or key in self._funds_held

    @property
    def keys(self) -> set[bytes]:
        return set(self._capacity_held) | set(self._funds_held)
