"""Tensor: semantics, dtype policy, in-place rules, errors, and the seed's training loop."""

import math
import re
import threading
import warnings

import numpy as np
import pytest
from expressions import ATOL_1000, BAD_OPERANDS, BINARY, LOG3, Z, leaf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
import nn
from autograd import Tensor, Value, concatenate, maximum, no_grad, where
from autograd.testing import arrays
from tapegrad.demo import seed_data  # the seed article's data, drawn in its order


# ----- the seed's linear regression, by hand and by autograd ---------------------------------
def test_gradient_of_half_mse_is_the_hand_written_dW_db():
    x, y, W0, b0 = seed_data()
    W, b = leaf(W0), leaf(b0)
    loss = 0.5 * ((Tensor(x) @ W + b - y) ** 2).mean()
    loss.backward()
    y_pred = x @ W0 + b0
    dW = x.T @ (y_pred - y) / x.shape[0]
    db = np.mean(y_pred - y)
    np.testing.assert_allclose(W.grad, dW, rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.grad, [[db]], rtol=1e-12, atol=0)

    W.grad = b.grad = None
    ((Tensor(x) @ W + b - y) ** 2).mean().backward()  # the plain MSE: exactly twice
    np.testing.assert_allclose(W.grad, 2 * dW, rtol=1e-12, atol=0)


def test_1000_epochs_reproduce_the_hand_written_loop():
    x, y, W_hand, b_hand = seed_data()
    W, b = leaf(W_hand), leaf(b_hand)
    for _ in range(1000):
        y_pred = np.dot(x, W_hand) + b_hand
        dW = np.dot(x.T, (y_pred - y)) / x.shape[0]
        db = np.mean(y_pred - y)
        W_hand = W_hand - 0.01 * dW
        b_hand = b_hand - 0.01 * db

        loss = 0.5 * ((Tensor(x) @ W + b - y) ** 2).mean()
        W.grad = b.grad = None
        loss.backward()
        with no_grad():
            W -= 0.01 * W.grad
            b -= 0.01 * b.grad
    np.testing.assert_allclose(W.data, W_hand, rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.data, b_hand, rtol=1e-12, atol=0)


# ----- accumulation, reset, aliasing ---------------------------------------------------------
def test_leaves_accumulate_and_intermediates_reset():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    y = (h * h).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, 18 * np.array([1.0, 2.0]))
    np.testing.assert_array_equal(h.grad, [6.0, 12.0])
    y.backward()
    np.testing.assert_array_equal(x.grad, 36 * np.array([1.0, 2.0]))
    np.testing.assert_array_equal(h.grad, [6.0, 12.0])
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad, 18 * np.array([1.0, 2.0]))


def test_graph_stays_usable_after_backward():
    x = leaf(2.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 8.0


def test_constants_are_not_nodes():
    x = leaf([1.0, 2.0])
    y = x * 2.0 + np.array([1.0, 1.0])
    assert all(not isinstance(a, Tensor) for a in y._args[1:])
    assert type(y._args[0]._args[1]) is float


# ----- grad mode -----------------------------------------------------------------------------
def test_no_grad_context_and_decorator():
    x = leaf([1.0])
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf

    @no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad
    with pytest.raises(RuntimeError, match="no_grad"):
        y.sum().backward()


def test_no_grad_is_thread_local():
    x = leaf([1.0])
    seen = []

    def other():
        seen.append((x * 2).requires_grad)

    with no_grad():
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen == [True]


# ----- dtypes --------------------------------------------------------------------------------
def test_float32_stays_float32():
    x = leaf(np.ones((2, 3)), dtype=np.float32)
    w = leaf(np.ones((3, 2)), dtype=np.float32)
    y = ((x @ w) * 2.5 + 1 - np.float64(3.0)).tanh().exp().log().sigmoid().sum() / 3
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_python_floats_give_float64_and_integers_are_kept():
    assert Tensor(1.5).dtype == np.float64
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor([True]).dtype == np.bool_
    with pytest.raises(TypeError, match="int"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="bool"):
        Tensor([True], requires_grad=True)


def test_astype_is_differentiable():
    x = leaf([1.0, 2.0])
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert not x.astype(np.int64).requires_grad


def test_data_is_copied():
    a = np.ones(3)
    t = Tensor(a)
    a[0] = 5
    assert t.data[0] == 1


# ----- in-place changes ----------------------------------------------------------------------
def test_inplace_change_of_a_saved_value_is_caught_at_backward():
    w = leaf([1.0, 2.0])
    y = (w * w).sum()
    with no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match=r"mul.*version 0 when recorded, now 1"):
        y.backward()


def test_mark_changed_after_a_write_through_data_makes_pending_graphs_refuse():
    w = leaf([1.0, 2.0])
    y = (w * w).sum()
    z = (w + 1.0).sum()  # add's backward reads no input: unaffected
    w.data[0] = 10.0  # no version counter sees a write through .data ...
    w.mark_changed()  # ... until it is marked
    with pytest.raises(RuntimeError, match=r"mul: an input of shape \(2,\) that backward "
                                           r"needs was modified in place.*version 0 when "
                                           r"recorded, now 1"):
        y.backward()
    z.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])
    w.grad = None
    (w * w).sum().backward()  # a graph recorded after the change is fine
    np.testing.assert_array_equal(w.grad, [20.0, 4.0])
    base = leaf([[1.0, 2.0]])
    y = (base * base).sum()
    base[0].mark_changed()  # a view shares its base's version, as for any in-place change
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_augmented_assignment_on_a_result_rebinds():
    x = leaf([1.0, 2.0])
    y = x * 2
    y0 = y
    y += x
    assert y is not y0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_augmented_assignment_outside_the_graph_mutates():
    t = Tensor([1.0, 2.0])
    data = t.data
    t += 1
    assert t.data is data
    np.testing.assert_array_equal(t.data, [2.0, 3.0])


# ----- numpy interplay -----------------------------------------------------------------------
def test_comparisons_are_elementwise_boolean_arrays_and_nodes_hash_by_identity():
    t = Tensor([1.0, 3.0], requires_grad=True)
    np.testing.assert_array_equal(t > 2, [False, True])
    assert (t <= 1).dtype == np.bool_
    for eq in (t == Tensor([1.0, 4.0]), t == [1.0, 4.0], np.array([1.0, 4.0]) == t):
        assert type(eq) is np.ndarray and eq.dtype == np.bool_
        np.testing.assert_array_equal(eq, [True, False])
    np.testing.assert_array_equal(t != 3.0, [True, False])
    pred, y = Tensor([0, 2, 1]), np.array([0, 1, 1])
    assert (pred == y).mean() == pytest.approx(2 / 3)  # the accuracy every tutorial computes
    u = Tensor([1.0, 3.0])  # equal values, another node: a different key
    table = {t: "t", u: "u"}
    assert table[t] == "t" and table[u] == "u" and len({t, u, t}) == 2
    assert t in [t] and t in {t}
    with pytest.raises(TypeError, match="cannot compare Tensor and Value"):
        t == Value(1.0)  # noqa: B015


# ----- ops -----------------------------------------------------------------------------------
def test_matmul_matches_numpy_for_every_rank():
    rng = np.random.default_rng(0)
    for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((5, 2, 3), (3, 4)),
                   ((2, 1, 2, 3), (5, 3, 2))]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b)
        assert ag.gradcheck(lambda x, y: x @ y, a, b)


def test_repeated_indices_accumulate():
    x = leaf([1.0, 2.0, 3.0])
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0])


def test_ties_split_evenly():
    x = leaf([1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])
    a, b = leaf([1.0, 2.0]), leaf([1.0, 1.0])
    ag.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


def test_relu_and_abs_at_zero():
    x = leaf([0.0, 0.0])
    (x.relu() + abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_composites():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4))
    t = Tensor(a)
    np.testing.assert_allclose(t.mean(1).data, a.mean(1))
    np.testing.assert_allclose(t.var(0, ddof=1).data, a.var(0, ddof=1))
    np.testing.assert_allclose(t.std().data, a.std())
    np.testing.assert_allclose(t.clip(-0.5, 0.5).data, a.clip(-0.5, 0.5))
    np.testing.assert_allclose(t.T.data, a.T)
    assert t.reshape(2, 6).shape == (2, 6) and t.flatten().shape == (12,)
    assert t.expand_dims(0).shape == (1, 3, 4) and t.expand_dims(0).squeeze().shape == (3, 4)
    np.testing.assert_allclose(ag.concatenate([t, t], axis=1).data, np.concatenate([a, a], 1))
    np.testing.assert_allclose(ag.stack([t, t], axis=-1).data, np.stack([a, a], -1))
    np.testing.assert_allclose(ag.where(a > 0, t, 0.0).data, np.where(a > 0, a, 0.0))
    for f in (lambda x: x.var(1), lambda x: x.std(0), lambda x: x.softmax(0),
              lambda x: x.clip(-0.5, 0.5), lambda x: x.mean((0, 1))):
        assert ag.gradcheck(f, a)


