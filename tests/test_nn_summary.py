"""nn.summary: the layers, output shapes, parameter counts and gradient norms of a model."""

import numpy as np
import pytest

import nn
from autograd import Tensor


class Block(nn.Module):
    def __init__(self):
        self.lin = nn.Linear(4, 4, seed=2)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.lin(x))


class TwoHeads(nn.Module):
    def __init__(self):
        self.body = nn.Linear(3, 4, seed=0)
        self.a = nn.Linear(4, 2, seed=1)
        self.b = nn.Linear(4, 1, seed=2)
        self.unused = nn.Linear(2, 2, seed=3)

    def forward(self, x):
        h = self.body(x)
        return self.a(h), self.b(h)


def model():
    m = nn.Sequential(nn.Linear(3, 4, seed=0), Block(), nn.BatchNorm1d(4),
                      nn.Linear(4, 2, seed=1))
    m[2].weight.requires_grad = False  # frozen: counted, not trainable
    return m


# ----- nn.summary -----
def test_summary_rows_shapes_and_parameter_counts():
    s = nn.summary(model(), np.ones((5, 3)))
    assert [(r.name, r.type, r.depth, r.output_shape, r.params, r.trainable) for r in s.rows] \
        == [("", "Sequential", 0, (5, 2), 54, 50),
            ("0", "Linear", 1, (5, 4), 3 * 4 + 4, 16),
            ("1", "Block", 1, (5, 4), 20, 20),
            ("1.lin", "Linear", 2, (5, 4), 4 * 4 + 4, 20),
            ("1.act", "Tanh", 2, (5, 4), 0, 0),
            ("2", "BatchNorm1d", 1, (5, 4), 8, 4),
            ("3", "Linear", 1, (5, 2), 4 * 2 + 2, 10)]
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (54, 50, 4)
    assert all(r.grad_norm is None for r in s.rows)  # no backward yet


def test_summary_prints_a_table():
    text = str(nn.summary(model(), np.ones((5, 3))))
    assert text.splitlines() == [
        "Layer (type)        Output shape  Params  Trainable  Grad norm",
        "==============================================================",
        "Sequential          (5, 2)            54         50          -",
        "  0 (Linear)        (5, 4)            16         16          -",
        "  1 (Block)         (5, 4)            20         20          -",
        "    1.lin (Linear)  (5, 4)            20         20          -",
        "    1.act (Tanh)    (5, 4)             0          0          -",
        "  2 (BatchNorm1d)   (5, 4)             8          4          -",
        "  3 (Linear)        (5, 2)            10         10          -",
        "==============================================================",
        "Total params: 54",
        "Trainable params: 50",
        "Non-trainable params: 4",
    ]
    assert repr(nn.summary(model(), np.ones((5, 3)))) == text


def test_summary_gradient_norms_per_layer_after_a_backward():
    m = model()
    x = np.random.default_rng(0).normal(size=(6, 3))
    m(x).sum().backward()
    s = nn.summary(m, x)
    rows = {r.name: r for r in s.rows}

    def norm(*ps):
        return np.sqrt(sum(np.sum(p.grad ** 2) for p in ps))

    assert rows["0"].grad_norm == pytest.approx(norm(m[0].weight, m[0].bias), rel=1e-12)
    assert rows["1"].grad_norm == rows["1.lin"].grad_norm == \
        pytest.approx(norm(m[1].lin.weight, m[1].lin.bias), rel=1e-12)
    assert rows["1.act"].grad_norm is None
    assert rows["2"].grad_norm == pytest.approx(norm(m[2].bias), rel=1e-12)  # frozen: no grad
    everything = [p for p in m.parameters() if p.grad is not None]
    assert rows[""].grad_norm == pytest.approx(norm(*everything), rel=1e-12)
    assert "Grad norm" in str(s) and f"{rows['0'].grad_norm:.4g}" in str(s)


def test_summary_changes_nothing_in_the_model():
    m = model()
    x = np.random.default_rng(1).normal(size=(6, 3))
    m(x).sum().backward()  # training mode: the running statistics moved once
    state = {k: v.copy() for k, v in m.state_dict().items()}
    grads = [p.grad.copy() for p in m.parameters() if p.grad is not None]
    m[1].eval()
    nn.summary(m, x)
    assert all(np.array_equal(state[k], v) for k, v in m.state_dict().items())
    assert all(np.array_equal(g, p.grad) for g, p in
               zip(grads, [p for p in m.parameters() if p.grad is not None]))
    assert m.training and m[0].training and not m[1].training and not m[1].lin.training
    assert all("forward" not in vars(sub) for sub in m.modules())
    out = m(Tensor(x))  # and the model still runs and records
    assert out.requires_grad


def test_summary_of_several_outputs_an_unused_layer_and_a_depth_limit():
    s = nn.summary(TwoHeads(), np.ones((2, 3)))
    rows = {r.name: r for r in s.rows}
    assert rows[""].output_shape == [(2, 2), (2, 1)]
    assert rows["unused"].output_shape is None and rows["unused"].params == 6
    assert "(2, 2), (2, 1)" in str(s)
    assert [r.name for r in nn.summary(model(), np.ones((5, 3)), depth=1).rows] == \
        ["", "0", "1", "2", "3"]


def test_summary_rejects_bad_arguments_and_restores_the_model_when_forward_fails():
    with pytest.raises(TypeError, match="summary: model must be an nn.Module, not list"):
        nn.summary([nn.Linear(2, 2)], np.ones((1, 2)))
    with pytest.raises(ValueError, match="summary: depth must be a non-negative int"):
        nn.summary(model(), np.ones((5, 3)), depth=-1)
    m = model()
    with pytest.raises(ValueError, match=r"\(5, 2\)"):  # the wrong input width
        nn.summary(m, np.ones((5, 2)))
    assert all("forward" not in vars(sub) and "training" not in vars(sub)
               for sub in m.modules())
