"""autograd.trace and autograd.compile: the recorded program gives exactly the eager results
(values, gradients, updates), its source runs with numpy alone, and a value computed from a
traced input is never baked in silently (it is recorded, or the read raises TraceError)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
import nn
from autograd import Tensor, TraceError, no_grad, where

HERE = os.path.basename(__file__)


def same(a, b):
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    return a is None and b is None or (np.asarray(a).dtype == np.asarray(b).dtype
                                       and np.array_equal(a, b, equal_nan=True))


# ----- the seed's step ----------------------------------------------------------------------------
def seed_setup(dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.random((100, 1)).astype(dtype)
    y = (2 * x + 1 + rng.random((100, 1))).astype(dtype)
    W = Tensor(rng.random((1, 1)), requires_grad=True, label="W", dtype=dtype)
    b = Tensor(rng.random((1, 1)), requires_grad=True, label="b", dtype=dtype)
    return x, y, W, b


def seed_step_for(W, b, lr=0.01):
    def step(x, y):
        nonlocal W, b  # (W -= ... rebinds the name, to the same tensor)
        y_pred = x @ W + b
        loss = ((y_pred - y) ** 2).mean()
        W.grad = b.grad = None
        (0.5 * loss).backward()  # the gradient of half the MSE: the seed's dW, db
        with no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
        return loss

    return step


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_seed_step_compiled_is_the_eager_step_bit_for_bit(dtype):
    x, y, W1, b1 = seed_setup(dtype)
    _, _, W2, b2 = seed_setup(dtype)
    eager, compiled = seed_step_for(W1, b1), autograd.compile(seed_step_for(W2, b2))
    rng = np.random.default_rng(1)
    for i in range(5):
        xi = x if i < 2 else rng.random((100, 1)).astype(dtype)  # new values: nothing baked
        l1, l2 = eager(Tensor(xi), Tensor(y)), compiled(xi, y)
        assert same(l1, l2)
        for p1, p2 in ((W1, W2), (b1, b2)):
            assert same(p1, p2) and same(p1.grad, p2.grad)
    assert len(compiled.programs) == 1  # traced once, replayed four times


def test_the_seed_steps_source_reads_like_the_hand_written_step():
    x, y, W, b = seed_setup()
    prog = autograd.trace(seed_step_for(W, b), x, y)
    src = prog.source
    assert src.startswith("def step(x, y, W, b):\n")
    assert "np.dot(x, W) + b" in src  # the article's own np.dot (2-d: see below)
    assert "dW = np.dot(x.T, " in src and "db = " in src
    assert "W -= 0.01 * dW" in src and "b -= 0.01 * db" in src
    assert "0.005 * (" in src  # d(mean)/dy_pred * d(u ** 2)/du: 1/100 * 2u, times 0.5
    assert "* 1.0" not in src and "+ 0.0" not in src and "0.5 *" not in src  # folded, dead
    assert "matmul" not in src and "transpose" not in src


@pytest.mark.parametrize("xs, ws", [((4, 3), (3, 2)), ((2, 4, 3), (3, 2)), ((3,), (3, 2)),
                                     ((4, 3), (3,)), ((2, 4, 3), (2, 3, 5))])
def test_only_2d_products_print_as_np_dot(xs, ws):
    """np.dot is matmul only for two 2-d arrays (on 3-d it pairs every batch with every
    other): any other product keeps @, and every one replays eager's bits."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(xs), Tensor(rng.standard_normal(ws), requires_grad=True)

    def f(x):
        w.grad = None
        y = x @ w
        (y * y).sum().backward()
        return y

    eager = f(Tensor(x)), w.grad
    src = autograd.trace(f, x).source
    forward = src.splitlines()[1]  # (a VJP may reshape to 2-d and so print np.dot)
    assert forward == ("    out = np.dot(x, p)" if len(xs) == len(ws) == 2 else "    out = x @ p")
    got = autograd.compile(f)(x), w.grad
    assert same(got[0], eager[0]) and same(got[1], eager[1])


def test_the_source_runs_with_numpy_alone(tmp_path):
    """exec'd in a fresh interpreter that cannot import tapegrad, the printed program gives
    the eager step's numbers."""
    x, y, W, b = seed_setup()
    W0, b0 = W.data.copy(), b.data.copy()
    prog = autograd.trace(seed_step_for(W, b), x, y)
    assert not prog.constants  # nothing but numpy and the arguments
    np.savez(tmp_path / "in.npz", x=x, y=y, W=W0, b=b0)
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\nsys.path = [p for p in sys.path if 'wt-' not in p and 'tapegrad' not in p"
        " and p not in ('', '.')]\nimport numpy as np\n"
        f"src = {prog.source!r}\nns = {{'np': np}}\nexec(src, ns)\n"
        f"d = np.load({str(tmp_path / 'in.npz')!r})\nW, b = d['W'].copy(), d['b'].copy()\n"
        "(loss,), (dW, db) = ns['step'](d['x'], d['y'], W, b)\n"
        "assert 'autograd' not in sys.modules\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, loss=loss, dW=dW, db=db, W=W, b=b)\n")
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    out = np.load(tmp_path / "out.npz")
    # the eager step from the same start
    W2 = Tensor(W0, requires_grad=True)
    b2 = Tensor(b0, requires_grad=True)
    loss = seed_step_for(W2, b2)(Tensor(x), Tensor(y))
    for name, eager in (("loss", loss.data), ("dW", W2.grad), ("db", b2.grad), ("W", W2.data),
                        ("b", b2.data)):
        assert np.array_equal(out[name], eager), name