def test_subtraction_and_mean_are_one_entry_each_hand_computed():
    x, y = leaf([[1.0, 2.0], [3.0, 4.0]]), leaf([0.5, 1.5])
    m = (x - y).mean(axis=0)
    assert m.op == "mean" and m.inputs[0].op == "sub" and m.inputs[0].inputs == (x, y)
    np.testing.assert_array_equal(m.data, [1.5, 1.5])
    m.backward(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [[0.5, 1.0], [0.5, 1.0]])  # g / 2 down each column
    np.testing.assert_array_equal(y.grad, [-1.0, -2.0])  # negated, summed over the broadcast
    r = 10.0 - x  # a constant on the left: still one entry, and only x gets a gradient
    assert r.op == "sub" and r.inputs == (10.0, x)


def test_mean_matches_numpy_to_the_last_bit():
    a = np.random.default_rng(0).standard_normal((7, 13))
    for axis in (None, 0, 1, (0, 1)):
        assert np.array_equal(Tensor(a).mean(axis).data, np.mean(a, axis))


def test_mean_of_float16_beyond_its_range_of_counts_is_numpys():
    """70000 elements: the count itself is inf in float16, so neither the value (numpy sums
    float16 in float32) nor the gradient (times 1/n) may divide by it in float16."""
    a = np.full(70000, 1e-3, np.float16)
    x = leaf(a)
    m = x.mean()
    assert m.dtype == np.float16 and m.item() == np.mean(a)
    m.backward()
    assert x.grad.dtype == np.float16 and np.all(x.grad == np.float16(1 / 70000))


def test_subtracting_a_0d_array_promotes_as_numpy_does():
    t = Tensor(np.ones(2, np.float32))
    c = np.array(3.5)  # a 0-d float array is not a weak scalar in numpy 2
    assert (t - c).dtype == (t.data - c).dtype == (t + c).dtype == np.float64
    assert (t - 3.5).dtype == np.float32 and (t - np.float64(3.5)).dtype == np.float32
    assert (t - np.array(3)).dtype == np.float32  # an integer never widens a float tensor


INT_DTYPES = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("ft", [np.float16, np.float32, np.float64])
def test_integers_never_widen_a_float_tensor(dtype, ft):
    x = leaf(np.array([[1.0, 2.0], [3.0, 4.0]]), dtype=ft)
    i = np.array([[1, 0], [1, 1]]).astype(dtype)
    results = {
        "mul by an int Tensor": x * Tensor(i), "int Tensor * x": Tensor(i) * x,
        "mul by an int array": x * i, "int array - x": i - x, "x / int array": x / (i + 1),
        "x ** int array": x ** i, "x @ int array": x @ i, "int array @ x": i @ x,
        "maximum": ag.maximum(x, i), "where": ag.where(i > 0, x, i),
        "concatenate": ag.concatenate([x, i]), "stack": ag.stack([i, x]),
        "linear": nn_linear_of(Tensor(i), x),
        "0-d int array": x + np.array(2, dtype),
    }
    for what, r in results.items():
        assert r.dtype == ft, what
    total = sum(r.sum() for r in results.values())
    total.backward()
    assert x.grad.dtype == ft


def nn_linear_of(i, x):
    return ag.engine.apply(ag.ops.LINEAR, i, x, Tensor(np.zeros(2, x.dtype)))


def test_floats_still_promote_as_numpy_does():
    x = leaf(np.ones(2, np.float32))
    assert (x * np.ones(2)).dtype == np.float64
    assert (x * Tensor(np.ones(2, np.float16))).dtype == np.float32
    assert (x + 1).dtype == np.float32 and (x * 2.5).dtype == np.float32
    b = Tensor(np.array([True, False]))
    assert (b + np.array([1, 2], np.int8)).dtype == np.int8  # no float: numpy's rules


# ----- linear and cross_entropy: the fused primitives, public -------------------------------
def test_linear_is_one_fused_node_hand_computed():
    x = leaf([[1.0, 2.0]])
    w = leaf([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # (in, out): the transpose of PyTorch's
    b = leaf([0.5, -0.5, 0.0])
    y = ag.linear(x, w, b)
    assert y.op == "linear" and y.inputs == (x, w, b)
    np.testing.assert_array_equal(y.data, [[1.5, 1.5, 3.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0]])
    np.testing.assert_array_equal(w.grad, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])
    no_bias = ag.linear(x, w)
    assert no_bias.op == "matmul" and no_bias.inputs == (x, w)
    np.testing.assert_array_equal(no_bias.data, [[1.0, 2.0, 3.0]])
    assert isinstance(ag.linear(np.ones((1, 2)), np.ones((2, 3))), Tensor)  # arrays too


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.integers(1, 3), st.integers(1, 3), st.booleans(), st.data())
def test_linear_gradients_match_finite_differences(n, k, m, bias, data):
    x = np.asarray(data.draw(arrays((n, k))))
    w = np.asarray(data.draw(arrays((k, m))))
    b = np.asarray(data.draw(arrays((m,))))
    np.testing.assert_allclose(ag.linear(Tensor(x), Tensor(w), Tensor(b)).data, x @ w + b,
                               rtol=1e-12, atol=1e-12)
    if bias:
        assert ag.gradcheck(lambda x, w, b: ag.linear(x, w, b), x, w, b, order=2)
    else:
        assert ag.gradcheck(lambda x, w: ag.linear(x, w), x, w, order=2)


def test_linear_errors_name_the_op_and_the_shapes():
    w = leaf(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^linear: .*\(input shapes \(3, 5\) and \(2, 2\) "
                                         r"and \(2,\)\)$"):
        ag.linear(np.ones((3, 5)), w, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"^matmul: .*\(3, 5\) and \(2, 2\)"):
        ag.linear(np.ones((3, 5)), w)
    with pytest.raises(TypeError, match="Value"):
        ag.linear(Value(1.0), w, Tensor(np.ones(2)))


def test_cross_entropy_is_one_fused_node_hand_computed():
    z = leaf([[0.0, 0.0], [np.log(3.0), 0.0]])
    loss = ag.cross_entropy(z, [0, 1])  # per sample: logsumexp(z[i]) - z[i, label]
    assert loss.op == "cross_entropy" and loss.inputs[0] is z and loss.shape == (2,)
    np.testing.assert_allclose(loss.data, [np.log(2.0), np.log(4.0)], rtol=1e-15)
    loss.sum().backward()  # softmax(z) - onehot(labels)
    np.testing.assert_allclose(z.grad, [[-0.5, 0.5], [0.75, -0.75]], rtol=1e-15)
    big = ag.cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1], dtype=np.uint8))
    np.testing.assert_array_equal(big.data, [2000.0])  # stable, and any integer dtype


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4), st.integers(1, 4), st.data())
def test_cross_entropy_gradients_match_finite_differences(n, c, data):
    z = np.asarray(data.draw(arrays((n, c))))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)),
                      dtype=np.intp)
    expected = np.log(np.exp(z).sum(1)) - z[np.arange(n), labels]
    np.testing.assert_allclose(ag.cross_entropy(z, labels).data, expected, rtol=1e-12,
                               atol=1e-12)
    assert ag.gradcheck(lambda z: ag.cross_entropy(z, labels), z, order=2)


@pytest.mark.parametrize("logits, labels, kind, message", [
    (np.zeros((2, 3)), [0.0, 1.0], TypeError, "labels must be integers, got dtype float64"),
    (np.zeros((2, 3)), [0, 1, 2], ValueError, r"labels of shape \(3,\) do not match logits "
                                               r"of shape \(2, 3\); expected shape \(2,\)"),
    (np.zeros((2, 3)), [0, 3], ValueError, r"label 3 is out of range for 3 classes"),
    (np.zeros((2, 3)), np.array([-1, 0], dtype=np.int8), ValueError, "label -1 is out of range"),
    (np.zeros(3), [0, 1, 2], ValueError, r"logits must have shape \(N, C\), got \(3,\)"),
])
def test_cross_entropy_refuses_bad_logits_and_labels(logits, labels, kind, message):
    with pytest.raises(kind, match="^cross_entropy: " + message):
        ag.cross_entropy(Tensor(logits, requires_grad=True), labels)


def test_cross_entropy_keeps_a_copy_of_the_labels():
    z = leaf([[0.0, 1.0], [2.0, 0.0]])
    labels = np.array([0, 1])
    loss = ag.cross_entropy(z, labels)
    labels[:] = [1, 0]  # the graph keeps the labels as they were
    loss.sum().backward()
    np.testing.assert_allclose(z.grad, z.softmax(1).data - np.eye(2))


# ----- views share their base's version counter (PyTorch's model) ----------------------------
def test_a_step_on_a_weight_seen_through_its_transpose_is_caught():
    import nn

    W = nn.Parameter(np.array([[1.0, 2.0], [3.0, 4.0]]))
    x = leaf(np.array([[1.0, 1.0]]))
    y = (x @ W.T).sum()
    W.grad = np.ones((2, 2))
    nn.SGD([W], lr=1.0).step()
    with pytest.raises(RuntimeError, match="matmul.*modified in place.*version 0.*now 1"):
        y.backward()


