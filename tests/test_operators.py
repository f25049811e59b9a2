"""The methods generated from the op table, and the stub that types them."""

import os

import numpy as np
import pytest

from autograd import Tensor, Value, operators, tape
from autograd.engine import registry


def test_the_stub_is_written_from_the_table():
    path = os.path.join(os.path.dirname(operators.__file__), "operators.pyi")
    with open(path) as f:
        assert f.read() == operators.stub(), "run: python -m autograd.operators"


METHODS = [(op, name) for op in registry.values() for name in op.methods]


@pytest.mark.parametrize("op, name", METHODS, ids=[f"{op.name}.{n}" for op, n in METHODS])
def test_every_declared_method_records_its_op(op, name):
    kinds = [Value, Tensor] if op.scalar else [Tensor]
    for kind in kinds:
        x = kind(1.5) if kind is Value else Tensor(np.array([1.5, 2.0]), requires_grad=True)
        method = getattr(kind, name)
        assert op.doc and method.__doc__.startswith(op.doc)
        other = 3.0 if op.scalar else np.array([1.0, 2.0])
        out = method(x) if len(op.inputs) == 1 else method(x, other)
        assert isinstance(out, kind) and out._op is op
        entry = tape(out)[-1]
        if len(op.inputs) == 2:  # a reflected method takes its operands the other way round
            expected = (other, x) if name.startswith("__r") else (x, other)
            assert entry.inputs[0] is expected[0] and entry.inputs[1] is expected[1]
    if not op.scalar:
        assert not hasattr(Value, name) or name in ("__pos__",)


def test_python_operators_reach_the_generated_methods():
    a, b = Value(3.0), Value(2.0)
    assert [(a + b).data, (a - b).data, (a * b).data, (a / b).data, (a ** b).data,
            (-a).data, abs(Value(-2.0)).data] == [5.0, 1.0, 6.0, 1.5, 9.0, -3.0, 2.0]
    assert (2.0 - a).data == -1.0 and (2.0 / b).data == 1.0 and (2.0 ** b).data == 4.0
    t = Tensor(np.eye(2))
    np.testing.assert_array_equal((t @ np.ones(2)).data, [1.0, 1.0])
    np.testing.assert_array_equal((np.ones(2) @ t).data, [1.0, 1.0])
