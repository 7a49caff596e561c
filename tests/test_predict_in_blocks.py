"""`bprop predict` reads, computes and writes a block of rows at a time: whatever the block size,
the output is the same, and a failure part-way leaves no output and an existing file as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backprop_cli.errors import DataError
from backprop_cli.runs.trained.model import Model, load_model
from backprop_cli.runs.trained.model_files import input_blocks
from backprop_cli.runs.trained.predictions import prediction_text, write_predictions

from helpers import CONFIG_DIR, cli

PENGUINS = Path(__file__).resolve().parents[1] / "datasets" / "penguins.csv"


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of a table with text columns and missing cells (filled by the median), in
    float64: BLAS may sum a float32 block in another order depending on how many rows it holds,
    which would move the last digit of a probability; float64 leaves the reading, encoding and
    writing in blocks as the only thing that could change the output."""
    run = tmp_path_factory.mktemp("penguins") / "run"
    result = cli(["train", str(CONFIG_DIR / "penguins.yaml"), "--out", str(run), "--quiet",
                  "--set", "training.epochs=3", "--set", "dtype=float64"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return run


def text(model: Model, path: Path, rows: int) -> str:
    return "".join(piece for piece, _ in prediction_text(model, path, proba=True, rows=rows))


def test_the_output_is_the_same_whatever_the_block_size(penguins: Path, tmp_path: Path) -> None:
    model = load_model(penguins)
    whole = text(model, PENGUINS, rows=1000)  # 344 rows: one block
    assert whole.count("\n") == 345 and whole.startswith("prediction,p_Adelie,")
    for rows in (1, 7, 50):
        assert text(model, PENGUINS, rows) == whole, rows
    printed = cli(["predict", str(penguins), str(PENGUINS), "--proba"])
    assert printed.exit_code == 0 and printed.output == whole
    # an .npz of the encoded columns, cut into blocks the same way
    X = np.concatenate(list(input_blocks(model, PENGUINS, rows=1000)))
    np.savez(tmp_path / "x.npz", X=X)
    assert text(model, tmp_path / "x.npz", rows=7) == whole


def test_a_failure_part_way_leaves_no_output_and_the_old_file(
    penguins: Path, tmp_path: Path
) -> None:
    model = load_model(penguins)
    lines = PENGUINS.read_text().splitlines()
    lines[101] = lines[101].replace(",Biscoe,", ",Atlantis,").replace(",Dream,", ",Atlantis,")
    assert ",Atlantis," in lines[101]  # data row 101 is file row 102
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    blocks = input_blocks(model, bad, rows=7)
    assert len(next(blocks)) == 7  # the first blocks are read before the bad row is
    out = tmp_path / "predictions.csv"
    with pytest.raises(DataError, match="row 102, column 'island': 'Atlantis' is a category"):
        write_predictions(model, bad, out, proba=True, rows=7)
    assert not out.exists()
    out.write_text("earlier predictions\n")
    with pytest.raises(DataError, match="row 102"):
        write_predictions(model, bad, out, proba=True, exclusive=False, rows=7)
    assert out.read_text() == "earlier predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "predictions.csv"]
    result = cli(["predict", str(penguins), str(bad), "--out", str(out), "--overwrite"])
    assert result.exit_code == 2 and "row 102" in result.output
    assert out.read_text() == "earlier predictions\n"