def test_a_change_through_a_view_is_a_change_of_its_base():
    x = leaf(np.array([1.0, 2.0, 3.0]))
    y = (x * x).sum()
    with no_grad():
        v = x[:1]
        v += 10.0
    assert x.data[0] == 11.0 and x._version is v._version
    with pytest.raises(RuntimeError, match="mul: .*modified in place"):
        y.backward()


VIEWS = {
    ".T": lambda t: t.T, ".mT": lambda t: t.mT, "transpose": lambda t: t.transpose(1, 0),
    "reshape": lambda t: t.reshape(4), "flatten": lambda t: t.flatten(),
    "squeeze": lambda t: t.reshape(1, 2, 2).squeeze(0), "expand_dims": lambda t: t.expand_dims(0),
    "basic index": lambda t: t[1:], "integer index": lambda t: t[0],
    "iteration": lambda t: next(iter(t)), "view of a view": lambda t: t.T[1:][0],
    "detach": lambda t: t.detach(),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
@pytest.mark.parametrize("through", ["base", "view"])
def test_every_view_shares_its_base_version(name, through):
    for grad_mode in (True, False):
        x = leaf(np.array([[1.0, 2.0], [3.0, 4.0]]))
        with ag.enable_grad() if grad_mode else no_grad():
            v = VIEWS[name](x)
        w = leaf(np.ones(v.shape))
        y = (v * w).sum()  # mul saves v
        z = (x * x).sum()  # mul saves x
        with no_grad():
            if through == "base":
                x[...] = x.data + 1.0
            else:
                v += 1.0
        for out in (y, z):
            with pytest.raises(RuntimeError, match="modified in place"):
                out.backward()


def test_load_state_dict_is_seen_by_views_recorded_before():
    import nn

    model = nn.Linear(2, 2, seed=0)
    x = leaf(np.ones((1, 2)))
    y = (x @ model.weight.T).sum()
    model.load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(2)})
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_a_views_own_output_version_is_recorded():
    x = leaf(np.array([1.0, 2.0]))
    with no_grad():
        x += 1.0  # x's counter is at 1 before the view is taken
    # a custom op whose output is a view of its input (so it shares x's counter, now at 1),
    # and whose rule reads that output (custom rules read everything)
    view = ag.primitive("view", lambda xp, x: x[:], lambda xp, g, out, x: (g * out,))
    y = view(x)
    y.sum().backward()  # no false alarm: nothing changed since it was recorded
    np.testing.assert_allclose(x.grad, [2.0, 3.0])
    with no_grad():
        x += 1.0
    with pytest.raises(RuntimeError, match=r"view: its output .*\(version 1 when recorded, now 2"):
        y.sum().backward()


# ----- what the tape saves is what backward uses ----------------------------------------------
def test_an_index_changed_after_recording_does_not_change_the_gradient():
    for make in (Tensor, np.array):
        x = leaf(np.array([1.0, 2.0, 3.0]))
        idx = make(np.array([0, 0, 1]))
        y = x[idx].sum()
        idx[0] = 2
        y.backward()
        np.testing.assert_array_equal(x.grad, [2.0, 1.0, 0.0])


def test_a_condition_changed_after_recording_does_not_change_the_gradient():
    for make in (Tensor, np.array):
        x = leaf(np.array([1.0, 2.0, 3.0]))
        c = make(np.array([True, False, True]))
        y = ag.where(c, x, 0.0).sum()
        c[0] = False
        y.backward()
        np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])


# ----- errors --------------------------------------------------------------------------------
def test_numpy_view_is_read_only():
    t = Tensor([1.0, 2.0])
    v = t.numpy()
    with pytest.raises(ValueError):
        v[0] = 3


def test_creation_helpers():
    assert ag.zeros((2, 3)).shape == (2, 3) and ag.ones(2).data.sum() == 2
    a, b = ag.randn((3,), seed=1), ag.randn((3,), seed=1)
    np.testing.assert_array_equal(a.data, b.data)
    assert ag.randn(2, dtype=np.float32).dtype == np.float32
    assert ag.zeros(2, requires_grad=True).requires_grad
    assert ag.tensor([1.0]).dtype == np.float64


# ----- errors and edge cases: shapes and types -----------------------------------------------
def test_matmul_of_mismatched_shapes_names_matmul_and_both_shapes():
    with pytest.raises(ValueError) as info:
        leaf(np.ones((2, 3))) @ leaf(np.ones(4))
    assert "matmul" in str(info.value) and "(2, 3) and (4,)" in str(info.value)
    with pytest.raises(ValueError) as info:
        leaf(np.ones((5, 2, 3))) @ np.ones((4, 6))  # a constant on the right, batched left
    assert "matmul" in str(info.value) and "(5, 2, 3) and (4, 6)" in str(info.value)


@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "add"),
    (lambda a, b: a * b, "mul"),
    (lambda a, b: a / b, "div"),
    (lambda a, b: a ** b, "pow"),
    (lambda a, b: maximum(a, b), "maximum"),
])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op, name):
    with pytest.raises(ValueError) as info:
        op(leaf(np.ones((2, 3))), leaf(np.ones(4)))
    assert str(info.value).startswith(name + ":")
    assert "(2, 3) and (4,)" in str(info.value)


def test_concatenate_of_mismatched_shapes_names_concatenate_and_both_shapes():
    with pytest.raises(ValueError) as info:
        concatenate([leaf(np.ones((2, 3))), leaf(np.ones((2, 4)))], axis=0)
    assert "concatenate" in str(info.value) and "(2, 3) and (2, 4)" in str(info.value)
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\) and \(2, 4\)"):
        concatenate([np.ones((2, 3)), Tensor(np.ones((2, 4)))], axis=0)  # an array first


@pytest.mark.parametrize("seed_shape", [(3,), (3, 2), (1, 3), (2, 3, 1), ()])
def test_a_backward_seed_of_the_wrong_shape_is_a_valueerror_naming_both_shapes(seed_shape):
    """Even a broadcastable seed ((1, 3) or (3,) for (2, 3)) is refused: exactly t's shape."""
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(ValueError) as info:
        y.backward(np.ones(seed_shape))
    assert f"{seed_shape}" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("make, dtype", [
    (lambda: Tensor([1, 2], requires_grad=True), "int64"),
    (lambda: Tensor([True, False], requires_grad=True), "bool"),
    (lambda: Tensor(np.arange(3, dtype=np.uint8), requires_grad=True), "uint8"),
    (lambda: Tensor(np.arange(3, dtype=np.int32)).requires_grad_(), "int32"),
    (lambda: ag.zeros(3, dtype=np.int16, requires_grad=True), "int16"),
    (lambda: ag.randn(3, seed=0, dtype=np.int32, requires_grad=True), "int32"),
    (lambda: nn.Parameter([1, 2, 3]), "int64"),
])
def test_integer_or_bool_data_asked_to_require_grad_is_a_typeerror_naming_the_dtype(make, dtype):
    with pytest.raises(TypeError, match=dtype):
        make()


def test_setting_requires_grad_on_an_integer_tensor_leaves_it_unchanged():
    t = Tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True
    assert t.requires_grad is False


@pytest.mark.parametrize("bad, typename", BAD_OPERANDS)
def test_unsupported_operands_on_either_side_of_a_tensor_are_typeerrors_naming_the_type(
        bad, typename):
    for op, name in BINARY + [(lambda a, b: a @ b, "matmul"), (lambda a, b: b @ a, "matmul")]:
        with pytest.raises(TypeError) as info:
            op(leaf([2.0, 3.0]), bad)
        msg = str(info.value)
        assert re.match(rf"({name}):", msg) and typename in msg and "Tensor" in msg, msg


def test_strings_none_and_objects_cannot_become_tensors():
    for bad, fragment in [("abc", "<U3"), (None, "object"), (object(), "object"),
                          (["a", "b"], "<U1"), ([1.0, None], "object"),
                          ([Value(1.0)], "Values cannot go in a Tensor")]:
        with pytest.raises(TypeError, match=re.escape(fragment)):
            Tensor(bad)


def test_an_object_array_operand_is_refused_never_computed_elementwise():
    objs = np.array([1.0, 2.0], dtype=object)
    for op in (lambda: leaf([1.0, 2.0]) + objs, lambda: objs + leaf([1.0, 2.0]),
               lambda: leaf([1.0, 2.0]) * objs, lambda: objs * leaf([1.0, 2.0])):
        with pytest.raises(TypeError, match="dtype object"):
            op()


@pytest.mark.parametrize("call", ["item", "bool"])
def test_item_and_bool_of_several_elements_are_valueerrors_naming_the_size(call):
    t = leaf(np.ones((2, 3)))
    fn = t.item if call == "item" else (lambda: bool(t))
    with pytest.raises(ValueError) as info:
        fn()
    assert call in str(info.value) and "6 elements" in str(info.value)
    assert "size" in str(info.value)
    empty = Tensor(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="0 elements"):
        empty.item() if call == "item" else bool(empty)
    one = Tensor([[3.0]])  # exactly one element: a plain Python number / truth value
    assert (one.item() if call == "item" else bool(one)) == (3.0 if call == "item" else True)


