"""Tensor: semantics, dtype policy, in-place rules, errors, and the seed's training loop."""

import re
import threading
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd import Tensor, Value, no_grad
from autograd.testing import arrays
from tapegrad.demo import seed_data  # the seed article's data, drawn in its order


def leaf(x, dtype=None):
    return Tensor(x, requires_grad=True, dtype=dtype)


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


def test_no_gradient_aliases_another_or_the_seed():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    c = a + b
    seed = np.array([1.0, 1.0])
    c.backward(seed)
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, seed) and not np.shares_memory(c.grad, seed)
    assert not np.shares_memory(c.grad, a.grad)
    a.grad += 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(seed, [1.0, 1.0])


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


def test_backward_from_constants_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="requires_grad"):
        (Tensor([1.0]) * 2).sum().backward()


def test_detach_shares_data_and_version():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    y = (x * x).sum()
    with no_grad():
        d += 1
    with pytest.raises(RuntimeError, match="version 0 when recorded, now 1"):
        y.backward()


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
def test_inplace_on_a_leaf_that_requires_grad_is_an_error_in_grad_mode():
    w = leaf([1.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 2.0
    with no_grad():
        w += 1
        w[0] = w.data[0] * 2
    np.testing.assert_array_equal(w.data, [4.0])


def test_inplace_change_of_a_saved_value_is_caught_at_backward():
    w = leaf([1.0, 2.0])
    y = (w * w).sum()
    with no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match=r"mul.*version 0 when recorded, now 1"):
        y.backward()


def test_setitem_outside_any_graph_bumps_version():
    x = leaf([1.0, 2.0])
    c = Tensor([3.0, 4.0])
    y = (x * c).sum()
    c[0] = 5.0
    with pytest.raises(RuntimeError, match="version"):
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
def test_numpy_arrays_and_scalars_on_either_side_give_tensors():
    t = leaf([1.0, 2.0])
    for r in (np.ones(2) + t, t + np.ones(2), np.float64(2) * t, t * np.float32(2),
              np.ones(2) @ t, np.ones((2, 2)) - t):
        assert isinstance(r, Tensor)
        assert r.dtype != object


def test_comparisons_give_boolean_arrays_equality_is_identity():
    t = Tensor([1.0, 3.0])
    np.testing.assert_array_equal(t > 2, [False, True])
    assert (t <= 1).dtype == np.bool_
    assert t != Tensor([1.0, 3.0])
    assert {t: 1}[t] == 1


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


def test_stable_softmax_family_at_1e4():
    x = leaf([[1e4, 0.0, -1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lse = x.logsumexp()
        sm = x.softmax()
        ls = x.log_softmax()
        (lse.sum() + (sm * np.array([1.0, 2.0, 3.0])).sum() + ls.sum()).backward()
    assert lse.data[0] == 1e4
    np.testing.assert_array_equal(sm.data, [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(ls.data, [[0.0, -1e4, -2e4]])
    assert np.all(np.isfinite(x.grad))


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
                                               r"with 2 rows; expected shape \(2,\)"),
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


def test_mean_over_zero_elements_is_nan_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Tensor(np.zeros((0, 3)), requires_grad=True).mean()
        assert np.isnan(m.item())
        m.backward()


# ----- errors --------------------------------------------------------------------------------
def test_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\) and \(4,\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"add.*\(2, 3\) and \(4,\)"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\) and \(2, 4\)"):
        ag.concatenate([np.ones((2, 3)), Tensor(np.ones((2, 4)))], axis=0)


def test_backward_errors():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match="reduce|pass a gradient"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(np.ones(3))


def test_item_bool_and_max_of_empty():
    t = Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="2 elements"):
        t.item()
    with pytest.raises(ValueError, match="2 elements"):
        bool(t)
    with pytest.raises(ValueError, match="size 0"):
        Tensor(np.zeros(0)).max()
    assert Tensor([3.0]).item() == 3.0 and bool(Tensor([1.0]))


def test_unsupported_operands():
    t = Tensor([1.0])
    for bad in ("a", None, object()):
        with pytest.raises(TypeError, match=type(bad).__name__):
            t + bad
        with pytest.raises(TypeError, match=type(bad).__name__):
            bad * t
    with pytest.raises(TypeError):
        Tensor([Value(1.0)])


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