# ----- nn training steps --------------------------------------------------------------------------
def mlp_step(opt_cls, loss_name, dtype=np.float64, **hyper):
    model = nn.MLP([4, 8, 3], seed=0, dtype=dtype)
    opt = opt_cls(model.parameters(), **hyper)
    loss_fn = {"ce": nn.CrossEntropyLoss(), "mse": nn.MSELoss(),
               "bce": nn.BCEWithLogitsLoss()}[loss_name]

    def train_step(x, target):
        opt.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        opt.step()
        return loss

    return model, opt, train_step


def batch(rng, loss_name, dtype):
    x = rng.standard_normal((16, 4)).astype(dtype)
    if loss_name == "ce":
        return x, rng.integers(0, 3, 16)
    return x, rng.random((16, 3)).astype(dtype)


@pytest.mark.parametrize("opt_cls,hyper", [
    (nn.SGD, {"lr": 0.1}), (nn.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}),
    (nn.Adam, {"lr": 0.01}), (nn.AdamW, {"lr": 0.01})])
@pytest.mark.parametrize("loss_name", ["ce", "mse", "bce"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_whole_nn_training_step_compiles_bit_for_bit(opt_cls, hyper, loss_name, dtype):
    m1, _, eager = mlp_step(opt_cls, loss_name, dtype, **hyper)
    m2, opt2, step = mlp_step(opt_cls, loss_name, dtype, **hyper)
    compiled = autograd.compile(step)
    rng = np.random.default_rng(0)
    for _ in range(4):  # new batches every call: labels and targets are arguments
        x, t = batch(rng, loss_name, dtype)
        l1, l2 = eager(Tensor(x), t), compiled(x, t)
        assert same(l1, l2)
        for (name, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
            assert same(p1, p2) and same(p1.grad, p2.grad), name
    assert sum(len(v) for v in compiled.programs.values()) == 1
    prog = next(iter(compiled.programs.values()))[0]
    assert "d_0_weight" in prog.source and f"{type(opt2).__name__.lower()}(" in prog.source
    if loss_name == "ce":  # the softmax's parts computed once, for the forward and the VJP
        assert prog.source.count(".max(axis=1") == 1 and "xp.cross_entropy" not in prog.source


def test_an_optimizers_hyperparameters_are_read_at_every_call():
    """A schedule (the group's lr changed between calls) reaches the compiled step: nothing
    baked."""
    m1, o1, eager = mlp_step(nn.SGD, "mse", lr=0.1)
    m2, o2, step = mlp_step(nn.SGD, "mse", lr=0.1)
    compiled = autograd.compile(step)
    rng = np.random.default_rng(0)
    for lr in (0.1, 0.05, 0.01):
        o1.param_groups[0]["lr"] = o2.param_groups[0]["lr"] = lr
        x, t = batch(rng, "mse", np.float64)
        assert same(eager(Tensor(x), t), compiled(x, t))
        assert all(same(p1, p2) for p1, p2 in zip(m1.parameters(), m2.parameters()))


def test_labels_out_of_range_raise_at_every_call():
    _, _, step = mlp_step(nn.SGD, "ce", lr=0.1)
    compiled = autograd.compile(step)
    x = np.zeros((16, 4))
    compiled(x, np.zeros(16, dtype=np.int64))
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        compiled(x, np.full(16, 3))


# ----- compile: signatures, retracing, guards -----------------------------------------------------
def test_compile_retraces_on_a_new_signature_and_warns_when_it_keeps_doing_so():
    calls = []

    @autograd.compile
    def f(x, scale):
        calls.append(1)
        return (x * scale).sum()

    assert same(f(np.ones(3), 2.0), Tensor(6.0))
    assert same(f(np.full(3, 2.0), 2.0), Tensor(12.0)) and len(calls) == 2  # traced again
    assert same(f(np.full(3, 3.0), 2.0), Tensor(18.0)) and len(calls) == 2  # replayed
    f(np.ones(4), 2.0)  # a new shape
    f(np.ones(3, dtype=np.float32), 2.0)  # a new dtype
    f(np.ones(3), 3.0)  # a new Python value
    assert len(calls) == 5 and len(f.programs) == 4
    with pytest.warns(RuntimeWarning, match="traced 5 times"):
        f(np.ones(5), 2.0)


@pytest.mark.parametrize("stateful", ["random", "counter", "rebound"])
def test_python_state_that_changes_between_calls_is_caught_by_the_second_trace(stateful):
    """A random generator (as nn.Dropout's), a counter or a global rebound to a new tensor
    would be replayed with the first call's values: compile traces the second call again,
    sees another program, warns and runs the function eagerly: the eager results."""
    def make():
        rng, count = np.random.default_rng(0), [0]
        box = {"W": Tensor(np.ones(3), requires_grad=True)}

        def f(x):
            if stateful == "random":
                return x * (rng.random(3) > 0.5)
            if stateful == "counter":
                count[0] += 1
                return x * count[0]
            W = box["W"]
            W.grad = None
            loss = (W * x).sum()
            loss.backward()
            with no_grad():
                box["W"] = (W - 0.1 * W.grad).requires_grad_()  # a new tensor each call
            return loss

        return f

    eager, compiled = make(), autograd.compile(make())
    for i in range(4):
        x = np.arange(3.0) + i
        if i == 1:
            with pytest.warns(RuntimeWarning, match="another program at its second call"):
                out = compiled(x)
        else:
            out = compiled(x)
        assert same(out.data, eager(Tensor(x)).data)


def test_a_function_of_its_arguments_and_state_is_verified_once_and_replayed():
    calls = []
    W = Tensor(np.ones(3), requires_grad=True)

    @autograd.compile
    def f(x):
        calls.append(1)
        return (W * x).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            f(np.ones(3))
    assert len(calls) == 2 and next(iter(f.programs.values()))[0].verified


def test_results_are_the_callers_own_and_keep_their_structure():
    prog = autograd.trace(lambda x: {"y": x * 2.0, "zero": Tensor(np.zeros(2)), "k": 3},
                          np.ones(2))
    out = prog(np.ones(2))
    assert set(out) == {"y", "zero", "k"} and out["k"] == 3
    out["zero"].data += 1.0  # a constant result changed by the caller ...
    assert same(prog(np.ones(2))["zero"], Tensor(np.zeros(2)))  # ... is not the next one


def test_a_program_refuses_arguments_of_another_signature():
    prog = autograd.trace(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match="another structure, shape or dtype"):
        prog(np.ones(4))
    assert same(prog(np.arange(3.0)), Tensor(np.arange(3.0) * 2.0))


def test_the_state_of_grad_a_program_assumed_is_guarded():
    """Traced with W.grad None, the program does not accumulate; called with W.grad set,
    a Program raises and compile retraces (so the gradient accumulates, as eager's)."""
    W = Tensor(np.ones(3), requires_grad=True)

    def f(x):
        (W * x).sum().backward()
        return W.grad

    prog = autograd.trace(f, np.full(3, 2.0))
    assert same(W.grad, np.full(3, 2.0))
    with pytest.raises(RuntimeError, match="was None when traced and is set now"):
        prog(np.ones(3))
    compiled = autograd.compile(f)
    compiled(np.ones(3))  # accumulates onto the 2.0 above
    assert same(W.grad, np.full(3, 3.0))
    compiled(np.ones(3))  # replayed: the old gradient is read when the program runs
    assert same(W.grad, np.full(3, 4.0))
    W.grad = None
    compiled(np.ones(3))
    assert same(W.grad, np.ones(3))


def test_zero_grad_of_a_parameter_no_op_reads_is_replayed():
    W, unused = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)

    def f(x):
        W.grad = unused.grad = None
        (W * x).sum().backward()

    prog = autograd.trace(f, np.ones(2))
    unused.grad = np.ones(2)
    prog(np.ones(2))
    assert unused.grad is None and same(W.grad, np.ones(2))


def test_grad_and_value_and_grad_inside_a_compiled_function():
    @autograd.compile
    def f(x):
        g = autograd.grad(lambda t: (t * t * t).sum())(x)
        v, h = autograd.value_and_grad(lambda t: (t.sin() * g).sum())(x)
        return g, v, h

    for x in (np.array([1.0, -2.0]), np.array([0.5, 3.0])):
        t = Tensor(x, requires_grad=True)
        g = autograd.grad(lambda t: (t * t * t).sum())(t)
        v, h = autograd.value_and_grad(lambda t, g=g: (t.sin() * g).sum())(t)
        out = f(Tensor(x, requires_grad=True))
        assert same(out[0], g) and same(out[1], v) and same(out[2], h)


def test_a_first_order_gradient_is_a_constant_later_in_the_traced_function():
    """backward records its rules as create_graph does, but without create_graph the
    gradient it stores has no history, as eager's array: a later backward does not flow
    into it."""
    def f(W, x):
        (W * W * x).sum().backward()  # W.grad = 2 W x
        (W * W.grad).sum().backward()  # + W.grad (a constant), not + 4 W x
        return W.grad

    for x in (np.array([1.0, 2.0]), np.array([-3.0, 0.5])):
        W1 = Tensor(np.array([0.5, 1.5]), requires_grad=True)
        W2 = Tensor(W1.data, requires_grad=True)
        prog = autograd.trace(f, Tensor(W1.data, requires_grad=True), x)
        assert same(prog(W2, x), f(W1, Tensor(x)))
        assert same(W2.grad, 4.0 * W1.data * x)


def test_a_primitive_of_the_users_compiles_with_its_own_forward_and_vjp():
    exp = autograd.primitive("exp", lambda xp, x: xp.exp(x) * 2.0,  # a user's op named exp
                             lambda xp, g, out, x: (g * out,))

    def f(W, x):
        loss = (exp(W * x) + W).sum()
        loss.backward()
        return loss, W.grad

    prog = autograd.trace(f, Tensor(np.ones(2), requires_grad=True), np.ones(2))
    assert "exp_forward(" in prog.source
    for x in (np.array([0.5, -1.0]), np.array([2.0, 0.0])):
        W1, W2 = (Tensor(np.array([1.0, 2.0]), requires_grad=True) for _ in range(2))
        (l1, g1), (l2, g2) = f(W1, Tensor(x)), prog(W2, x)
        assert same(l1, l2) and same(g1, g2) and same(W1.grad, W2.grad)


def test_a_compiled_function_inside_a_trace_is_recorded_inline():
    inner = autograd.compile(lambda x: x.exp())
    prog = autograd.trace(lambda x: inner(x) * 2.0, np.zeros(2))
    assert "np.exp(x)" in prog.source
    assert same(prog(np.ones(2)), Tensor(np.exp(np.ones(2)) * 2.0))


# ----- never a silently baked value ---------------------------------------------------------------
def raises_trace_error(f, *args, match="inside a traced function"):
    with pytest.raises(TraceError, match=match) as e:
        autograd.trace(f, *args)
    assert isinstance(e.value, RuntimeError)
    return str(e.value)


@pytest.mark.parametrize("read", [
    lambda x: x.sum().item(),
    lambda x: float(x.sum()),
    lambda x: x.data,
    lambda x: x.numpy(),
    lambda x: np.asarray(x),
    lambda x: x.argmax(),
    lambda x: x.sum().data.tolist(),
    lambda x: Tensor(x.data * 2),
])
def test_reading_a_traced_value_raises_and_names_the_users_line(read):
    message = raises_trace_error(lambda x: read(x), np.ones(3))
    assert HERE in message  # the user's line, not autograd's


def test_a_python_branch_on_a_traced_value_raises():
    def f(x):
        if x.sum() > 0:  # the comparison is recorded; its truth value is not known
            return x * 2.0
        return x

    raises_trace_error(f, np.ones(3), match="__bool__")


def test_comparisons_inside_where_are_recorded_not_baked():
    def f(x, y):
        return where(x > y, x * 2.0, y - 1.0) + where(x <= 0.5, 1.0, 0.0)

    x, y = np.array([1.0, 0.0, 3.0]), np.array([0.0, 1.0, 3.0])
    prog = autograd.trace(f, x, y)
    assert "x > y" in prog.source and "x <= 0.5" in prog.source
    for a, b in ((y, x), (x, x), (-x, y)):  # other signs: other masks
        assert same(prog(a, b), f(Tensor(a), Tensor(b)))


def test_masks_in_backward_rules_are_recorded_not_baked():
    """relu's, abs's, maximum's and max's VJPs read masks of their inputs: replayed on inputs
    of other signs, the gradients follow the new values."""
    W = Tensor(np.zeros(4), requires_grad=True)

    def f(x):
        W.grad = None
        loss = ((x + W).relu() + (x - W).abs() + autograd.maximum(x, W * 2.0)).sum() \
            + (x * W).max()
        loss.backward()
        return W.grad

    prog = autograd.trace(f, np.array([1.0, -1.0, 2.0, -2.0]))
    for x in (np.array([-1.0, 1.0, -2.0, 2.0]), np.array([0.0, 3.0, 0.0, -3.0])):
        W2 = Tensor(np.zeros(4), requires_grad=True)
        loss = ((Tensor(x) + W2).relu() + (Tensor(x) - W2).abs()
                + autograd.maximum(Tensor(x), W2 * 2.0)).sum() + (Tensor(x) * W2).max()
        loss.backward()
        assert same(prog(x), W2.grad)


@pytest.mark.parametrize("index", [
    lambda x: x[x > 0],  # a boolean mask: a shape that depends on the values
    lambda x: x[x.argmax()],  # an index computed from the values
    lambda x: x[Tensor([0, 1]) + (x.sum() > 0)],
])
def test_indices_computed_from_traced_values_raise(index):
    raises_trace_error(index, np.array([1.0, -1.0, 2.0]))


def test_constants_from_traced_shapes_are_fine_from_traced_values_they_raise():
    prog = autograd.trace(lambda x: x + np.zeros(x.shape) + len(x), np.ones(3))
    assert same(prog(np.full(3, 2.0)), Tensor(np.full(3, 5.0)))
    raises_trace_error(lambda x: x + np.full(x.shape, x.sum().item()), np.ones(3))
    raises_trace_error(lambda x: x + np.full(x.shape, float(x.max())), np.ones(3))


def test_state_read_by_python_raises_state_used_by_ops_is_read_at_every_call():
    W = Tensor(np.ones(2), requires_grad=True)
    raises_trace_error(lambda x: x * W.data, np.ones(2))  # a closure over mutable state
    raises_trace_error(lambda x: x * float(W.sum()), np.ones(2))
    prog = autograd.trace(lambda x: x * W, np.ones(2))
    with no_grad():
        W += 1.0  # changed between calls: the program reads it afresh
    assert same(prog(np.ones(2)), Tensor(np.full(2, 2.0)))


def test_numpy_arrays_f_captures_are_constants_tensors_are_state():
    """As in jax.jit, a captured numpy array is a constant (its value when traced, whatever
    happens to it later), a captured Tensor is state (read at every call)."""
    scale, shift = np.array([2.0, 3.0, 4.0]), Tensor(np.ones(3))
    prog = autograd.trace(lambda x: x * scale + shift, np.ones(3))
    scale[:] = 5.0
    with no_grad():
        shift += 1.0
    assert same(prog(np.ones(3)), Tensor(np.array([4.0, 5.0, 6.0])))  # 1 * scale + 2


def test_writes_the_program_would_not_repeat_raise():
    W = Tensor(np.ones(2), requires_grad=True)

    def assign(x):
        W.data = x.data  # not recorded: refused (and reading x.data already raises)

    raises_trace_error(assign, np.ones(2))
    with pytest.raises(TraceError, match="assigning .data"):
        autograd.trace(lambda x: setattr(W, "data", np.zeros(2)) or x, np.ones(2))


def test_a_gradient_from_before_the_trace_is_not_read_by_python():
    W = Tensor(np.ones(2), requires_grad=True)
    (W * 2.0).sum().backward()
    raises_trace_error(lambda x: x * W.grad, np.ones(2), match="computed before the trace")


def test_tensors_that_std_clip_and_softmax_shift_by_are_not_baked():
    """Composites that read values to choose a constant (std's zero mask, clip's range,
    softmax's shift) raise under a trace instead of baking this call's constant."""
    for f in (lambda x: x.std(), lambda x: x.clip(0.0, 1.0), lambda x: x.softmax()):
        raises_trace_error(f, np.ones(3))


def test_a_value_from_before_the_trace_is_not_baked():
    v = autograd.Value(2.0)
    raises_trace_error(lambda x: x * v.data, np.ones(2))


def test_in_place_updates_of_traced_intermediates_and_state_are_replayed():
    W = Tensor(np.ones(3))

    def f(x):
        nonlocal W
        t = x * 2.0
        t += 1.0
        t *= x
        with no_grad():
            W -= t
        return t

    prog = autograd.trace(f, np.ones(3))
    assert same(W, Tensor(np.full(3, -2.0)))
    assert same(prog(np.full(3, 2.0)), Tensor(np.full(3, 10.0)))
    assert same(W, Tensor(np.full(3, -12.0)))


def test_tracing_leaves_eager_tensors_as_they_were():
    x = Tensor(np.ones(2), requires_grad=True)
    autograd.trace(lambda t: (t * 2.0).sum(), np.ones(2))
    assert type(Tensor.__dict__["_apply"]) is staticmethod
    assert isinstance(x > 0, np.ndarray)  # comparisons give arrays again
    (x * 3.0).sum().backward()
    assert same(x.grad, np.full(2, 3.0))


# ----- bit for bit: random programs ---------------------------------------------------------------
M0 = np.random.default_rng(3).standard_normal((4, 4))
B0 = np.random.default_rng(4).standard_normal(4)

# each op takes two (3, 4) tensors and the parameters M (4, 4), b (4,); gives a (3, 4) tensor
OPS = {
    "add": lambda x, y, M, b: x + y,
    "sub": lambda x, y, M, b: x - y,
    "mul": lambda x, y, M, b: x * y,
    "div": lambda x, y, M, b: x / (y * y + 1.0),
    "maximum": lambda x, y, M, b: autograd.maximum(x, y),
    "where": lambda x, y, M, b: where(x > y, x, y * 2.0),
    "relu": lambda x, y, M, b: x.relu(),
    "tanh": lambda x, y, M, b: x.tanh(),
    "sigmoid": lambda x, y, M, b: x.sigmoid(),
    "abs": lambda x, y, M, b: abs(x),
    "sin": lambda x, y, M, b: x.sin(),
    "softplus": lambda x, y, M, b: x.softplus(),
    "exp": lambda x, y, M, b: x.tanh().exp(),
    "log": lambda x, y, M, b: (x * x + 1.0).log(),
    "pow": lambda x, y, M, b: x ** 2,
    "cube": lambda x, y, M, b: x ** 3.0,
    "scalar": lambda x, y, M, b: 0.5 * x - 1.0,
    "sum_keep": lambda x, y, M, b: x + x.sum(axis=1, keepdims=True),
    "mean0": lambda x, y, M, b: x * x.mean(axis=0),
    "max1": lambda x, y, M, b: x - x.max(axis=1, keepdims=True),
    "min0": lambda x, y, M, b: x + x.min(axis=0),
    "logsumexp": lambda x, y, M, b: x - x.logsumexp(axis=1, keepdims=True),
    "matmul": lambda x, y, M, b: x @ M,
    "linear": lambda x, y, M, b: autograd.linear(x, M, b),
    "bias": lambda x, y, M, b: x + b,
    "repeat_rows": lambda x, y, M, b: x[[0, 0, 2]],  # repeats accumulate in backward
    "slice": lambda x, y, M, b: autograd.concatenate([x[:, :2], y[:, 2:]], axis=1),
    "stack": lambda x, y, M, b: autograd.stack([x, y]).sum(axis=0),
    "transpose": lambda x, y, M, b: (x.T * 2.0).T,
    "reshape": lambda x, y, M, b: x.reshape(4, 3).reshape(3, 4),
    "cast": lambda x, y, M, b: x.astype(np.float32).astype(x.dtype) * y,
}


def random_program(names):
    def f(x, y, M, b):
        pool = [x, y]
        for i, name in enumerate(names):
            pool.append(OPS[name](pool[-1], pool[i % len(pool)], M, b))
        loss = sum((t * (k + 1.0)).sum() for k, t in enumerate(pool[2:])) + (x * y).sum()
        loss.backward()
        return loss, pool[-1]

    return f


@settings(max_examples=60)
@given(names=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=6),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16))
def test_random_programs_compiled_equal_eager_bit_for_bit(names, dtype, seed):
    f = random_program(names)
    rng = np.random.default_rng(seed)

    def args():
        return (Tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True),
                Tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True),
                Tensor(M0.astype(dtype), requires_grad=True),
                Tensor(B0.astype(dtype), requires_grad=True))

    compiled = autograd.compile(f)
    for _ in range(3):  # the trace, then two replays on new values
        a = args()
        b = tuple(Tensor(t.data, requires_grad=True) for t in a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out1 = f(*a)
        out2 = compiled(*b)
        assert same(out1[0], out2[0]) and same(out1[1], out2[1]), names
        for t1, t2 in zip(a, b):
            assert same(t1.grad, t2.grad), names


# ----- Value functions: straight-line float programs ----------------------------------------------
Value = autograd.Value


def value_mlp(seed=0, sizes=(2, 4, 4, 1)):
    """micrograd's MLP, as benchmarks/bench_tapegrad.py writes it: lists of Values."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append([([Value(w) for w in rng.uniform(-1, 1, n_in)], Value(0.0))
                       for _ in range(n_out)])
    params = [p for layer in layers for ws, b in layer for p in ws + [b]]

    def model(x):
        for i, layer in enumerate(layers):
            acts = [sum((w * xi for w, xi in zip(ws, x)), b) for ws, b in layer]
            x = [a.relu() for a in acts] if i < len(layers) - 1 else acts
        return x[0]

    return model, params


def demo_step(model, params, X, y):
    """micrograd's demo step: hinge loss, L2, zero_grad, backward, p.data -= lr * p.grad."""
    def step(lr):
        scores = [model(list(map(Value, row))) for row in X]
        losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
        loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in params)
        for p in params:
            p.grad = 0.0
        loss.backward()
        with no_grad():
            for p in params:
                p.data -= lr.data * p.grad
        return loss

    return step