@pytest.mark.parametrize("other", [np.array([1.0, 2.0, 4.0]), np.float64(2.0), np.float32(2.0),
                                   np.int64(2), np.array(2.0)],
                         ids=["array", "float64", "float32", "int64", "0-d array"])
def test_numpy_arrays_and_scalars_on_either_side_of_a_tensor_give_tensors(other, strict_numpy):
    """Never an ndarray, never an object array: __array_ufunc__ = None defers to Tensor."""
    x0 = np.array([1.0, 2.0, 3.0])
    o = np.asarray(other, dtype=np.float64)
    cases = [
        (lambda x: x + other, x0 + o, np.ones(3)), (lambda x: other + x, o + x0, np.ones(3)),
        (lambda x: x - other, x0 - o, np.ones(3)), (lambda x: other - x, o - x0, -np.ones(3)),
        (lambda x: x * other, x0 * o, o + 0 * x0), (lambda x: other * x, o * x0, o + 0 * x0),
        (lambda x: x / other, x0 / o, 1 / o + 0 * x0),
        (lambda x: other / x, o / x0, -o / x0**2),
        (lambda x: x ** other, x0**o, o * x0 ** (o - 1)),
    ]
    for op, value, grad in cases:
        x = leaf(x0)
        out = op(x)
        assert type(out) is Tensor and out.dtype == np.float64, type(out)
        out.sum().backward()
        np.testing.assert_allclose(out.data, value, rtol=1e-15)
        np.testing.assert_allclose(x.grad, grad, rtol=1e-15)
    if np.ndim(other) == 1:
        for out in (leaf(x0) @ other, other @ leaf(x0)):
            assert type(out) is Tensor and out.item() == x0 @ other
        out = np.ones((2, 3)) - leaf(x0)
        assert type(out) is Tensor and out.dtype == np.float64 and out.shape == (2, 3)


def test_a_numpy_float32_scalar_keeps_a_float32_tensor_float32():
    x = leaf(np.ones(3), dtype=np.float32)
    for out in (x * np.float64(2.0), np.float64(2.0) * x, x + np.float32(1.0), np.int64(3) - x):
        assert type(out) is Tensor and out.dtype == np.float32


# ----- errors and edge cases: empty and degenerate data --------------------------------------
E = np.zeros((0, 3))
REDUCTIONS = [
    # (name, call, expected value)
    ("sum", lambda x: x.sum(), np.array(0.0)),
    ("sum axis 0", lambda x: x.sum(axis=0), np.zeros(3)),
    ("sum axis 1", lambda x: x.sum(axis=1), np.zeros(0)),
    ("sum keepdims", lambda x: x.sum(axis=0, keepdims=True), np.zeros((1, 3))),
    ("mean", lambda x: x.mean(), np.array(np.nan)),
    ("mean axis 0", lambda x: x.mean(axis=0), np.full(3, np.nan)),
    ("mean axis 1", lambda x: x.mean(axis=1), np.zeros(0)),
    ("var", lambda x: x.var(), np.array(np.nan)),
    ("var axis 0", lambda x: x.var(axis=0), np.full(3, np.nan)),
    ("var axis 1", lambda x: x.var(axis=1), np.zeros(0)),
    ("std", lambda x: x.std(), np.array(np.nan)),
    ("std axis 0", lambda x: x.std(axis=0), np.full(3, np.nan)),
    ("std axis 1", lambda x: x.std(axis=1), np.zeros(0)),
    ("logsumexp", lambda x: x.logsumexp(), np.zeros(0)),  # axis=-1: one per (empty) row
    ("logsumexp axis 0", lambda x: x.logsumexp(axis=0), np.full(3, -np.inf)),  # log(0)
    ("softmax", lambda x: x.softmax(), np.zeros((0, 3))),
    ("softmax axis 0", lambda x: x.softmax(axis=0), np.zeros((0, 3))),
    ("log_softmax", lambda x: x.log_softmax(), np.zeros((0, 3))),
    ("log_softmax axis 0", lambda x: x.log_softmax(axis=0), np.zeros((0, 3))),
]


@pytest.mark.parametrize("name, call, expected", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_a_zero_length_axis_through_every_reduction_keeps_the_gradient_shape(
        name, call, expected, strict_numpy):
    """Values as numpy defines them (sum 0, mean/var/std nan, logsumexp over nothing -inf),
    silently; the gradient reaches the input with its (0, 3) shape and dtype."""
    for dtype in (np.float64, np.float32):
        x = leaf(E, dtype=dtype)
        y = call(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y.data, expected.astype(dtype))
        y.backward(np.ones(y.shape, dtype=dtype))
        assert x.grad.shape == (0, 3) and x.grad.dtype == dtype


@pytest.mark.parametrize("which", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0])
def test_max_and_min_of_an_empty_tensor_are_valueerrors_mentioning_the_size(which, axis):
    with pytest.raises(ValueError) as info:
        getattr(leaf(E), which)(axis=axis)
    msg = str(info.value)
    assert msg.startswith(which + ":") and "size 0" in msg and "(0, 3)" in msg


@pytest.mark.parametrize("which", ["max", "min"])
@pytest.mark.parametrize("axis", [1, -1])
def test_max_and_min_along_a_nonempty_axis_of_an_empty_tensor_are_empty(which, axis):
    """As in numpy and PyTorch: each of the zero rows has a maximum; there are none."""
    x = leaf(E)
    y = getattr(x, which)(axis=axis)
    assert y.shape == (0,)
    y.backward(np.ones(0))
    assert x.grad.shape == (0, 3)


def test_a_mean_over_zero_elements_is_nan_silently_and_its_gradient_is_empty(strict_numpy):
    x = leaf(np.zeros(0))
    m = x.mean()
    assert math.isnan(m.item())
    m.backward()
    assert x.grad.shape == (0,)
    assert math.isnan(leaf(np.zeros((2, 0))).mean(axis=1).data[1])


@pytest.mark.parametrize("a_shape, b_shape, out", [
    ((0, 3), (3, 2), np.zeros((0, 2))),
    ((2, 0), (0, 4), np.zeros((2, 4))),  # an empty inner axis: a sum over nothing, zeros
    ((0,), (0,), np.array(0.0)),
    ((4, 0, 3), (3, 5), np.zeros((4, 0, 5))),
])
def test_matmul_with_a_zero_length_axis_gives_zeros_and_gradients_of_the_input_shapes(
        a_shape, b_shape, out, strict_numpy):
    a, b = leaf(np.ones(a_shape)), leaf(np.ones(b_shape))
    y = a @ b
    np.testing.assert_array_equal(y.data, out)
    y.backward(np.ones(y.shape))
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    np.testing.assert_array_equal(a.grad, np.zeros(a_shape))  # every case has an empty
    np.testing.assert_array_equal(b.grad, np.zeros(b_shape))  # side: zeros, or empty


# ----- errors and edge cases: graph misuse ---------------------------------------------------
def test_backward_of_a_non_scalar_without_a_seed_says_to_pass_one_or_reduce():
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert "(2, 3)" in msg and "pass a gradient" in msg and "reduce" in msg


def test_backward_of_a_tensor_built_under_no_grad_says_what_to_do():
    x = leaf([1.0, 2.0])
    with no_grad():
        y = (x * 2.0).sum()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert "no_grad" in str(info.value) and "requires_grad=True" in str(info.value)
    assert x.grad is None


def test_backward_of_a_tensor_built_only_from_constants_says_what_to_do():
    y = (Tensor([1.0, 2.0]) * 3.0).sum()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert "does not require grad" in str(info.value)
    assert "requires_grad=True" in str(info.value)


@pytest.mark.parametrize("mutate", [
    lambda x: x.__iadd__(1.0),
    lambda x: x.__imul__(2.0),
    lambda x: x.__setitem__(0, 5.0),
    lambda x: x.__setitem__((slice(None),), np.zeros(3)),
], ids=["+=", "*=", "setitem", "setitem slice"])
def test_an_inplace_change_of_a_saved_input_is_detected_at_backward(mutate):
    x = Tensor([1.0, 2.0, 3.0])  # a constant input that the mul VJP needs for w's gradient
    w = leaf([1.0, 1.0, 1.0])
    y = (x * w).sum()
    mutate(x)
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert msg.startswith("mul:") and "version 0 when recorded, now 1" in msg
    assert w.grad is None


def test_an_inplace_change_of_a_saved_output_is_detected_at_backward():
    x = leaf([0.0, 1.0])
    e = x.exp()  # exp's VJP reads its own output
    with no_grad():
        e += 1.0
    with pytest.raises(RuntimeError) as info:
        e.sum().backward()
    msg = str(info.value)
    assert msg.startswith("exp:") and "version 0 when recorded, now 1" in msg


def test_a_change_through_a_detached_view_is_detected_at_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    d = x.detach()  # shares data and version counter
    assert d.data is x.data and not d.requires_grad
    d[0] = 10.0
    with pytest.raises(RuntimeError, match="mul: .*version 0 when recorded, now 1"):
        y.backward()
    with no_grad():
        d += 1
    with pytest.raises(RuntimeError, match="mul: .*version 0 when recorded, now 2"):
        y.backward()


