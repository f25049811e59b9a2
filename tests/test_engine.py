"""The engine: one tape for Value and Tensor, iterative backward, memory, higher order."""

import gc
import math
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import (
    Tensor,
    Value,
    current_scope,
    detect_anomaly,
    enable_grad,
    explain,
    grad,
    hide_frames,
    is_grad_enabled,
    no_grad,
    primitive,
    scope,
)
from autograd.engine import graph

UNARY_F = {"tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
           "exp_small": lambda a: (a * 0.1).exp(), "log_abs": lambda a: (abs(a) + 1).log(),
           "neg": lambda a: -a, "sin": lambda a: a.sin(), "relu": lambda a: a.relu(),
           "abs": lambda a: abs(a)}
BINARY_F = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "div": lambda a, b: a / (b * b + 1), "pow": lambda a, b: (a * a + 1) ** b.tanh()}


def build(program, leaves):
    """Run a random program over a list of nodes (Values or 0-d Tensors), reusing nodes."""
    nodes = list(leaves)
    for kind, name, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(UNARY_F[name](a) if kind == "u" else BINARY_F[name](a, b))
    out = nodes[-1]
    for n in nodes[len(leaves):-1]:
        out = out + n * 0.5  # every intermediate feeds the output: a DAG with fan-out
    return out


programs = st.lists(
    st.one_of(
        st.tuples(st.just("u"), st.sampled_from(sorted(UNARY_F)), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("b"), st.sampled_from(sorted(BINARY_F)), st.integers(0, 50),
                  st.integers(0, 50))),
    min_size=1, max_size=25)


@given(programs, st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_random_dag_value_and_0d_tensor_agree(program, xs):
    values = [Value(x) for x in xs]
    tensors = [Tensor(x, requires_grad=True) for x in xs]
    v, t = build(program, values), build(program, tensors)
    v.backward()
    t.backward()
    assert v.data == pytest.approx(float(t.data), rel=1e-12, abs=1e-300)
    for a, b in zip(values, tensors):
        tg = 0.0 if b.grad is None else float(b.grad)  # an unused leaf: None vs 0.0
        assert a.grad == pytest.approx(tg, rel=1e-12, abs=1e-12)


def test_deep_chain_backpropagates_without_recursion():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = (y * 0.9 + 0.1).tanh()
    y.backward()
    assert math.isfinite(x.grad)
    t = Tensor(np.ones(3), requires_grad=True)
    z = t
    for _ in range(20_000):
        z = z * 1.0
    z.sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones(3))


def test_graph_is_freed_by_refcounting_alone():
    gc.disable()
    try:
        for make in (lambda: Value(2.0), lambda: Tensor([2.0], requires_grad=True)):
            x = make()
            h = x * 3
            probe = weakref.ref(h)
            y = (h * h).exp() if isinstance(x, Value) else (h * h).sum()
            y.backward()
            del h
            assert probe() is not None  # the result still holds the graph
            del y
            assert probe() is None
    finally:
        gc.enable()


def test_graph_order_is_reverse_creation():
    x = Value(1.0)
    a = x * 2
    b = a + x
    c = b * a
    order = graph(c)
    assert order == [c, b, a, x]


@pytest.mark.parametrize("f, d2", [
    (lambda x: x.exp(), lambda x: math.exp(x)),
    (lambda x: x.log(), lambda x: -1 / x**2),
    (lambda x: x.tanh(), lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
    (lambda x: x.sin(), lambda x: -math.sin(x)),
    (lambda x: x**3, lambda x: 6 * x),
    (lambda x: 1 / x, lambda x: 2 / x**3),
])
def test_second_derivative_through_create_graph(f, d2):
    for make in (Value, lambda v: Tensor(v, requires_grad=True)):
        x = make(0.7)
        f(x).backward(create_graph=True)
        g = x.grad
        x.grad = None if isinstance(x, Tensor) else 0.0
        g.backward()
        assert float(x.grad) == pytest.approx(d2(0.7), rel=1e-12)


def test_create_graph_leaves_a_node_in_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0])


def test_detect_anomaly_names_the_op_and_line():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt().sum()  # the line reported
        with pytest.raises(FloatingPointError, match=r"sqrt.*test_engine\.py:\d+"):
            y.backward()
    y.backward()  # outside anomaly mode: IEEE inf, no exception
    assert x.grad[0] == math.inf


