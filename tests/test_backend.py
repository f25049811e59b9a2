"""The raw namespaces: what the rules see, and the errors they give."""

import numpy as np
import pytest

import autograd
from autograd import Tensor, backend


# ----- errors and edge cases: what a custom rule may call ----------------------------------------
def test_a_custom_op_may_take_a_mean_over_an_int_axis_as_it_takes_a_sum():
    rowmean = autograd.primitive("rowmean", lambda xp, x: xp.mean(x, 1),
                                 lambda xp, g, out, x: (xp.broadcast_to(
                                     xp.reshape(g, (-1, 1)), x.shape) * (1.0 / x.shape[1]),))
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(rowmean(Tensor(x)).data, [1.0, 4.0])
    assert autograd.gradcheck(rowmean, x)


# ----- empty reductions --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["max", "min"])
def test_an_empty_reduction_is_named_as_such_and_nothing_else_is(name):
    reduce = getattr(backend.numpy_ns, name)
    with pytest.raises(ValueError, match=rf"^{name}: the tensor of shape \(0, 3\) has size 0"):
        reduce(np.ones((0, 3)), (0,))
    assert reduce(np.ones((3, 0)), (0,)).shape == (0,)  # nothing reduced over nothing: fine
    # numpy's own error for a bad axis, where "size 0" would be a wrong guess
    with pytest.raises(ValueError, match="out of bounds") as info:
        reduce(np.array(1.0), (0,))
    assert "size 0" not in str(info.value)
