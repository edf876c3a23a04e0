"""keccak256 of results and specs, the hash that goes on chain (`resultHash`, `specHash`)."""

from __future__ import annotations

from os import PathLike

from agents.keccak import incremental_keccak256

CHUNK_BYTES = 1 << 20


def keccak_file(path: str | PathLike) -> bytes:
    """keccak256 of a file's bytes, read in chunks so large results need not fit in memory."""
    digest = incremental_keccak256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.digest()


def as_hash(value: bytes | str) -> bytes:
    """A 32-byte hash from bytes or hex (with or without 0x); ValueError for anything else."""
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"not a hex hash: {value!r}") from None
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"a hash is 32 bytes, got {value!r}")
    return bytes(value)


__all__ = ["keccak_file", "as_hash"]