@pytest.mark.parametrize("mutate, changed", [
    (lambda w: w.__iadd__(1.0), [2.0, 3.0]), (lambda w: w.__isub__(1.0), [0.0, 1.0]),
    (lambda w: w.__imul__(2.0), [2.0, 4.0]), (lambda w: w.__itruediv__(2.0), [0.5, 1.0]),
    (lambda w: w.__setitem__(0, 5.0), [5.0, 2.0]),
], ids=["+=", "-=", "*=", "/=", "setitem"])
def test_an_inplace_change_of_a_leaf_that_requires_grad_in_grad_mode_points_to_no_grad(
        mutate, changed):
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        mutate(w)
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    with no_grad():  # where it belongs (as optimizers do): made in place
        mutate(w)
    np.testing.assert_array_equal(w.data, changed)


def _all_arrays(*tensors):
    return [t.grad for t in tensors if t.grad is not None]


def test_gradients_never_alias_each_other_or_the_seed():
    """Two leaves of one add get separate arrays; a view-like op (reshape, cast to the same
    dtype, getitem of everything, mul by 1) never hands its upstream array on; the seed is
    never written; a later backward never writes into an array the user holds."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    s = a + b
    r = s.reshape(2)
    c = r.astype(np.float64)
    g = c[:]
    y = g * 1.0
    seed = np.array([1.0, 1.0])
    y.backward(seed)
    arrays = _all_arrays(a, b, s, r, c, g, y) + [seed]
    for i, p in enumerate(arrays):
        for q in arrays[i + 1:]:
            assert not np.shares_memory(p, q)
    held = a.grad
    for arr in _all_arrays(a, b, s, r, c, g, y):
        arr += 100.0  # writing into one gradient changes no other, nor the seed
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [101.0, 101.0])
    y.backward(seed)  # accumulation makes a new array: the one the user holds stays put
    np.testing.assert_array_equal(held, [101.0, 101.0])
    np.testing.assert_array_equal(a.grad, [102.0, 102.0])
    assert not np.shares_memory(a.grad, held)


def test_a_leaf_used_twice_gets_one_owned_gradient_and_a_tensor_seed_is_not_written():
    x = leaf([1.0, 2.0])
    y = x + x
    seed = Tensor([1.0, 1.0])
    y.backward(seed)
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    assert not np.shares_memory(x.grad, y.grad) and not np.shares_memory(x.grad, seed.data)
    assert not np.shares_memory(y.grad, seed.data)
    y.grad += 1
    np.testing.assert_array_equal(seed.data, [1.0, 1.0])


# ----- errors and edge cases: numerics -------------------------------------------------------
def test_log_softmax_at_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z)
    y = z.log_softmax()
    np.testing.assert_array_equal(y.data[:2], [[0.0, -2000.0, -1000.0], [-2000.0, -2000.0, 0.0]])
    np.testing.assert_allclose(y.data[2], [-LOG3] * 3, rtol=0, atol=ATOL_1000)
    y.backward(np.ones(Z.shape))  # g - softmax * sum(g) = 1 - 3 softmax
    np.testing.assert_array_equal(z.grad[:2], [[-2.0, 1.0, 1.0], [1.0, 1.0, -2.0]])
    np.testing.assert_allclose(z.grad[2], [0.0, 0.0, 0.0], rtol=0, atol=ATOL_1000)


def test_logsumexp_at_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z)
    y = z.logsumexp()
    np.testing.assert_array_equal(y.data, [1000.0, 1000.0, -1000.0 + LOG3])
    y.sum().backward()  # the gradient is softmax
    np.testing.assert_array_equal(z.grad[:2], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(z.grad[2], [1 / 3] * 3, rtol=0, atol=ATOL_1000)


def test_softmax_at_plus_minus_1000_is_exact(strict_numpy):
    z = leaf(Z[:2])
    s = z.softmax()
    np.testing.assert_array_equal(s.data, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    (s * Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    np.testing.assert_array_equal(z.grad, np.zeros((2, 3)))  # s * (w - s.w) = 0 at one-hot


def test_the_masked_where_trap_gives_a_nan_gradient_at_zero(strict_numpy):
    """The trap (documented, not a bug): where(x > 0, log(x), 0) has a fine forward value
    at x = 0, but the gradient of the branch not taken is still computed: where sends 0 to
    log, and log's VJP gives 0 / 0 = nan there (0 * inf). The gradient at 0 is nan."""
    x = leaf([0.0, 1.0, 2.0])
    y = where(x > 0, x.log(), 0.0)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, math.log(2.0)])
    y.sum().backward()
    assert np.isnan(x.grad[0])
    np.testing.assert_array_equal(x.grad[1:], [1.0, 0.5])


def test_the_safe_where_form_masks_the_input_and_gives_a_zero_gradient_at_zero(strict_numpy):
    """The fix: mask the input, not the output: log(where(x > 0, x, 1)) is 0 at x = 0 with
    gradient 0, and log(x) elsewhere."""
    x = leaf([0.0, 1.0, 2.0])
    y = where(x > 0, x, 1.0).log()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, math.log(2.0)])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.5])


# ----- regressions found in review -----------------------------------------------------------
def test_power_zero_has_derivative_zero_at_zero():
    x = Value(0.0)
    sum(c * x**k for k, c in enumerate([1.0, 2.0, 3.0])).backward()
    assert x.grad == 2.0
    t = leaf([0.0, 2.0])
    (t ** np.array([0.0, 2.0])).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 4.0])
    assert ag.grad(lambda v: v**0 + v)(0.0) == 1.0


def test_subtracting_unsigned_and_bool_data_is_exact():
    np.testing.assert_array_equal((Tensor([1.0]) - np.array([1], np.uint8)).data, [0.0])
    np.testing.assert_array_equal((Tensor([5.0]) - Tensor(np.array([1], np.uint8))).data, [4.0])
    np.testing.assert_array_equal((Tensor([1.0, 2.0]) - np.array([True, False])).data, [0, 2])
    r = Tensor(np.array([5], np.uint8)) - 1
    assert r.dtype == np.uint8 and r.data[0] == 4
    np.testing.assert_array_equal((1 - Tensor(np.array([True]))).data, [0])
    w = leaf([1.0])
    (w - np.array([3], np.uint8)).sum().backward()
    np.testing.assert_array_equal(w.grad, [1.0])
    with pytest.raises(TypeError, match=r"^sub: numpy boolean subtract.*\(2,\) and \(2,\)"):
        Tensor([True, False]) - Tensor([True, True])  # numpy's refusal, naming the op


def test_gradients_of_0d_tensors_are_arrays():
    t = leaf(3.0)
    (t * t).backward()
    (t * t).backward()  # accumulated: still an array
    assert type(t.grad) is np.ndarray and t.grad.shape == () and t.grad == 12.0


def test_transpose_refuses_out_of_range_axes():
    with pytest.raises(ValueError, match="transpose"):
        Tensor(np.ones((2, 3))).transpose(1, 2)
    assert Tensor(np.ones((2, 3))).transpose(-1, 0).shape == (3, 2)


def test_in_place_changes_that_backward_does_not_read_are_allowed():
    x = leaf([1.0, 2.0])
    c = Tensor([1.0, 1.0])
    y = (x + c).sum()  # add reads neither input
    c += 1
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    y = x * 2
    with no_grad():
        y += 1  # mul's backward does not read its output
    x.grad = None
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    e = x.exp()  # exp's backward reads its output
    z = e.sum()
    with no_grad():
        e += 1
    with pytest.raises(RuntimeError, match=r"exp.*version 0 when recorded, now 1"):
        z.backward()


def test_a_real_cast_round_trip_is_differentiable():
    # float32 in the middle: a wider step keeps the finite differences above its rounding
    assert ag.gradcheck(lambda a: (a.astype(np.float32) * 2.0).astype(np.float64),
                        np.array([0.5, 1.5]), eps=1e-3, atol=1e-3, rtol=1e-3)


# ----- every primitive: an in-place change before backward raises or changes nothing ----------
@pytest.mark.parametrize("name", sorted(__import__("test_ops").DOMAINS))
@settings(max_examples=60)
@given(data=st.data())
def test_an_in_place_change_before_backward_raises_or_is_harmless(name, data):
    """For every primitive, change one saved input or the output in place (directly or
    through a view) between forward and backward: backward must raise, or give the gradient of
    the values as recorded. This is what makes each op's ``reads`` declaration safe."""
    from test_ops import DOMAINS

    f, xs = data.draw(DOMAINS[name])
    xs = [np.array(x, dtype=np.float64) for x in xs]
    u = np.asarray(data.draw(arrays(np.shape(f(*[Tensor(x) for x in xs]).data), low=0.5, high=2)))

    fresh = [leaf(x) for x in xs]
    f(*fresh).backward(u)
    ts = [leaf(x) for x in xs]
    out = f(*ts)
    target = data.draw(st.sampled_from(ts + [out]))
    assume(target.size > 0)
    with no_grad():
        if data.draw(st.booleans(), label="through a view"):
            v = target[(slice(0, 1),) * target.ndim]
            v *= -1.5
            v += 0.75
        else:
            target *= -1.5
            target += 0.75
    try:
        out.backward(u)
    except RuntimeError as e:
        assert "modified in place" in str(e)
        return
    for t, r in zip(ts, fresh):
        np.testing.assert_allclose(t.grad, r.grad, rtol=1e-12, atol=1e-12)


