"""Fast ABI encoding of calls and decoding of their results and of logs, straight from the ABIs with
eth-abi: the one codec of the project (the runtime feed, the history, the directory and the oracles use it).

web3's contract objects do the same through several layers of validation; on the agents' hot path (every
event decoded, every reply encoded) that overhead matters, so this module precomputes selectors and topic
hashes once.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import keccak

from agents.protocol import to_checksum_address


def abi_type(param: dict) -> str:
    """Canonical ABI type of a parameter, expanding tuples (structs)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(component) for component in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


def _normalise(value, param: dict):
    """Decoded values in the shapes agents use: checksummed addresses, dicts for structs."""
    kind = param["type"]
    if kind.endswith("]"):  # arrays: normalise each element as its element type
        element = dict(param, type=kind[: kind.rindex("[")])
        return [_normalise(item, element) for item in value]
    if kind == "address":
        return to_checksum_address(value)
    if kind == "tuple":
        return {c["name"]: _normalise(v, c) for c, v in zip(param["components"], value)}
    return value


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


@dataclass(frozen=True)
class EventSpec:
    name: str
    topic: bytes
    indexed: tuple[dict, ...]
    indexed_types: tuple[str, ...]
    data: tuple[dict, ...]
    data_types: tuple[str, ...]


class ContractCodec:
    """Encodes calls to and decodes events of one contract ABI."""

    def __init__(self, abi: list[dict]):
        self._functions: dict[str, tuple[bytes, list[str]]] = {}
        self._outputs: dict[str, tuple[list[dict], list[str]]] = {}
        self.events_by_topic: dict[bytes, EventSpec] = {}
        self.topics: dict[str, bytes] = {}
        for entry in abi:
            if entry["type"] == "function":
                types = [abi_type(p) for p in entry["inputs"]]
                selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
                self._functions[entry["name"]] = (selector, types)
                outputs = entry.get("outputs", [])
                self._outputs[entry["name"]] = (outputs, [abi_type(p) for p in outputs])
            elif entry["type"] == "event" and not entry.get("anonymous"):
                types = [abi_type(p) for p in entry["inputs"]]
                topic = keccak(text=f"{entry['name']}({','.join(types)})")
                indexed = tuple(p for p in entry["inputs"] if p["indexed"])
                data = tuple(p for p in entry["inputs"] if not p["indexed"])
                spec = EventSpec(entry["name"], topic, indexed, tuple(abi_type(p) for p in indexed), data,
                                 tuple(abi_type(p) for p in data))
                self.events_by_topic[topic] = spec
                self.topics[entry["name"]] = topic

    def function(self, name: str) -> tuple[bytes, list[str]]:
        """(selector, input types) of a function, for decoding its calldata."""
        return self._functions[name]

    def encode_call(self, function: str, *args) -> bytes:
        selector, types = self._functions[function]
        return selector + encode(types, list(args))

    def decode_result(self, function: str, data: bytes) -> tuple:
        """The return values of a call of `function`, in the shapes `decode_log` gives (checksummed
        addresses, dicts for structs): a tuple with one item per output."""
        outputs, types = self._outputs[function]
        return tuple(_normalise(value, param) for value, param in zip(decode(types, data), outputs))

    def decode_log(self, log) -> tuple[str, dict] | None:
        """(event name, arguments) of a log, or None for events not in this ABI. Takes the node's raw
        JSON-RPC log (hex strings)."""
        if not log["topics"]:
            return None
        topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
        data = bytes.fromhex(log["data"][2:])
        spec = self.events_by_topic.get(topics[0])
        if spec is None:
            return None
        args = {}
        for param, kind, topic in zip(spec.indexed, spec.indexed_types, topics[1:]):
            # An indexed dynamic value (string, bytes, array, struct) is logged as its hash: keep the hash.
            args[param["name"]] = topic if _is_dynamic(kind) else _normalise(decode([kind], topic)[0], param)
        values = decode(list(spec.data_types), data)
        for param, value in zip(spec.data, values):
            args[param["name"]] = _normalise(value, param)
        return spec.name, args
