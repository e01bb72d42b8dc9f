"""fgbg_depth.training on a generated dataset, and the README's training example."""

import re

import numpy as np
import pytest

from conftest import ROOT
from fgbg_depth import load_stats
from fgbg_depth.training import as_tf_dataset, normalized


def test_normalized_train_split_has_zero_mean_unit_std(sample_out):
    from datasets import load_dataset
    train = load_dataset(str(sample_out), split="train")
    norm = normalized(train, load_stats(str(sample_out)))
    inputs = np.stack(norm["inputs"])
    assert inputs.shape == (len(train), 6, 64, 64) and inputs.dtype == np.float32
    flat = inputs.transpose(1, 0, 2, 3).reshape(6, -1).astype(np.float64)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-2)
    np.testing.assert_allclose(flat.std(1), 1, atol=1e-2)
    targets = np.stack(norm["targets"][:20])
    assert targets.shape == (20, 2, 64, 64)
    assert set(np.unique(targets[:, 0])) <= {0.0, 1.0}
    assert 0.1 <= targets[:, 1].min() and targets[:, 1].max() <= 10.0


def test_normalized_streaming_matches(sample_out):
    from datasets import load_dataset
    stats = load_stats(str(sample_out))
    eager = normalized(load_dataset(str(sample_out), split="train"), stats)
    stream = normalized(load_dataset(str(sample_out), split="train", streaming=True), stats)
    row = next(iter(stream))
    np.testing.assert_array_equal(np.asarray(row["inputs"]), eager[0]["inputs"])
    np.testing.assert_array_equal(np.asarray(row["targets"]), eager[0]["targets"])


def test_as_tf_dataset_shapes(sample_out):
    pytest.importorskip("tensorflow")
    from datasets import load_dataset
    stream = load_dataset(str(sample_out), split="train", streaming=True)
    tfds = as_tf_dataset(stream, batch_size=8, stats=load_stats(str(sample_out)))
    inputs, targets = next(iter(tfds))
    assert tuple(inputs.shape) == (8, 6, 64, 64) and inputs.dtype.name == "float32"
    assert tuple(targets.shape) == (8, 2, 64, 64) and targets.dtype.name == "float32"
    assert tfds.element_spec[0].shape.as_list() == [None, 6, 64, 64]


def readme_training_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- training-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README has no training example block"
    return match.group(1)


@pytest.mark.slow
def test_readme_training_example_runs(sample_out, monkeypatch):
    """The README's PyTorch loop, run as written on a generated dataset."""
    pytest.importorskip("torch")
    code = readme_training_example().replace('"user/fgbg-depth"', repr(str(sample_out)))
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["inputs"].shape == (16, 6, 64, 64)
    assert scope["steps"] == 3