# ----- axes ----------------------------------------------------------------------------------
def _lse(x, axis, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


# op -> (ours, numpy's), each called as f(x, axis)
AXIS_OPS = {
    "sum": (lambda t, a: t.sum(a), lambda x, a: np.sum(x, axis=a)),
    "mean": (lambda t, a: t.mean(a), lambda x, a: np.mean(x, axis=a)),
    "max": (lambda t, a: t.max(a), lambda x, a: np.max(x, axis=a)),
    "min": (lambda t, a: t.min(a), lambda x, a: np.min(x, axis=a)),
    "var": (lambda t, a: t.var(a), lambda x, a: np.var(x, axis=a)),
    "std": (lambda t, a: t.std(a), lambda x, a: np.std(x, axis=a)),
    "logsumexp": (lambda t, a: t.logsumexp(a), _lse),
    "softmax": (lambda t, a: t.softmax(a), lambda x, a: np.exp(x - _lse(x, a, True))),
    "log_softmax": (lambda t, a: t.log_softmax(a), lambda x, a: x - _lse(x, a, True)),
    "squeeze": (lambda t, a: t.squeeze(a), lambda x, a: np.squeeze(x, axis=a)),
    "expand_dims": (lambda t, a: t.expand_dims(a), lambda x, a: np.expand_dims(x, a)),
    "concatenate": (lambda t, a: ag.concatenate([t, t], a),
                    lambda x, a: np.concatenate([x, x], a)),
    "stack": (lambda t, a: ag.stack([t, t], a), lambda x, a: np.stack([x, x], a)),
}
REDUCING = {"sum", "mean", "max", "min", "var", "std", "logsumexp", "softmax", "log_softmax",
            "squeeze"}


@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       st.one_of(st.integers(-5, 5), st.lists(st.integers(-4, 4), max_size=3).map(tuple)),
       st.sampled_from(sorted(AXIS_OPS)))
def test_every_axis_taking_method_agrees_with_numpy_or_names_the_op_the_axis_and_the_shape(
        shape, axis, name):
    """Where numpy gives a result, the same result; where numpy refuses, a ValueError that
    names the op and the shape (and the axis, when it is out of range), never an IndexError.
    On a 0-d tensor, as PyTorch does for every reduction (numpy for sum, max, min and
    squeeze), axis 0 or -1 reduces over its one element: the result is the tensor itself."""
    ours, theirs = AXIS_OPS[name]
    x = np.random.default_rng(0).standard_normal(shape)
    ref_axis = axis
    if not shape and name in REDUCING and axis in (0, -1, (0,), (-1,)):
        ref_axis = None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = theirs(x, ref_axis)
        except (ValueError, TypeError) as e:  # numpy's AxisError is a ValueError too
            want = e
    if isinstance(want, TypeError):  # a tuple where one int is taken, () for stack
        with pytest.raises(TypeError, match=f"^{name}: axis must be an int"):
            ours(Tensor(x), axis)
        return
    if isinstance(want, ValueError):
        with pytest.raises(ValueError) as info:
            ours(Tensor(x), axis)
        msg = str(info.value)
        assert msg.startswith(f"{name}:") and str(shape) in msg, msg
        if "out of bounds" in str(want) and shape:  # (on 0-d, (0, -1) is a repeated axis)
            assert re.search(rf"axis -?\d+ is out of range for a tensor of shape "
                             rf"{re.escape(str(shape))}", msg), msg
        return
    got = ours(Tensor(x), axis)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


def test_a_0d_tensor_reduces_over_axis_0_or_minus_1_to_itself_with_its_gradient():
    """PyTorch's reductions and numpy's sum/max/squeeze accept axis 0 and -1 on a 0-d
    tensor: its one element. (Before: squeeze(0) raised IndexError, max(0) claimed 'size 0'.)"""
    for axis in (0, -1):
        for name, value, slope in [("sum", 1.5, 1.0), ("mean", 1.5, 1.0), ("max", 1.5, 1.0),
                                   ("min", 1.5, 1.0), ("logsumexp", 1.5, 1.0),
                                   ("squeeze", 1.5, 1.0), ("var", 0.0, 0.0),
                                   ("softmax", 1.0, 0.0), ("log_softmax", 0.0, 0.0)]:
            x = leaf(1.5)
            y = getattr(x, name)(axis)
            assert y.shape == () and y.item() == value, name
            y.backward()
            assert x.grad.item() == slope, name
        assert leaf(1.5).std(axis).item() == 0.0
        assert leaf(1.5).expand_dims(axis).shape == (1,)
        assert ag.stack([leaf(1.0), leaf(2.0)], axis).shape == (2,)


def test_the_reported_axis_errors_on_0d_tensors_name_the_op_the_axis_and_the_shape():
    z = Tensor(np.array(1.0))
    for name in ("sum", "mean", "max", "min", "var", "std", "logsumexp", "squeeze", "softmax",
                 "log_softmax"):
        with pytest.raises(ValueError, match=rf"^{name}: axis 1 is out of range for a tensor "
                                             r"of shape \(\) \(valid axes: -1 to 0\)"):
            getattr(z, name)(1)
    with pytest.raises(ValueError, match=r"^max: axis 2 is out of range for a tensor of shape "
                                         r"\(2, 3\) \(valid axes: -2 to 1\)"):
        Tensor(np.ones((2, 3))).max(2)
    with pytest.raises(ValueError, match=r"^stack: axis 2 is out of range for a tensor of "
                                         r"shape \(\) and a result of 1 dims"):
        ag.stack([z, z], 2)
    with pytest.raises(ValueError, match=r"^concatenate: zero-dimensional"):
        ag.concatenate([z, z])
    with pytest.raises(ValueError, match=r"^sum: repeated axis in \(0, -2\) for a tensor of "
                                         r"shape \(2, 3\)"):
        Tensor(np.ones((2, 3))).sum((0, -2))


@pytest.mark.parametrize("axis", [1.0, True, "0", [0.5]])
def test_an_axis_that_is_not_an_integer_is_a_type_error_naming_the_op(axis):
    t = Tensor(np.ones((2, 3)))
    for name in ("sum", "max", "mean", "squeeze", "expand_dims", "softmax"):
        with pytest.raises(TypeError, match=f"^{name}: axis must be an int or a tuple of ints"):
            getattr(t, name)(axis)
    for join in (ag.stack, ag.concatenate):
        with pytest.raises(TypeError, match=f"^{join.__name__}: axis must be an int"):
            join([t, t], axis)
    with pytest.raises(TypeError, match="^transpose: axes must be ints"):
        t.transpose(axis, 0)


# ----- issue 13: advanced indices accumulate; var and std at their edges -------------------------
def test_repeated_indices_in_a_tuple_inside_the_index_accumulate():
    x = leaf(np.ones((3, 2)))
    x[(1, 1), :].sum().backward()  # (1, 1) inside the index is an integer array, as in numpy
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    y = leaf([1.0, 2.0, 3.0])
    y[((0, 0, 2),)].sum().backward()
    np.testing.assert_array_equal(y.grad, [2.0, 0.0, 1.0])


def _index_part(side):
    """One entry of an index for an axis of length ``side``: basic, or an integer sequence
    (repeats and negative indices included) of any of numpy's spellings."""
    ints = st.integers(-side, side - 1)
    seqs = st.lists(ints, min_size=1, max_size=3)
    return st.one_of(
        ints, st.builds(slice, st.none() | st.integers(-side, side),
                        st.none() | st.integers(-side, side), st.sampled_from([None, 1, 2, -1])),
        seqs.map(np.array), seqs, seqs.map(tuple), seqs.map(lambda s: Tensor(np.array(s))),
        st.lists(st.booleans(), min_size=side, max_size=side).map(np.array))


