"""The runner of `make docs-test` (tests/readme.py) on small documents of its own: it must
fail a block whose command fails or prints other lines, and carry a terminal's state."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sybil.document import Document

from readme import README

Run = Callable[[str], list[str | None]]


@pytest.fixture
def run(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A function running a document as make docs-test runs README.md, then closing it: each
    block's outcome (None: passed; else the failure)."""
    return lambda text: evaluated(tmp_path, tmp_path_factory, text)


def evaluated(tmp_path: Path, factory: pytest.TempPathFactory, text: str) -> list[str | None]:
    path = tmp_path / "README.md"
    path.write_text(text)
    document: Document = README.parse(path)
    document.namespace["tmp_path_factory"] = factory
    outcomes: list[str | None] = []
    try:
        for example in document.examples():
            if not isinstance(example.parsed, str):  # a directive, not a block
                example.evaluate()
                continue
            try:
                example.evaluate()
                outcomes.append(None)
            except Exception as exc:  # Sybil raises its failure, with the evaluator's message
                outcomes.append(str(exc))
    finally:
        assert README.teardown is not None
        README.teardown(document.namespace)
    return outcomes


def test_shown_output_and_exit_status_are_checked(run: Run) -> None:
    outcomes = run(
        """
```console
$ printf 'one\\ntwo 0.5\\n'
one
two 0.5
```

```console
$ printf 'one\\ntwo 0.5\\n'
one
two 0.6
```

<!-- output: tolerance 0.2 -->
```console
$ printf 'one\\ntwo 0.5\\n'
one
two 0.6
```

```console
true
false
```

```console
$ ls not-a-file
```
""",
    )
    assert outcomes[0] is None and outcomes[2] is None  # 0.6 within 0.2 of 0.5
    assert outcomes[1] is not None and "printed other lines" in outcomes[1]
    assert outcomes[3] is not None and "$ false\nexited with 1" in outcomes[3]
    assert outcomes[4] is not None and "exited with 2" in outcomes[4]


def test_the_session_is_a_terminal_in_a_fresh_copy_of_the_project(run: Run) -> None:
    outcomes = run(
        """
```console
$ ls pyproject.toml configs/spirals.yaml
configs/spirals.yaml
pyproject.toml
$ ls .venv
```

```console
mkdir sub && cd sub
export GREETING=hello
```

```console
$ basename "$PWD"; echo "$GREETING $COLUMNS"
sub
hello 100
$ command -v bprop || echo none
none
```

```python
import os
from pathlib import Path

assert Path.cwd().name == "sub" and Path("../pyproject.toml").is_file()
```
""",
    )
    assert outcomes[0] is not None and "$ ls .venv\nexited with 2" in outcomes[0]  # no venv
    assert outcomes[1:] == [None, None, None]


def test_what_a_block_leaves_running_is_stopped_at_the_end(run: Run, tmp_path: Path) -> None:
    """A background job (a Dask scheduler) does not outlive the document, nor hold it up."""
    pid_file = tmp_path / "pid"
    outcomes = run(
        f"""
```console
sleep 600 > /dev/null 2>&1 & echo $! > {pid_file}
```
""",
    )
    assert outcomes == [None]
    pid = int(pid_file.read_text())
    for _ in range(200):  # the kill is sent; wait for the kernel to reap it (bounded)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            break  # killed, not yet reaped by its parent
        time.sleep(0.05)
    else:
        pytest.fail(f"the background job {pid} is still running")


def test_a_yaml_block_parses_and_a_whole_experiment_validates(run: Run) -> None:
    outcomes = run(
        """
```yaml
compare: {target_loss: 0.2}
```

```yaml
name: broken
model: {layers: [{units: 3, activation: softmax}]}
loss: cross_entropy
optimizer: {type: adam, lr: -1}
```

```yaml
a: [unclosed
```
""",
    )
    assert outcomes[0] is None
    assert outcomes[1] is not None and "optimizer.lr" in outcomes[1]
    assert outcomes[2] is not None
