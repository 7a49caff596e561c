"""README.md as a test: `make docs-test` runs ``pytest -p readme README.md``.

Sybil reads the Markdown and hands each block, in order, to the evaluators of this module:

- ``console`` blocks run in one bash session that lasts the whole document, in a fresh copy of
  the project (its files as git knows them: tracked, or untracked and not ignored), so ``cd``,
  ``export`` and ``source .venv/bin/activate`` carry over from one block to the next as in a
  terminal. A line starting with ``$ `` is a command and the lines under it, up to the next
  ``$ ``, are its output, checked by the rules of ``readme_output``; in a block without ``$ ``
  lines every line is a command (a trailing backslash continues it) and only its exit status is
  checked. Every command must exit 0.
- ``python`` blocks run in one namespace of their own, in the session's current folder.
- ``yaml`` blocks must parse (``yaml.safe_load``), and one that is a whole experiment (a
  ``name`` and a ``model``) must pass the config's validation.
- ``<!-- output: tolerance T -->`` before a block lets the numbers of its output differ by T
  (see ``readme_output``); ``<!-- skip: next "why" -->`` marks a block that cannot run here,
  and an ``<!-- invisible-code-block: console ... -->`` after it runs its local equivalent.

The session starts from this process's environment without the variables that change what
bprop prints (as the suite's conftest scrubs them), without any virtual environment on its
PATH (so ``bprop`` is found only where the README puts it), with ``COLUMNS=100`` (the README
shows a 100-column terminal's output), a cache folder of its own, and ``PIP_CONSTRAINT`` set to
the copy's ``constraints.txt``, so what its ``pip install`` lines install is what CI tests.
Whatever a command leaves running (a Dask scheduler) is stopped at the end of the document.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml
from sybil import Example, Region, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser, SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer

from readme_output import output_matches
from scrubbed import SCRUBBED

ROOT = Path(__file__).resolve().parents[1]
#: What the suite scrubs, and what points at a virtual environment or another bprop's files.
SCRUBBED_HERE = (*SCRUBBED, "BPROP_NO_CACHE", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
#: The longest a command of the README may take (make train installs bprop first).
COMMAND_SECONDS = 1200
#: What a command's shell leaves for the next one: its environment and its folder.
WRAPPER = '. "$0"; status=$?; env -0 > "$1"; pwd -P > "$2"; exit $status'
FORGET = {"PWD", "OLDPWD", "SHLVL", "_"}


class Session:
    """A terminal in a fresh copy of the project: one bash per command, its state carried on."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.cwd = base / "bprop"
        copy_project(self.cwd)
        (base / "cache").mkdir()
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_HERE}
        paths = env.get("PATH", "").split(os.pathsep)
        env["PATH"] = os.pathsep.join(
            p for p in paths if not (Path(p).parent / "pyvenv.cfg").exists()
        )
        env |= {"COLUMNS": "100", "BPROP_CACHE_DIR": str(base / "cache")}
        env["PIP_CONSTRAINT"] = str(self.cwd / "constraints.txt")  # what pip installs is locked
        self.env = env
        self.groups: list[int] = []

    def run(self, command: str) -> tuple[int, str]:
        """Run one command as typed at the prompt: (exit status, what it printed)."""
        state = self.base / "state"
        state.mkdir(exist_ok=True)
        script, env_file, cwd_file, out_file = (state / n for n in ("cmd", "env", "cwd", "out"))
        script.write_text(command + "\n")
        env_file.unlink(missing_ok=True)
        with out_file.open("wb") as out:  # a file, not a pipe: a background job may keep it open
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-c", WRAPPER, script, env_file, cwd_file],
                cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self.groups.append(process.pid)
            try:
                status = process.wait(timeout=COMMAND_SECONDS)
            except subprocess.TimeoutExpired:
                stop_group(process.pid)
                status = process.wait()
        if env_file.exists():
            pairs = (item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
            self.env = {k: v for k, v in pairs if k not in FORGET and not k.startswith("BASH_FUNC")}
            self.cwd = Path(cwd_file.read_text().strip())
        return status, out_file.read_text(errors="replace")

    def close(self) -> None:
        """Stop whatever the commands left running."""
        for group in self.groups:
            stop_group(group)


def stop_group(group: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def copy_project(to: Path) -> None:
    """The project's files as a fresh clone of this tree would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in sorted(set(filter(None, listed.split("\0")))):
        source = ROOT / name
        if source.is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)


def session(namespace: dict[str, Any]) -> Session:
    if "_session" not in namespace:
        namespace["_session"] = Session(namespace["tmp_path_factory"].mktemp("readme"))
    return namespace["_session"]


def steps(block: str) -> list[tuple[str, list[str] | None]]:
    """(command, shown output or None) for each command of a console block."""
    lines = block.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    found: list[tuple[str, list[str] | None]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if prompted and not line.startswith("$ "):
            assert found, f"output before the first command: {line!r}"
            shown = found[-1][1]
            assert shown is not None
            shown.append(line)
            continue
        command = line[2:] if prompted else line
        while command.endswith("\\") and i < len(lines):
            command = command[:-1] + lines[i].strip()
            i += 1
        if command.strip() and not command.lstrip().startswith("#"):
            found.append((command, [] if prompted else None))
    return found


def run_console(example: Example) -> str | None:
    shell = session(example.namespace)
    tolerance = example.namespace.pop("_tolerance", None)
    for command, shown in steps(example.parsed):
        status, printed = shell.run(command)
        if status != 0:
            return failure(command, f"exited with {status}", printed)
        if shown is not None and not output_matches(shown, printed.splitlines(), tolerance):
            within = "" if tolerance is None else f" (numbers within {tolerance})"
            expected = "\n".join(shown)
            return failure(command, f"printed other lines than the README shows{within}:\n"
                           f"{expected}\n--- printed:", printed)  # fmt: skip
    return None


def failure(command: str, what: str, printed: str) -> str:
    tail = "\n".join(printed.splitlines()[-80:])
    return f"$ {command}\n{what}\n{tail}"


class InSession:
    """Run a Python block in the session's folder, with the session's cache."""

    def __init__(self) -> None:
        self.python = PythonEvaluator()

    def __call__(self, example: Example) -> str | None:
        shell = session(example.namespace)
        previous, cache = Path.cwd(), os.environ.get("BPROP_CACHE_DIR")
        os.chdir(shell.cwd)
        os.environ["BPROP_CACHE_DIR"] = shell.env["BPROP_CACHE_DIR"]
        try:
            return self.python(example)
        finally:
            os.chdir(previous)
            if cache is None:
                os.environ.pop("BPROP_CACHE_DIR", None)
            else:
                os.environ["BPROP_CACHE_DIR"] = cache


def parse_yaml(example: Example) -> str | None:
    """A YAML block parses; one that is a whole experiment (a name and a model) validates."""
    raw = yaml.safe_load(example.parsed)
    if isinstance(raw, dict) and {"name", "model"} <= raw.keys():
        from backprop_cli.config import validate

        validate(raw, f"{example.path} line {example.line}")
    return None


class OutputDirective:
    """``<!-- output: tolerance T -->``: the next block's numbers may differ by T."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer(directive="output", arguments=r".+?")

    def __call__(self, document: Any) -> Any:
        for region in self.lexer(document):
            found = re.fullmatch(r"tolerance\s+(\S+)", region.lexemes["arguments"].strip())
            if found is None:
                raise ValueError(f"output: expected 'tolerance T', got {region.lexemes!r}")
            yield Region(region.start, region.end, float(found[1]), self.evaluate)

    @staticmethod
    def evaluate(example: Example) -> None:
        example.namespace["_tolerance"] = example.parsed


def close(namespace: dict[str, Any]) -> None:
    if "_session" in namespace:
        namespace["_session"].close()


README = Sybil(
    parsers=[
        CodeBlockParser(language="console", evaluator=run_console),
        CodeBlockParser(language="python", evaluator=InSession()),
        CodeBlockParser(language="yaml", evaluator=parse_yaml),
        OutputDirective(),
        SkipParser(),
    ],
    patterns=["README.md"],
    path=str(ROOT),
    fixtures=["tmp_path_factory"],
    teardown=close,
)

pytest_collect_file = README.pytest()