def test_a_value_function_prints_as_float_python_and_replays_bit_for_bit():
    a, b = Value(1.5, label="a"), Value(-0.25, label="b")

    def f(x):
        y = (a * x + b).tanh() + (x * a).exp() / (b - x) + x.sigmoid() * abs(b) - x ** 2
        return (y + x.log() + x.sqrt() - x.relu() * 3.0).sin()

    prog = autograd.trace(f, Value(0.5))
    assert "np." not in prog.source and "exp(" in prog.source  # floats, not numpy calls
    for x in (0.5, 2.0, 0.25, -0.25, 1e-300):  # (also where log and sqrt give nan)
        assert prog(Value(x)).data == f(Value(x)).data or np.isnan(f(Value(x)).data)
        assert type(prog(Value(x)).data) is float


def test_a_value_program_keeps_ieee_results_where_python_floats_raise():
    def f(x, y):
        return x / y + (x * 1000.0).exp() + (y - y).log()

    prog = autograd.trace(f, Value(1.0), Value(2.0))
    out = prog(Value(1.0), Value(0.0))  # 1/0, exp(1000), log(0): inf, inf, -inf as eager
    assert np.isnan(out.data) and np.isnan(f(Value(1.0), Value(0.0)).data)
    assert prog(Value(-1.0), Value(0.0)).data == f(Value(-1.0), Value(0.0)).data == -np.inf


