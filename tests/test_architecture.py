"""The package layout's promises (README, "How it is built"), checked on the source so they stay true.

- Top-level modules are the vocabulary every package builds on: they import no subpackage.
- Packages depend on each other in one direction: no import cycle between them.
- Strategies see the world only through the policy seam (`agents.policy`) and the scheme (`agents.protocol`).
- The product never imports the test and measurement harness (`agents.testing`).
- No module grows past what one reader holds in mind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agents"
MAX_LINES = 450
MAX_TOP_LEVEL_MODULES = 10


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(path: Path) -> set[str]:
    """Every `agents...` module a file imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("agents"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("agents"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _unit(module: str) -> str | None:
    """The unit of the layout a module belongs to: `agents.chain` for agents.chain.rpc, `agents.policy`
    for the top-level module itself; None for the package root."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


MODULES = _modules()
UNITS = {_unit(name) for name in MODULES} - {None}
SUBPACKAGES = {unit for unit in UNITS if (PACKAGE / unit.split(".")[1]).is_dir()}


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {unit: set() for unit in UNITS}
    for name, path in MODULES.items():
        source = _unit(name)
        if source is None:
            continue
        for imported in _imports(path):
            target = _unit(imported)
            if target in UNITS and target != source:
                graph[source].add(target)
    return graph


def test_no_module_is_over_the_line_limit():
    long = {str(path.relative_to(PACKAGE.parent)): n for path in MODULES.values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_top_level_modules_are_few_and_import_no_subpackage():
    top_level = sorted(unit for unit in UNITS - SUBPACKAGES)
    assert len(top_level) <= MAX_TOP_LEVEL_MODULES, top_level
    graph = _unit_graph()
    for module in top_level:
        assert not graph[module] & SUBPACKAGES, f"{module} imports {sorted(graph[module] & SUBPACKAGES)}"


def test_no_import_cycle_between_packages():
    graph = _unit_graph()
    visiting, done = [], set()

    def visit(unit: str) -> None:
        if unit in done:
            return
        if unit in visiting:
            cycle = visiting[visiting.index(unit):] + [unit]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        visiting.append(unit)
        for target in sorted(graph[unit]):
            visit(target)
        visiting.pop()
        done.add(unit)

    for unit in sorted(graph):
        visit(unit)


def test_strategies_see_only_the_policy_seam_and_the_scheme():
    allowed = {"agents.policy", "agents.protocol", "agents.strategies"}
    for name, path in MODULES.items():
        if name.startswith("agents.strategies"):
            outside = {_unit(i) for i in _imports(path)} - allowed
            assert not outside, f"{name} imports {sorted(outside)}"


def test_the_product_never_imports_the_test_harness():
    for name, path in MODULES.items():
        if not name.startswith("agents.testing"):
            harness = sorted(i for i in _imports(path) if i.startswith("agents.testing"))
            assert not harness, f"{name} imports {harness}"


def test_the_checks_see_the_layout():
    # Guards the guards: a broken walk of the tree would make every check above pass vacuously.
    assert {"agents.protocol", "agents.policy", "agents.runtime", "agents.chain", "agents.strategies"} <= UNITS
    assert "agents.policy" in _unit_graph()["agents.strategies"]


def test_abis_read_from_the_manifest_are_apes():
    """project_abi reads Ape's manifest directly when it is fresh: the same ABIs Ape gives."""
    from ape import project

    from agents.chain.abi import _fresh_manifest, project_abi

    assert _fresh_manifest() is not None  # the tests compiled the contracts
    for name in ("ComputeMarket", "TestToken"):
        via_ape = [entry.model_dump(mode="json", by_alias=True) for entry in getattr(project, name).contract_type.abi]
        assert project_abi(name) == via_ape
