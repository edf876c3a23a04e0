"""Reading a scenario file's mappings field by field: typed readers that name the field in every error, refuse
fields nobody read (a typo such as `stepz`, with a did-you-mean), and note each default they apply."""

from __future__ import annotations

import difflib
from contextvars import ContextVar

from agents.oracles.models import DEFAULT_REGIONS
from agents.strategies.registry import STRATEGIES


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the field."""


# Where the readers of one parse note the defaults they apply (one parse at a time per context).
DEFAULTS_APPLIED: ContextVar[list[str] | None] = ContextVar("defaults_applied", default=None)


class FieldReader:
    """Reads one mapping field by field; `done()` refuses the fields nobody read (a typo such as `stepz`)."""

    def __init__(self, data: dict, where: str):
        self.data, self.where = data, where
        self.read: set[str] = set()

    def done(self) -> None:
        unknown = [key for key in self.data if key not in self.read]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), sorted(self.read), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"fields here: {', '.join(sorted(self.read))}"
            raise ScenarioError(f"{self.where}: unknown field {unknown[0]!r} ({hint})")

    def known(self, *keys: str) -> None:
        """Fields read directly from the mapping rather than through the typed readers."""
        self.read.update(keys)

    def region(self) -> str:
        return self.str("region", "eu-west", tuple(DEFAULT_REGIONS))

    def params(self, strategy_name: str) -> dict:
        """A strategy's params, checked by the registry (the same check as `ape run agent --param`)."""
        try:
            return STRATEGIES[strategy_name].check_params(self.mapping("params"))
        except ValueError as error:
            raise ScenarioError(f"{self.where}: params: {error}") from error

    def _get(self, key, default):
        self.read.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise ScenarioError(f"{self.where}: missing field {key!r}")
            applied = DEFAULTS_APPLIED.get()
            if applied is not None and not isinstance(default, (dict, list)):  # empty sections are not defaults
                applied.append(f"{self.where}: {key} = {default!r}" if self.where else f"{key} = {default!r}")
            return default
        return self.data[key]

    def int(self, key, default=None, minimum=None, maximum=None) -> int:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ScenarioError(f"{self.where}: {key} must be an integer, got {value!r}")
        return self._bounded(key, value, minimum, maximum)

    def number(self, key, default=None, minimum=None, maximum=None) -> float:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ScenarioError(f"{self.where}: {key} must be a number, got {value!r}")
        return self._bounded(key, float(value), minimum, maximum)

    def str(self, key, default=None, choices=None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            raise ScenarioError(f"{self.where}: {key} must be a string, got {value!r}")
        if choices and value not in choices:
            raise ScenarioError(f"{self.where}: {key} must be one of {', '.join(choices)}; got {value!r}")
        return value

    def list(self, key, default=None) -> list:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, list):
            raise ScenarioError(f"{self.where}: {key} must be a list")
        return value

    def mapping(self, key) -> dict:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise ScenarioError(f"{self.where}: {key} must be a mapping")
        return value

    def _bounded(self, key, value, minimum, maximum):
        if minimum is not None and value < minimum:
            raise ScenarioError(f"{self.where}: {key} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ScenarioError(f"{self.where}: {key} must be at most {maximum}, got {value}")
        return value


_REQUIRED = object()


def mapping_reader(data, where: str) -> FieldReader:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    return FieldReader(data, where)