def test_the_micrograd_demo_step_compiles_and_equals_eager_bit_for_bit():
    X = np.random.default_rng(1).standard_normal((6, 2))
    y = np.array([1, -1, 1, 1, -1, -1])  # (numpy ints, as the demo's)
    model1, params1 = value_mlp()
    model2, params2 = value_mlp()
    eager, compiled = demo_step(model1, params1, X, y), autograd.compile(
        demo_step(model2, params2, X, y))
    for k in range(5):  # two traces, then replays; the learning rate changes every call
        lr = 1.0 - 0.9 * k / 100
        l1, l2 = eager(Value(lr)), compiled(Value(lr))
        assert l1.data == l2.data and type(l2) is Value
        assert [p.data for p in params1] == [p.data for p in params2]
        assert [p.grad for p in params1] == [p.grad for p in params2]
        assert all(type(p.data) is float and type(p.grad) is float for p in params2)
    prog = next(iter(compiled.programs.values()))[0]
    assert prog.verified and "greater(" in prog.source  # relu's mask is recorded


def test_relu_masks_of_a_value_program_are_recorded_not_baked():
    w = Value(1.0)

    def f(x):
        w.grad = 0.0
        y = (w * x).relu() + abs(x - 1.0)
        y.backward()
        return y

    prog = autograd.trace(f, Value(2.0))  # traced where relu and abs pass
    for x in (-3.0, 0.0, 0.5, 4.0):
        xs = Value(x)
        prog(xs)
        g_prog, gx_prog = w.grad, xs.grad
        xe = Value(x)
        f(xe)
        assert (g_prog, gx_prog) == (w.grad, xe.grad)