def test_detect_anomaly_nests_and_is_off_again_after_an_exception():
    from autograd import engine

    x = Tensor([0.0], requires_grad=True)
    with pytest.raises(KeyError):
        with detect_anomaly():
            with detect_anomaly():
                pass
            y = x.sqrt().sum()  # still in anomaly mode after the inner block closed
            with pytest.raises(FloatingPointError, match="sqrt"):
                y.backward()
            raise KeyError
    assert engine.anomaly_users[0] == 0 and not engine.state.anomaly
    z = x.sqrt().sum()
    assert z not in engine.traces  # recorded outside anomaly mode: no creation site kept
    z.backward()  # and its backward gives IEEE inf, silently
    assert x.grad[0] == math.inf


def test_one_detect_anomaly_instance_may_be_nested_and_restores_each_level():
    from autograd import engine

    d = detect_anomaly()
    with d:
        with d:
            assert engine.state.anomaly
        assert engine.state.anomaly and engine.anomaly_users[0] == 1
    assert not engine.state.anomaly and engine.anomaly_users[0] == 0


def test_a_nan_upstream_gradient_propagates():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(np.array([np.nan, 1.0]))
    assert np.isnan(x.grad[0]) and x.grad[1] == 2.0


def test_detect_anomaly_names_a_changed_constant_and_a_write_through_data():
    import autograd as ag

    def tensor_constant():
        W, x = Tensor(np.ones(3), requires_grad=True), np.array([1.0, 2.0, 3.0])
        with detect_anomaly():
            y = (W * x).sum()
        x[0] = 10.0  # no version counter sees a plain numpy array
        return y

    def tensor_data():
        W, V = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
        with detect_anomaly():
            y = (W * V).exp().sum()
        V.data[0] = 10.0  # writes through .data bypass the version counter
        return y

    def output_data():
        W = Tensor(np.ones(3), requires_grad=True)
        with detect_anomaly():
            y = W.exp()
        y.data[1] = 0.0  # exp's rule reads its output
        return y.sum()

    def value_data():
        a, b = Value(2.0), Value(3.0)
        with detect_anomaly():
            c = a * b
        b.data = 5.0
        return c

    for make, what in [(tensor_constant, "input 1 of 'mul'"), (tensor_data, "input 1 of 'mul'"),
                       (output_data, "the output of 'exp'"), (value_data, "input 1 of 'mul'")]:
        y = make()
        with pytest.raises(RuntimeError, match=f"detect_anomaly: {what} \\(created at "
                                               f"{__file__}:\\d+\\) changed after it was recorded"):
            y.backward()  # the check holds outside the block too: the graph was recorded in it

    # no false alarm: unchanged constants, and changes of values the rule does not read
    W, x = Tensor(np.ones(3), requires_grad=True), np.array([1.0, 2.0, 3.0])
    with detect_anomaly():
        ag.where(x > 1, W * x, 0.0).sum().backward()
        y = (W + x).sum()
    np.testing.assert_array_equal(W.grad, [0.0, 2.0, 3.0])
    x[0] = 10.0  # add's rule does not read its inputs
    y.backward()
    np.testing.assert_array_equal(W.grad, [1.0, 3.0, 4.0])


LIBRARY = """
def double_sqrt(x):
    return x.sqrt() * 2.0  # the line of the library
"""


