"""nn/interop.py with every layer of issue 15: a PyTorch model's state dict (buffers included)
into ours and back (tests/fixtures/make_nn_layers.py wrote it, and checked there that a fresh
torch model loaded from the same numpy arrays gives the same outputs)."""

from pathlib import Path

import numpy as np
import pytest

import nn

FIX = np.load(Path(__file__).parent / "fixtures" / "nn_layers.npz")
KEYS = list(FIX["model/keys"])


def model(dtype=np.float64):
    return nn.Sequential(
        nn.Embedding(7, 4, padding_idx=0, dtype=dtype), nn.Flatten(),
        nn.Linear(8, 6, dtype=dtype), nn.LayerNorm(6, dtype=dtype), nn.GELU(),
        nn.Linear(6, 5, dtype=dtype), nn.BatchNorm1d(5, dtype=dtype), nn.LeakyReLU(0.1),
        nn.Identity(), nn.Linear(5, 3, dtype=dtype), nn.LogSoftmax(dim=1))


def test_a_torch_state_dict_loads_and_gives_torchs_outputs_in_eval_and_training():
    m = model()
    assert list(m.state_dict()) == KEYS  # the same names, in the same order
    nn.from_torch_state_dict(m, {k: FIX[f"model/state/{k}"] for k in KEYS})
    m.eval()
    np.testing.assert_allclose(m(FIX["model/idx"]).data, FIX["model/eval"], rtol=1e-12,
                               atol=1e-14)
    m.train()  # batch statistics; the running ones and the counter move as torch's did
    np.testing.assert_allclose(m(FIX["model/idx"]).data, FIX["model/train"], rtol=1e-12,
                               atol=1e-14)
    after = nn.to_torch_state_dict(m)
    for k in KEYS:
        np.testing.assert_allclose(after[k], FIX[f"model/after/{k}"], rtol=1e-12, err_msg=k)


def test_to_torch_state_dict_gives_back_exactly_what_was_loaded():
    m = model()
    state = {k: FIX[f"model/state/{k}"] for k in KEYS}
    nn.from_torch_state_dict(m, state)
    back = nn.to_torch_state_dict(m)
    assert list(back) == KEYS
    for k in KEYS:
        assert back[k].dtype == state[k].dtype and back[k].shape == state[k].shape, k
        assert back[k].flags.c_contiguous, k
        np.testing.assert_array_equal(back[k], state[k], err_msg=k)
    assert back["6.num_batches_tracked"].dtype == np.int64
    assert back["6.num_batches_tracked"].shape == () and back["6.num_batches_tracked"] == 2
    assert back["2.weight"].shape == (6, 8)  # PyTorch's (out, in)


def test_a_float64_torch_state_dict_loads_into_a_float32_model():
    m = model(np.float32)
    nn.from_torch_state_dict(m, {k: FIX[f"model/state/{k}"] for k in KEYS})
    assert m[6].running_mean.dtype == np.float32 and m[6].num_batches_tracked.dtype == np.int64
    m.eval()
    np.testing.assert_allclose(m(FIX["model/idx"]).data, FIX["model/eval"], rtol=1e-5)


def test_a_missing_buffer_is_refused_and_nothing_changes():
    m = model()
    before = m.state_dict()
    state = {k: FIX[f"model/state/{k}"] for k in KEYS if k != "6.running_var"}
    with pytest.raises(ValueError, match=r"missing names \['6.running_var'\]"):
        nn.from_torch_state_dict(m, state)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