@pytest.mark.parametrize("read", [
    lambda x: float(x * 2.0),
    lambda x: x * 2.0 if x > 0 else x,
    lambda x: x if bool(x) else x * 2.0,
    lambda x: x * 2.0 if x.data > 0 else x,
    lambda x: x * 2.0 if x == Value(1.0) else x,
    lambda x: Value(float(x.data)),
    lambda x: x.exp() if x.data.exp() != 0 else x,
])
def test_a_value_program_never_bakes_a_traced_float(read):
    message = raises_trace_error(lambda x: read(x), Value(1.0))
    assert HERE in message and "a Value" in message


def test_a_values_data_and_grad_from_before_the_trace_are_read_at_every_call():
    p = Value(3.0, label="p")
    p.grad = 0.5  # a gradient f does not clear: backward adds to it, as eager does

    def f(x):
        y = p * x + p.data * 2.0  # (p.data: read at every call, no gradient through it)
        y.backward()
        return y

    prog = autograd.trace(f, Value(2.0))
    assert p.grad == 2.5
    p.data, p.grad = 4.0, 1.0
    assert prog(Value(5.0)).data == 28.0 and p.grad == 6.0
    p.grad = 0.0  # eager would not add: the program refuses instead of guessing
    with pytest.raises(RuntimeError, match="Value's .grad was nonzero when traced"):
        prog(Value(5.0))


