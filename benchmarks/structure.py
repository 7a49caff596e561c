"""The package's shape, measured: how much of bprop runs before the work a command is for, and
how many places spell the same concept.

- calls: the distinct bprop functions run by ``bprop train configs/digits.yaml`` before the
  first ``forward_backward``, and by ``bprop predict RUN FILE`` before ``Network.predict``;
- modules: the bprop modules ``bprop predict`` imports, and its wall time on a 10-row file
  (median of 7 runs, each in a fresh process);
- spellings: the modules whose string constants name a run directory's files or a checkpoint's
  keys;
- cycles: import cycles between bprop modules, imports for annotations only and imports inside
  functions counted;
- the largest folder of the package, in lines.

Run: ``python benchmarks/structure.py`` (``--json`` for the figures alone).
"""

from __future__ import annotations

import ast
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "backprop_cli"

#: Counts the distinct bprop functions called before the first call of ``stop`` (a function
#: name), then runs the command to its end. Prints the count and the bprop modules imported.
TRACE = """
import sys, json
from backprop_cli.cli.app import app
seen, done = set(), []
def profile(frame, event, arg):
    if event != "call" or done:
        return
    code = frame.f_code
    if code.co_name == STOP[1] and code.co_filename.endswith(STOP[0]):
        done.append(len(seen))
        sys.setprofile(None)
        return
    if "/backprop_cli/" in code.co_filename:
        seen.add((code.co_filename, code.co_firstlineno, code.co_name))
STOP = sys.argv[1].split(":")
sys.setprofile(profile)
try:
    app(sys.argv[2:])
except SystemExit as exc:
    assert not exc.code, exc.code
sys.setprofile(None)
modules = sorted(m for m in sys.modules if m.startswith("backprop_cli"))
print(json.dumps({"calls": done[0] if done else None, "modules": len(modules)}))
"""

#: Names of a run directory's files and of checkpoint keys, as string constants spell them.
SPELLINGS = re.compile(
    r"^(checkpoints|(initial|best|last)\.npz|epoch-.*|config\.yaml|steps\.csv|history\.(csv|json)"
    r"|metrics\.json|(loss|boundary|fit)\.png|boundary\.gif|sweep\.(csv|json)|best\.yaml"
    r"|cv\.(csv|json|png)|comparison\.(csv|json)|(loss|accuracy)_curves\.png|lr_find\.(csv|png)"
    r"|fold-.*|\.bprop-sweep|sweep\.png"
    r"|preprocess\.\w+|data\.(shape|digest|columns|encoding)|loss\.class_weights|params_epoch"
    r"|rng_state|noise_rng_state|monitor_state|schedule_state|optimizer\.|layers\.|resume\.)$"
)


def traced(stop: str, *args: str, cwd: Path) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", TRACE, stop, *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def predict_seconds(run: Path, data: Path, cwd: Path, times: int = 7) -> float:
    command = [sys.executable, "-m", "backprop_cli", "predict", str(run), str(data)]
    found = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True, check=True)
        found.append(time.perf_counter() - started)
    return statistics.median(found)


def spelling_modules() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
        texts += [
            "".join(str(v.value) for v in n.values if isinstance(v, ast.Constant))
            for n in ast.walk(tree)
            if isinstance(n, ast.JoinedStr)
        ]
        if any(isinstance(t, str) and SPELLINGS.match(t) for t in texts):
            found.append(str(path.relative_to(PACKAGE)))
    return found


def imports_of(path: Path) -> set[str]:
    """Every bprop module ``path`` imports, wherever the import stands."""
    here = path.relative_to(ROOT).with_suffix("").parts
    package = list(here if path.name == "__init__.py" else here[:-1])
    if package[-1] == "__init__":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if not module.startswith("backprop_cli"):
                continue
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if _module_path(candidate) else module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("backprop_cli")}
    return {m for m in found if _module_path(m)}


def _module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def cycles() -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = {m for m in imports_of(path) if m != name}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def largest_folder() -> tuple[str, int]:
    sizes = {}
    for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir())]:
        if folder.name == "__pycache__":
            continue
        lines = sum(len(f.read_text(encoding="utf-8").splitlines()) for f in folder.glob("*.py"))
        sizes[str(folder.relative_to(ROOT))] = lines
    return max(sizes.items(), key=lambda item: item[1])


def measure() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train = traced(
            "core/training.py:forward_backward", "train", str(ROOT / "configs" / "digits.yaml"),
            "--out", str(work / "digits"), "--quiet", "--set", "training.epochs=1", cwd=work,
        )  # fmt: skip
        rows = "\n".join(",".join(["0"] * 64) for _ in range(10))
        data = work / "small.csv"
        data.write_text(",".join(f"pixel_{i}" for i in range(64)) + "\n" + rows + "\n")
        predict = traced(
            "core/network.py:predict", "predict", str(work / "digits"), str(data),
            "--out", str(work / "p.csv"), cwd=work,
        )  # fmt: skip
        seconds = predict_seconds(work / "digits", data, work)
    spelled = spelling_modules()
    folder, lines = largest_folder()
    found = cycles()
    return {
        "train: bprop functions before the first forward_backward": train["calls"],
        "predict: bprop functions before Network.predict": predict["calls"],
        "predict: bprop modules imported": predict["modules"],
        "predict: wall seconds on 10 rows (median of 7)": round(seconds, 3),
        "modules spelling run file names or checkpoint keys": len(spelled),
        "those modules": spelled,
        "import cycles (type-only and function-level imports counted)": len(found),
        "the cycles": found,
        "largest folder": f"{folder} ({lines} lines)",
    }


if __name__ == "__main__":
    figures = measure()
    if "--json" in sys.argv:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