def test_hide_frames_skips_a_librarys_frames_in_anomaly_reports(tmp_path, monkeypatch):
    """autograd knows no other package: a library built on it (nn does this at import)
    registers itself, and anomaly reports then name the line that called the library. Only
    that package and its submodules are hidden, not every name that starts the same way."""
    from autograd import engine

    for name in ("mylib", "mylib_extra"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(engine, "_hidden_packages", list(engine._hidden_packages))
    import mylib
    import mylib_extra

    def site(lib):
        x = Tensor([0.0], requires_grad=True)
        with detect_anomaly():
            y = lib.double_sqrt(x).sum()  # the line of the caller
            with pytest.raises(FloatingPointError) as info:
                y.backward()
        return str(info.value)

    library_line = f"{tmp_path / 'mylib' / '__init__.py'}:3"
    assert library_line in site(mylib)  # not registered: the library's own line
    hide_frames("mylib")
    hide_frames("mylib")  # registering twice is harmless
    caller = site(mylib)
    assert f"{__file__}:" in caller and library_line not in caller
    assert f"{tmp_path / 'mylib_extra' / '__init__.py'}:3" in site(mylib_extra)
    assert engine._hidden_packages.count("mylib") == 1
    with pytest.raises(TypeError, match="hide_frames: package must be a str"):
        hide_frames(None)
    with pytest.raises(ValueError, match="hide_frames: package must not be empty"):
        hide_frames("")


# ----- scopes --------------------------------------------------------------------------------
def test_scopes_nest_join_with_dots_and_are_restored_after_an_exception():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert current_scope() is None
    with pytest.raises(KeyError):
        with scope("encoder"):
            a = x * 2.0
            with scope("attn"):
                b = a.exp()
                assert current_scope() == "encoder.attn"
                with scope("head", absolute=True):  # not joined: the path is the name
                    c = b.sum()
                assert current_scope() == "encoder.attn"
            d = a + b
            raise KeyError
    assert current_scope() is None
    assert [n._scope for n in (a, b, c, d)] == ["encoder", "encoder.attn", "head", "encoder"]
    assert (x * 1.0)._scope is None and x._scope is None  # outside any scope; a leaf
    s = scope("block")  # one instance may be shared and nested: each level is restored
    with s:
        with s:
            assert current_scope() == "block.block"
        assert current_scope() == "block"
    assert current_scope() is None


def test_a_scope_is_recorded_by_tensors_that_are_recorded_only():
    x = Tensor([1.0], requires_grad=True)
    with scope("s"):
        recorded = x * 2.0
        with no_grad():
            untracked = x * 2.0
        constant = Tensor([1.0]) * 2.0
        v = Value(1.0) * 2.0
    assert recorded._scope == "s"
    assert untracked._scope is None and constant._scope is None
    assert v._scope is None  # Value nodes record no scope (it would slow every scalar op)


def test_scopes_are_thread_local():
    seen = []
    entered, done = threading.Event(), threading.Event()

    def other():
        entered.wait()
        seen.append(current_scope())
        with scope("worker"):
            seen.append((Tensor([1.0], requires_grad=True) * 2.0)._scope)
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with scope("main"):
        entered.set()
        done.wait()
        assert current_scope() == "main"
    t.join()
    assert seen == [None, "worker"]


@pytest.mark.parametrize("name, error", [(1, TypeError), (None, TypeError), ("", ValueError)])
def test_a_scope_name_must_be_a_nonempty_str(name, error):
    with pytest.raises(error, match="scope: name"):
        scope(name)


# ----- grad mode as a decorator --------------------------------------------------------------
@pytest.mark.parametrize("mode", [no_grad, enable_grad])
def test_grad_mode_decorates_with_and_without_parentheses(mode):
    def f(x):
        """Doubles."""
        return x * 2, is_grad_enabled()

    x = Tensor([1.0], requires_grad=True)
    for decorated in (mode(f), mode()(f)):
        assert decorated.__name__ == "f" and decorated.__doc__ == "Doubles."
        for outer in (no_grad, enable_grad):
            with outer():
                y, enabled = decorated(x)
                assert enabled is (mode is enable_grad) and y.requires_grad is enabled
                assert is_grad_enabled() is (outer is enable_grad)  # restored on return
    with pytest.raises(TypeError, match=f"{mode.__name__}: can decorate a function, not int"):
        mode(3)


@pytest.mark.parametrize("mode", [no_grad, enable_grad])
def test_grad_mode_on_a_generator_holds_at_every_resume_and_is_restored_at_every_yield(mode):
    """As in PyTorch: the generator body runs in the decorator's mode (after next, send and
    throw alike), the caller gets its own mode back at each yield, close runs in the mode,
    and the return value comes through."""
    inside = mode is enable_grad
    x = Tensor([1.0], requires_grad=True)
    seen = []

    @mode
    def steps(n):
        for i in range(n):
            try:
                sent = yield (x * i).requires_grad
            except KeyError:
                sent = "thrown"
            seen.append((sent, is_grad_enabled()))
        try:
            yield "last"
        finally:
            seen.append(("closed", is_grad_enabled()))
        return "done"

    for outer in (no_grad, enable_grad):
        seen.clear()
        caller = outer is enable_grad
        with outer():
            gen = steps(3)
            assert next(gen) is inside and is_grad_enabled() is caller
            assert gen.send("a") is inside and is_grad_enabled() is caller
            assert gen.throw(KeyError()) is inside and is_grad_enabled() is caller
            assert next(gen) == "last" and is_grad_enabled() is caller
            gen.close()
            assert is_grad_enabled() is caller
        assert seen == [("a", inside), ("thrown", inside), (None, inside), ("closed", inside)]
    with pytest.raises(StopIteration) as info:
        gen = steps(0)
        next(gen)
        next(gen)
    assert info.value.value == "done"


def test_a_generator_in_no_grad_resumed_by_two_threads_leaves_each_its_own_mode():
    """Grad mode is per thread: each resume sets it in the thread that resumes, and gives that
    thread's mode back; a thread that never entered no_grad keeps recording."""
    @no_grad
    def gen():
        while True:
            yield is_grad_enabled()

    g = gen()
    results, errors = [], []
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(200):
                with lock:  # a generator cannot run in two threads at once
                    results.append(next(g))
                if not is_grad_enabled():
                    errors.append("the caller's grad mode leaked out of the generator")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [False] * 400 and is_grad_enabled()


def test_grad_mode_refuses_to_decorate_an_async_function():
    async def f():
        return 1

    async def agen():
        yield 1

    for fn in (f, agen):
        with pytest.raises(TypeError, match="no_grad: cannot decorate the async function"):
            no_grad(fn)


# ----- custom rules --------------------------------------------------------------------------
def _custom_product(returns):
    """x * y as a custom primitive whose VJP returns ``returns(g, x, y)``."""
    return primitive("product", lambda xp, x, y: x * y,
                     lambda xp, g, out, x, y: returns(g, x, y))


WRONG_COUNTS = {"one of two": (lambda g, x, y: (g * y,), 1),
                "a bare gradient": (lambda g, x, y: g * y, 1),
                "three": (lambda g, x, y: (g * y, g * x, g), 3)}


@pytest.mark.parametrize("wrong", sorted(WRONG_COUNTS))
@pytest.mark.parametrize("kind", ["Value", "Tensor"])
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("constant", [None, 0, 1])
def test_a_custom_rule_returning_the_wrong_number_of_gradients_is_a_runtime_error(
        wrong, kind, create_graph, constant):
    """On every path that replays the rule (backward, create_graph, the functional transforms,
    explain): a RuntimeError naming the op and both counts, never a gradient left at None."""
    returns, count = WRONG_COUNTS[wrong]
    product = _custom_product(returns)
    make = (lambda v: Value(v)) if kind == "Value" else (
        lambda v: Tensor([v, v], requires_grad=True))
    raw = (lambda v: v) if kind == "Value" else (lambda v: np.array([v, v]))
    leaves = [make(2.0), make(3.0)]
    args = [raw(3.0) if i == constant else leaf for i, leaf in enumerate(leaves)]
    message = f"product: its VJP returned {count} gradients for 2 inputs"
    out = product(*args)
    out = out.sum() if kind == "Tensor" else out
    with pytest.raises(RuntimeError, match=message):
        out.backward(create_graph=create_graph)
    assert all(leaf.grad is None or leaf.grad == 0.0 for leaf in leaves)
    with pytest.raises(RuntimeError, match=message):
        explain(out)
    i = 1 if constant == 0 else 0

    def f(v):
        xs = list(args)
        xs[i] = v
        y = product(*xs)
        return y.sum() if kind == "Tensor" else y

    with pytest.raises(RuntimeError, match=message):
        grad(f)(raw(2.0))
    with pytest.raises(RuntimeError, match=message):
        grad(lambda v: grad(f)(v) * 1.0 if kind == "Value" else grad(f)(v).sum())(raw(2.0))


def test_a_custom_rule_with_one_gradient_per_input_works_with_a_constant():
    product = _custom_product(lambda g, x, y: (g * y, g * x))
    x = Value(2.0)
    product(x, 3.0).backward()
    assert x.grad == 3.0
    t = Tensor([2.0, 5.0], requires_grad=True)
    product(np.array([3.0, 4.0]), t).sum().backward(create_graph=True)
    np.testing.assert_array_equal(t.grad.data, [3.0, 4.0])