def test_a_value_argument_is_part_of_the_signature_by_kind_only():
    prog = autograd.trace(lambda x, n: x * n, Value(2.0), 3)
    assert prog(Value(5.0), 3).data == 15.0
    with pytest.raises(ValueError, match="Value, 4"):
        prog(Value(5.0), 4)


def test_a_value_program_keeps_the_sign_of_zero():
    def f(x):
        return (x + 0.0) * 1.0 - 0.0  # -0.0 + 0.0 is 0.0: x + 0 is not x for floats

    prog = autograd.trace(f, Value(1.0))
    assert np.signbit(prog(Value(-0.0)).data) == np.signbit(f(Value(-0.0)).data)


# ----- buffers: intermediates written into arrays the program keeps (out=) ------------------------
TRACE = sys.modules["autograd.trace"]  # (autograd.trace is the function)


@pytest.fixture
def every_buffer(monkeypatch):
    monkeypatch.setattr(TRACE, "BUFFER_BYTES", 0)  # (small arrays too)


def test_large_intermediates_are_written_into_kept_arrays_with_the_same_bits():
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((64, 32)), requires_grad=True, label="W")
    b = Tensor(rng.standard_normal(32), requires_grad=True, label="b")

    def f(x):
        W.grad = b.grad = None
        h = autograd.linear(x, W, b).relu()
        loss = ((h * h).exp().tanh() - h / 3.0).sum()
        loss.backward()
        return loss

    prog = autograd.trace(f, rng.standard_normal((16, 64)))
    assert "out=_b" in prog.source and "np.add(np.matmul(" in prog.source
    for _ in range(3):
        x = rng.standard_normal((16, 64))
        out = prog(x)
        grads = W.grad, b.grad
        assert same(out, f(Tensor(x))) and same(grads[0], W.grad) and same(grads[1], b.grad)