@st.composite
def indexed(draw):
    """A shape and an index into it: ints, slices, integer arrays, lists, tuples (inside the
    index), integer tensors and masks, with None and Ellipsis, or one entry on its own."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    parts = [draw(_index_part(side)) for side in shape[:draw(st.integers(1, len(shape)))]]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from([None, Ellipsis])))
    alone = len(parts) == 1 and draw(st.booleans())  # x[seq], not x[(seq,)]: a bare tuple
    index = parts[0] if alone else tuple(parts)  # is then a multi-index, as in numpy
    raw = [p.data if isinstance(p, Tensor) else p for p in parts]
    try:  # where numpy refuses (sequences that do not broadcast together), so must we
        positions = np.arange(int(np.prod(shape))).reshape(shape)[
            raw[0] if alone else tuple(raw)]
    except IndexError:
        assume(False)
    return shape, index, positions


@given(indexed(), st.data())
def test_getitem_gradient_accumulates_as_np_add_at(case, data):
    """x[index]'s gradient adds every upstream element into the position it was read from
    (np.add.at's semantics: repeated positions accumulate); found by counting positions."""
    shape, index, positions = case
    x = leaf(np.zeros(shape))
    up = data.draw(hnp.arrays(np.float64, positions.shape, elements=st.integers(-3, 3)))
    out = x[index]
    np.testing.assert_array_equal(out.data, np.zeros(positions.shape))
    (out * up).sum().backward()
    expected = np.bincount(positions.ravel(), weights=up.ravel(), minlength=x.size)
    np.testing.assert_array_equal(x.grad, expected.reshape(shape))


def test_std_gradient_at_zero_variance_is_zero_at_every_order():
    for dtype in (np.float64, np.float32):
        x = leaf([2.0, 2.0, 2.0], dtype=dtype)
        s = x.std()
        s.backward()
        assert s.data == 0 and x.grad.dtype == dtype
        np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])  # as PyTorch (sqrt'(0) = inf)
    np.testing.assert_array_equal(ag.hessian(lambda t: t.std())([1.0, 1.0]), np.zeros((2, 2)))
    x = leaf([[1.0, 1.0], [1.0, 3.0]])
    x.std(axis=1).sum().backward()  # one row constant, one not
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [-0.5, 0.5]])
    assert ag.gradcheck(lambda t: t.std(axis=1, ddof=1), np.array([[1.0, 2.5], [0.5, -1.0]]))


def test_var_with_ddof_at_least_n_divides_by_zero_as_numpy():
    for a, ddof in (([1.0, 2.0], 2), ([1.0, 2.0], 3), ([1.0, 1.0], 2), ([[1.0, 2.0]], 1)):
        a = np.array(a)
        for axis in (None, 1) if a.ndim == 2 else (None,):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy warns; we are silent, as ever
                var, std = np.var(a, axis, ddof=ddof), np.std(a, axis, ddof=ddof)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                np.testing.assert_array_equal(Tensor(a).var(axis, ddof=ddof).data, var)
                np.testing.assert_array_equal(Tensor(a).std(axis, ddof=ddof).data, std)
    assert Tensor([1.0, 2.0]).var(ddof=2).data == np.inf  # (0/0 is nan for equal values)


def test_std_does_not_overflow_or_underflow_where_the_result_does_not():
    big = Tensor(np.array([2e19, -2e19], np.float32), requires_grad=True)
    s = big.std()  # its squares overflow float32, the deviation does not
    assert s.dtype == np.float32 and s.data == np.float32(2e19)
    s.backward()
    np.testing.assert_array_equal(big.grad, np.array([0.5, -0.5], np.float32))
    v = big.var()  # 4e38: beyond float32, as numpy's
    assert v.dtype == np.float32 and v.data == np.inf
    spread = Tensor(np.array([3e19, -3e19] + [0.0] * 98, np.float32)).var()
    np.testing.assert_allclose(spread.data, 1.8e37, rtol=1e-6)  # its squares overflow
    tiny = Tensor([1e-200, -1e-200])
    assert tiny.std().data == 1e-200  # the squares underflow to 0
    np.testing.assert_array_equal(Tensor([1.0, 2.0]).std(keepdims=True).data, [0.5])


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                  elements=st.integers(-8000, 8000).map(lambda i: i / 8)), st.data())
def test_var_and_std_are_numpys_bit_for_bit_and_differentiable(a, data):
    """Scaled by a power of two, the squares round as numpy's do (where none underflows)."""
    axis = data.draw(st.none() | st.integers(0, a.ndim - 1))
    n = a.size if axis is None else a.shape[axis]
    ddof = data.draw(st.integers(0, n - 1))
    d = a - a.mean(axis, keepdims=True)
    expected = (d * d).sum(axis) * (1.0 / (n - ddof))  # numpy's sum, times 1 / (n - ddof)
    np.testing.assert_array_equal(Tensor(a).var(axis, ddof=ddof).data, expected)
    np.testing.assert_array_equal(Tensor(a).std(axis, ddof=ddof).data, np.sqrt(expected))
    np.testing.assert_allclose(Tensor(a).std(axis, ddof=ddof).data, np.std(a, axis, ddof=ddof),
                               rtol=1e-14)
    b = a / 512  # values of order 1 for the finite differences
    assume(np.all(np.ptp(b, axis) > 0.01))  # away from zero variance, where std has a kink
    assert ag.gradcheck(lambda t: t.std(axis, ddof=ddof), b)
    assert ag.gradcheck(lambda t: t.var(axis, ddof=ddof), b)


# ----- pad and windows: the public functions over the pad and windows primitives -------------
def test_pad_is_numpys_constant_pad_and_crops_the_gradient():
    x = leaf(np.arange(6.0).reshape(2, 3))
    y = ag.pad(x, ((1, 0), (2, 1)), value=-1.0)
    np.testing.assert_array_equal(y.data, np.pad(x.data, ((1, 0), (2, 1)), constant_values=-1))
    (y * np.arange(y.size).reshape(y.shape)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.arange(y.size).reshape(y.shape)[1:, 2:-1])


def test_windows_are_numpys_sliding_windows_strided_and_dilated_kernel_axes_first():
    x = np.random.default_rng(0).normal(size=(2, 9, 8))
    y = ag.windows(x, (3, 2), stride=(2, 3), dilation=(1, 2))
    view = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    np.testing.assert_array_equal(y.data, view[:, ::2, ::3, :, ::2].transpose(0, 3, 4, 1, 2))
    assert ag.windows(x, [4]).shape == (2, 9, 4, 5)  # the last axis only
    assert y.data.base is None  # a copy: changing it cannot change x
    assert ag.windows(x[0, 0], [1]).data.base is None  # also where the view is contiguous


def test_pad_and_windows_refuse_bad_arguments_naming_the_shapes():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"pad: widths must hold one \(before, after\) pair "
                                         r"per axis of the input of shape \(2, 3\)"):
        ag.pad(x, ((1, 1),))
    with pytest.raises(ValueError, match=r"pad: each width must be 2 ints of at least 0, got "
                                         r"\(0, -1\) \(input shape \(2, 3\)\)"):
        ag.pad(x, ((0, 0), (0, -1)))
    with pytest.raises(ValueError, match=r"windows: a kernel of 3 axes \(1, 1, 1\) for an "
                                         r"input of shape \(2, 3\)"):
        ag.windows(x, (1, 1, 1))
    with pytest.raises(ValueError, match=r"windows: the kernel \(2, 2\) \(dilated: \(3, 3\)\) "
                                         r"is bigger than the last axes of the input of shape "
                                         r"\(2, 3\)"):
        ag.windows(x, (2, 2), dilation=2)
    with pytest.raises(ValueError, match=r"windows: stride must be 2 ints of at least 1"):
        ag.windows(x, (1, 1), stride=(1, 0))
    with pytest.raises(TypeError, match=r"windows: dilation must be an int or a tuple of ints"):
        ag.windows(x, (1, 1), dilation=1.0)


# ----- copies and pickles ----------------------------------------------------------------------
def test_a_pickled_graph_keeps_its_shared_leaves_and_its_ops():
    import copy
    import pickle

    w = Tensor([1.0, 2.0], requires_grad=True, label="w")
    h = w * 3.0
    y = (h * h + h).sum()  # h is used twice: one node in the copy
    for w2, y2 in (pickle.loads(pickle.dumps([w, y])), copy.deepcopy([w, y])):
        assert y2.op == "sum" and y2._op is y._op  # the registered op itself
        y2.backward()
        np.testing.assert_array_equal(w2.grad, 2 * 9 * w.data + 3)
        assert w2.label == "w" and w.grad is None


def test_pickling_a_graph_of_a_custom_primitive_says_what_to_pickle():
    import copy
    import pickle

    cube = ag.primitive("cube_p", lambda xp, x: x * x * x,
                        lambda xp, g, out, x: (g * 3.0 * x * x,))
    t = Tensor([2.0], requires_grad=True)
    y = cube(t)
    with pytest.raises(TypeError, match="custom primitive 'cube_p'.*detach"):
        pickle.dumps(y)
    assert copy.deepcopy(y)._op is y._op  # a copy in memory keeps the op
    pickle.loads(pickle.dumps(y.detach()))


