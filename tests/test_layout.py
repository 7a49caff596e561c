"""The package's layers: each subpackage imports only those below it, so the tree shows the
architecture. From the bottom: errors; system; core (NumPy only); data; kernels (numba, only
where a run asks for it); config; runs; api and demos; cli.
Imports for annotations only (under ``if TYPE_CHECKING:``) are not counted: the data layer names
the config's `DataConfig` type without importing the config."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "backprop_cli"

#: What each part may import from bprop (besides itself).
ALLOWED = {
    "errors": set(),
    "system": {"errors"},
    "core": {"errors"},
    "data": {"errors", "system", "core"},
    "config": {"errors", "system", "core", "data"},
    "kernels": {"errors", "system", "core", "data"},
    "runs": {"errors", "system", "core", "data", "config", "kernels"},
    "demos": {"errors", "core", "config"},
    "api": {"errors", "system", "core", "data", "config", "runs"},
    "cli": {"errors", "system", "core", "data", "config", "runs", "demos", "api", "__init__"},
}
#: The only modules of the numerical core's world outside the standard library.
CORE_THIRD_PARTY = {"numpy"}


def part_of(module: str) -> str:
    top = module.split(".")[0]
    return "__init__" if not top or top.startswith("__") else top


def bprop_imports(path: Path) -> list[tuple[str, int]]:
    """(the imported bprop module relative to the package, line) for every import in ``path``."""
    here = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(here if path.name == "__init__.py" else here[:-1])
    if package and package[-1] == "__init__":
        package = package[:-1]
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                names = (
                    [target]
                    if node.module
                    else [f"{target}.{a.name}".strip(".") for a in node.names]
                )
                found += [(name, node.lineno) for name in names]
            elif node.module and node.module.startswith("backprop_cli"):
                found.append((node.module.removeprefix("backprop_cli").lstrip("."), node.lineno))
        elif isinstance(node, ast.Import):
            found += [
                (a.name.removeprefix("backprop_cli").lstrip("."), node.lineno)
                for a in node.names
                if a.name.startswith("backprop_cli")
            ]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_part_imports_only_the_parts_below_it(path: Path) -> None:
    own = part_of(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    if own == "__init__":
        return
    for module, line in bprop_imports(path):
        other = part_of(module)
        assert other == own or other in ALLOWED[own], f"{path.name}:{line} imports {module}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_numpy_and_the_standard_library_only(path: Path) -> None:
    import sys

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in CORE_THIRD_PARTY, (
                f"{path.name} imports {name}"
            )
            assert top not in {"builtins", "io", "os", "shutil", "pathlib"}, (
                f"{path.name} imports {name}: the core does no I/O"
            )


def test_the_rule_above_can_fail() -> None:
    """The import finder sees relative and absolute imports, at the top, inside functions and
    for annotations only (so the rules bind)."""
    found = {m for m, _ in bprop_imports(PACKAGE / "runs" / "train" / "plan.py")}
    assert "core.training" in found and "config" in found
    inside = {m for m, _ in bprop_imports(PACKAGE / "cli" / "train_cmd.py")}
    assert "runs.train.plan" in inside  # imported inside the command's function
    annotations = {m for m, _ in bprop_imports(PACKAGE / "data" / "table" / "identifiers.py")}
    assert "data.table.read" in annotations  # under if TYPE_CHECKING


def module_of(name: str) -> str | None:
    """The module file ``name`` (relative to the package) stands for, if it is one."""
    base = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    if base.with_suffix(".py").is_file():
        return name
    return name if (base / "__init__.py").is_file() else None


def import_graph() -> dict[str, set[str]]:
    """Module → the bprop modules it imports (``from .x import name`` counts the module
    ``x.name`` when it is one, else ``x``)."""
    graph = {}
    for path in MODULES:
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix("__init__")
        name = name.removesuffix(".")
        targets = set()
        for module, _ in bprop_imports(path):
            found = module_of(module) or module_of(module.rpartition(".")[0])
            if found is not None and found != name:
                targets.add(found)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others."""
    reach = {node: set() for node in graph}
    for node in graph:
        todo = list(graph[node])
        while todo:
            nxt = todo.pop()
            if nxt not in reach[node] and nxt in graph:
                reach[node].add(nxt)
                todo += graph[nxt]
    groups = {frozenset({n} | {m for m in reach[n] if n in reach[m]}) for n in graph}
    return sorted(sorted(g) for g in groups if len(g) > 1)


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


#: runs/'s subpackages, each importing only those before it ("(top)": modules of runs/ itself).
RUNS_ORDER = ("artifacts", "trained", "train", "reports", "loggers", "(top)", "campaigns")


def runs_part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "runs" or len(parts) < 2:
        return None
    return parts[1] if len(parts) > 2 else "(top)"


def test_runs_subpackages_import_one_way() -> None:
    wrong = []
    for module, targets in import_graph().items():
        mine = runs_part(module)
        if mine is None:
            continue
        for target in targets:
            theirs = runs_part(target)
            if theirs is not None and RUNS_ORDER.index(theirs) > RUNS_ORDER.index(mine):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_cycle_finder_can_fail() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    found = import_graph()
    assert "runs.train.plan" in found["runs.train.run"] and "data" in found["runs.train.plan"]
    assert runs_part("runs.training") == "(top)" and runs_part("runs.train.run") == "train"


def test_the_wheel_lists_every_package_and_ships_the_data_sets() -> None:
    """pyproject.toml names the packages one by one (the shipped data sets join them as
    backprop_cli.datasets); a subpackage left off would be missing from `pip install .`."""
    import tomllib

    setup = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        for init in PACKAGE.rglob("__init__.py")
    }
    assert set(setup["packages"]) == found | {"backprop_cli.datasets"}
    assert setup["package-dir"] == {"backprop_cli.datasets": "datasets"}
    from backprop_cli.data.files import SHIPPED, SHIPPED_TABLES

    shipped = set(SHIPPED.values()) | {name for name, _ in SHIPPED_TABLES.values()}
    patterns = setup["package-data"]["backprop_cli.datasets"]
    folder = PACKAGE.parent / "datasets"
    assert shipped <= {p.name for pattern in patterns for p in folder.glob(pattern)}