@pytest.mark.parametrize("f", [
    lambda x, y: ((x * y).T, (x + y).reshape(-1), (x - y)[1:], x * 2.0),  # views escape
    lambda x, y: (x * y + 1.0, (x * y + 1.0).sum()),
])
def test_no_result_of_a_call_shares_a_kept_array(every_buffer, f):
    prog = autograd.trace(f, np.ones((3, 4)), np.ones((3, 4)))
    rng = np.random.default_rng(1)
    x1, y1 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    first = prog(x1, y1)
    prog(rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))  # overwrites the buffers
    for a, b in zip(first, f(Tensor(x1), Tensor(y1))):
        assert same(a, b)


def test_gradients_and_optimizer_inputs_are_never_kept_arrays(every_buffer):
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Linear(4, 8, seed=0), nn.ReLU(), nn.Linear(8, 3, seed=1))
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, labels):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss

    prog = autograd.trace(step, rng.standard_normal((5, 4)), np.array([0, 1, 2, 0, 1]))
    assert "out=_b" in prog.source
    prog(rng.standard_normal((5, 4)), np.array([2, 1, 0, 0, 1]))
    kept = [p.grad.copy() for p in model.parameters()]
    prog(rng.standard_normal((5, 4)), np.array([1, 1, 0, 2, 1]))
    prog(rng.standard_normal((5, 4)), np.array([1, 0, 0, 2, 2]))
    assert not any(np.shares_memory(p.grad, q.grad) for p in model.parameters()
                   for q in model.parameters() if p is not q)
    assert not all(same(k, p.grad) for k, p in zip(kept, model.parameters()))