# ----- numpy functions on tensors ----------------------------------------------------------------
# (numpy's call, tapegrad's own spelling of it): the numpy call records the same op
RECORDED = [
    (np.exp, lambda t: t.exp()), (np.log, lambda t: t.log()), (np.sqrt, lambda t: t.sqrt()),
    (np.tanh, lambda t: t.tanh()), (np.sin, lambda t: t.sin()), (np.cos, lambda t: t.cos()),
    (np.abs, lambda t: abs(t)), (np.negative, lambda t: -t), (np.positive, lambda t: t),
    (np.log1p, lambda t: t.log1p()),
    (lambda t: np.add(2.0, t), lambda t: 2.0 + t),
    (lambda t: np.array([1.0, 2.0, 4.0]) - t, lambda t: np.array([1.0, 2.0, 4.0]).tolist() - t),
    (lambda t: np.multiply(t, t), lambda t: t * t), (lambda t: np.divide(1.0, t), lambda t: 1 / t),
    (lambda t: np.power(t, 3), lambda t: t ** 3), (lambda t: np.ones((2, 3)) @ t,
                                                    lambda t: Tensor(np.ones((2, 3))) @ t),
    (lambda t: np.maximum(t, 1.5), lambda t: ag.maximum(t, 1.5)),
    (lambda t: np.minimum(t, 1.5), lambda t: ag.minimum(t, 1.5)),
    (np.sum, lambda t: t.sum()), (lambda t: np.sum(t, axis=0, keepdims=True),
                                  lambda t: t.sum(0, keepdims=True)),
    (np.mean, lambda t: t.mean()), (np.max, lambda t: t.max()), (np.amin, lambda t: t.min()),
    (lambda t: np.var(t, ddof=1), lambda t: t.var(ddof=1)), (np.std, lambda t: t.std()),
    (lambda t: np.reshape(t, (3, 1)), lambda t: t.reshape(3, 1)),
    (np.transpose, lambda t: t.T), (lambda t: np.expand_dims(t, 0), lambda t: t[None]),
    (lambda t: np.squeeze(np.expand_dims(t, 1)), lambda t: t),
    (lambda t: np.clip(t, 1.5, 2.5), lambda t: t.clip(1.5, 2.5)),
    (lambda t: np.concatenate([t, t * 2]), lambda t: ag.concatenate([t, t * 2])),
    (lambda t: np.stack([t, t]), lambda t: ag.stack([t, t])),
    (lambda t: np.where(t.data > 1.5, t, 0.0), lambda t: ag.where(t.data > 1.5, t, 0.0)),
]


@pytest.mark.parametrize("numpy_call, ours", RECORDED)
def test_numpy_functions_of_the_op_table_record_on_the_tape(numpy_call, ours):
    grads = []
    for f in (numpy_call, ours):
        t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = f(t)
        assert isinstance(y, Tensor)
        (y * y).sum().backward()
        grads.append((y.data, t.grad))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])


NOT_RECORDED = [np.floor, np.round, np.sign, np.isnan, np.cumsum, np.sort, np.argmax,
                np.unique, np.linalg.norm, lambda t: np.dot(t, t), lambda t: np.tile(t, 2),
                lambda t: np.allclose(t, [1.0, 2.0, 3.0]), lambda t: np.add.reduce(t),
                lambda t: np.exp(t, out=np.empty(3)), np.array, np.asarray, np.copy]


@pytest.mark.parametrize("call", NOT_RECORDED)
def test_other_numpy_functions_run_on_values_or_refuse_a_tensor_that_requires_grad(call):
    values = np.array([1.0, 2.0, 3.0])
    got = call(Tensor(values))  # needs no grad: numpy on its values, never an object array
    expected = call(values)
    assert not isinstance(got, Tensor) and np.asarray(got).dtype != object
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(TypeError, match=r"requires grad.*(detach|carry no gradient|a = a)"):
        call(Tensor(values, requires_grad=True))


def test_numpy_shape_functions_and_asarray():
    t = Tensor([[1.0, 2.0]], requires_grad=True)
    assert np.shape(t) == (1, 2) and np.ndim(t) == 2 and np.size(t) == 2
    z = np.zeros_like(t)
    assert type(z) is np.ndarray and z.shape == (1, 2)
    with pytest.raises(TypeError, match=r"requires grad.*t\.detach\(\)\.numpy\(\)"):
        np.asarray(t)
    with pytest.raises(TypeError, match=r"requires grad.*t\.detach\(\)\.numpy\(\)"):
        np.array([t.data[0], t[0]])  # a Tensor inside a list, too
    u = Tensor([1.0, 2.0])
    a = np.asarray(u)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 5.0  # the array is the tensor's: it cannot be changed behind the tape's back
    b = np.array(u)  # a copy may be written
    b[0] = 5.0
    assert u.data[0] == 1.0 and np.asarray(u, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="a copy is needed"):
        np.asarray(u, dtype=np.float32, copy=False)
    with pytest.raises(TypeError, match=r"numpy\.sum on a Tensor: .*'out'.*axis=None"):
        np.sum(t, out=np.empty(()))
    x = np.zeros(2)
    with pytest.raises(TypeError, match=r"in place \(a \+= t\): write a = a \+ t"):
        x += Tensor([1.0, 2.0], requires_grad=True)
    x += u  # values only: fine
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_pytorch_names_that_do_not_clash_with_numpys():
    t = Tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert t.size == 3 and t.numel() == 3 and t.size + 1 == 4 and t.tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(TypeError, match=r"Tensor\.size is numpy's property.*use \.shape"):
        t.size()
    assert t.unsqueeze(0).shape == (1, 1, 3) and t.unsqueeze(-1).shape == (1, 3, 1)
    c = t.clone()
    assert c is not t and not np.shares_memory(c.data, t.data)
    (c * c).sum().backward()  # a clone is on the tape, as PyTorch's
    np.testing.assert_array_equal(t.grad, 2 * t.data)
    u = Tensor([1.0], label="u").clone()
    assert not u.requires_grad and u.label == "u"


# ----- hooks ---------------------------------------------------------------------------------
def test_register_hook_sees_the_complete_gradient_and_may_replace_it():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    z = (y * y).sum() + y.sum()  # y used twice: its hook sees the sum of both
    log = []
    y.register_hook(lambda g: log.append(("y", g.copy())))
    y.register_hook(lambda g: g * 10.0)  # hooks run in registration order ...
    y.register_hook(lambda g: log.append(("y2", g.copy())))  # ... each given the last result
    x.register_hook(lambda g: log.append(("x", g.copy())))  # a leaf: before accumulation
    x.grad = np.ones(3)
    z.backward()
    np.testing.assert_allclose(log[0][1], 2.0 * y.data + 1.0)
    np.testing.assert_allclose(log[1][1], 10.0 * (2.0 * y.data + 1.0))
    assert [k for k, _ in log] == ["y", "y2", "x"]
    np.testing.assert_allclose(log[2][1], 20.0 * (2.0 * y.data + 1.0))
    np.testing.assert_allclose(x.grad, 1.0 + log[2][1])


def test_a_hook_returning_another_shape_or_dtype_is_an_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    y.register_hook(lambda g: np.ones(3))
    with pytest.raises(RuntimeError, match=r"hook <lambda>: returned a gradient of shape \(3,\) "
                                           r"and dtype float64 for a tensor of shape \(2,\)"):
        y.sum().backward()
    z = x * 3.0
    z.register_hook(lambda g: g.astype(np.float32))
    with pytest.raises(RuntimeError, match="dtype float32 for a tensor of shape"):
        z.sum().backward()


def test_post_accumulate_grad_hook_runs_after_grad_is_updated_on_leaves_only():
    w = Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    (w * w).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(seen, [2.0 * w.data, 4.0 * w.data])  # accumulated
    h.remove()
    (w * w).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError,
                       match=r"cannot be registered on a non-leaf tensor \('mul' of shape"):
        (w * 2.0).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).register_hook(print)
    with pytest.raises(TypeError, match="hook must be callable"):
        w.register_hook(3)


def test_hooks_run_in_grad_and_receive_tensors_under_create_graph():
    x = Tensor(3.0, requires_grad=True)
    y = x * x
    got = []
    y.register_hook(lambda g: got.append(g))
    (gx,) = [ag.grad(lambda t: (t * t).sum())(x)]
    assert got == []  # a hook belongs to its node: a new graph has none
    y.backward(create_graph=True)
    assert isinstance(got[0], Tensor)
    with y.register_hook(lambda g: g * 2.0):  # a replacement under create_graph stays a graph
        x.grad = None
        y.backward(create_graph=True)
    assert x.grad.item() == 12.0 and x.grad.requires_grad
    assert gx.item() == 6.0


# ----- set_data: a tensor's array replaced in place (Module.to) ----------------------------------
class Movable(Tensor):
    __slots__ = ("_xp",)  # its own _xp slot: the layout of its twin for other libraries


def test_set_data_replaces_the_array_in_place_and_refuses_what_cannot_move():
    t = Movable(np.ones(3), requires_grad=True, label="w")
    assert t._xp is None  # numpy's, in its own slot (set by Tensor.__init__)
    pending = (t * t).sum()
    ag.set_data(t, np.arange(2.0))
    assert type(t) is Movable and t.label == "w" and t.requires_grad
    np.testing.assert_array_equal(t.data, [0.0, 1.0])
    with pytest.raises(RuntimeError):
        pending.backward()  # the graph saved the old array: its version went up
    with pytest.raises(TypeError, match=r"set_data: a Tensor cannot change library in place"):
        ag.set_data(Tensor(np.ones(3)), np.zeros(3))  # no _xp slot of its own
    with pytest.raises(TypeError, match=r"set_data: expected an array .* got list"):
        ag.set_data(t, [1.0, 2.0])