@settings(max_examples=30)
@given(names=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=6),
       seed=st.integers(0, 2**16))
def test_random_programs_with_every_intermediate_buffered_equal_eager(names, seed):
    f = random_program(names)
    rng = np.random.default_rng(seed)
    old = TRACE.BUFFER_BYTES
    TRACE.BUFFER_BYTES = 0
    try:
        prog = autograd.trace(f, *[Tensor(rng.standard_normal(s), requires_grad=True)
                                   for s in ((3, 4), (3, 4), (4, 4), (4,))])
    finally:
        TRACE.BUFFER_BYTES = old
    calls = []
    for _ in range(3):  # results of every call checked after the last one
        a = [rng.standard_normal(s) for s in ((3, 4), (3, 4), (4, 4), (4,))]
        ts = [Tensor(v, requires_grad=True) for v in a]
        calls.append((a, prog(*ts), [t.grad for t in ts]))
    for a, out, grads in calls:
        ts = [Tensor(v, requires_grad=True) for v in a]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = f(*ts)
        assert same(out[0], expected[0]) and same(out[1], expected[1]), names
        assert all(same(g, t.grad) for g, t in zip(grads, ts)), names


def test_one_kept_array_serves_vars_whose_lifetimes_do_not_overlap(every_buffer):
    def f(x):
        a = x * 2.0
        v = a.T  # a view: a's array lives as long as v is read
        b = (x + 1.0) * 3.0
        c = (b - 1.0) * (b + 1.0)
        return (v.T * c + v.T).sum(), c

    prog = autograd.trace(f, np.ones((4, 4)))
    assert "out=_b0" in prog.source and len(prog._buf_specs) < prog.source.count("out=")
    x = np.random.default_rng(3).standard_normal((4, 4))
    for a, b in zip(prog(x), f(Tensor(x))):
        assert same(a, b)


# ----- an optimizer's step in a program: the update from the program's arrays --------------------
def test_a_compiled_step_refuses_parameters_added_after_the_trace():
    """The program holds one gradient per parameter it saw; a group added later would be
    updated from whatever stale .grad it has (eager code zeroes it first): an error instead."""
    model = nn.Linear(3, 2)
    extra = Tensor(np.ones(2), requires_grad=True)
    opt = nn.SGD(model.parameters(), lr=0.1)
    x = Tensor(np.ones((4, 3)))

    @autograd.compile
    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    step(x)
    w = model.weight.data.copy()
    step(x)
    assert not np.array_equal(w, model.weight.data)  # the program's step did update
    opt.add_param_group({"params": [extra]})
    extra.grad = np.ones(2)
    with pytest.raises(RuntimeError, match=r"SGD.step: 2 gradients for 3 parameters .*compile"):
        step(x)
    assert np.array_equal(extra.data, np.ones(2))
