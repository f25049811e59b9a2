"""nn.optim: parameter groups as PyTorch's (options per group, defaults, add_param_group,
state_dict with groups), RMSprop, and the trajectories of every optimizer against PyTorch's
(tests/fixtures/optim.npz, written by tests/fixtures/make_optim.py). The update rules of SGD,
Adam and AdamW are also checked against the published formulas in tests/test_nn.py.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import nn
from autograd import Tensor

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "optim.npz")
CASES = json.loads(str(FIXTURE["cases"]))
STEPS = CASES["steps"]


def fixture_params():
    return [nn.Parameter(FIXTURE[f"p0/{i}"]) for i in range(len(CASES["shapes"]))]


def make(cls, defaults, second, ps):
    second = {k: tuple(v) if k == "betas" else v for k, v in second.items()}
    defaults = {k: tuple(v) if k == "betas" else v for k, v in defaults.items()}
    return getattr(nn, cls)([{"params": ps[:2]}, {"params": ps[2:], **second}], **defaults)


def set_grads(ps, t):
    for i, p in enumerate(ps):
        p.grad = None if (t == 2 and i == 1) else FIXTURE[f"grad/{t}/{i}"].copy()


@pytest.mark.parametrize("name", list(CASES["optimizers"]))
def test_trajectories_with_two_parameter_groups_equal_pytorchs(name):
    """Two groups with their own options, a parameter without gradient at one step, and the
    first group's lr changed by hand between steps: every parameter after every step equals
    PyTorch's."""
    ps = fixture_params()
    opt = make(*CASES["optimizers"][name], ps)
    for t in range(STEPS):
        set_grads(ps, t)
        opt.step()
        if t == 3:
            opt.param_groups[0]["lr"] *= 0.5
        for i, p in enumerate(ps):
            np.testing.assert_allclose(p.data, FIXTURE[f"{name}/{t}/{i}"], rtol=1e-12,
                                       atol=1e-14, err_msg=f"{name}, step {t}, parameter {i}")


def test_groups_take_missing_options_from_the_defaults_and_keep_extra_keys():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    opt = nn.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "name": "head"}], lr=0.1,
                 momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    assert opt.param_groups[1]["name"] == "head" and opt.param_groups[1]["params"] == [b]
    assert opt.defaults == {"lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                            "weight_decay": 0.0, "nesterov": False}
    assert opt.params == [a, b]


def test_each_group_steps_with_its_own_lr_read_at_every_step():
    a, b = nn.Parameter([1.0]), nn.Parameter([1.0])
    opt = nn.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.5)
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.0)


def test_add_param_group_adds_parameters_with_their_options_and_state():
    a, b = nn.Parameter([1.0, 2.0]), nn.Parameter([3.0])
    opt = nn.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    a.grad, b.grad = np.ones(2), np.ones(1)
    opt.step()
    assert opt.state[1]["step"] == 1 and opt.state[1]["exp_avg"].shape == (1,)
    np.testing.assert_allclose(b.data, [3.0 - 0.01], rtol=1e-9)


def test_a_parameter_in_two_groups_or_twice_in_one_is_a_value_error():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    with pytest.raises(ValueError, match="more than one parameter group"):
        nn.SGD([{"params": [a, b]}, {"params": [b]}], lr=0.1)
    opt = nn.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [b, b]})
    assert len(opt.param_groups) == 1 and len(opt.state) == 1  # nothing half-added


def test_group_options_are_checked_and_bad_groups_are_refused():
    p = nn.Parameter([1.0])
    with pytest.raises(ValueError, match="SGD: lr must be >= 0, got -1"):
        nn.SGD([{"params": [p], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="RMSprop: alpha must be >= 0"):
        nn.RMSprop([p], alpha=-0.5)
    with pytest.raises(ValueError, match="Adam: betas"):
        nn.Adam([{"params": [p], "betas": (0.9, 1.5)}])
    with pytest.raises(ValueError, match="nesterov"):
        nn.SGD([{"params": [p], "nesterov": True}], lr=0.1, momentum=0.0)
    with pytest.raises(ValueError, match="'params' entry"):
        nn.SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(TypeError, match="must be a dict"):
        nn.SGD([p], lr=0.1).add_param_group([p])
    with pytest.raises(TypeError, match="expected Tensors, got dict"):
        nn.SGD([p, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        nn.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="must be floating point, got int64"):
        nn.SGD([{"params": nn.Parameter([1.0])}, {"params": Tensor([1, 2])}], lr=0.1)


@pytest.mark.parametrize("call", [
    lambda m: nn.Adam(m), lambda m: nn.Adam([m]), lambda m: nn.Adam([{"params": m}]),
    lambda m: nn.Adam([nn.Parameter([1.0])]).add_param_group({"params": m}),
    lambda m: nn.SGD(m, lr=0.1), lambda m: nn.SGD(m.modules(), lr=0.1)])
def test_passing_a_module_says_to_pass_its_parameters(call):
    with pytest.raises(TypeError, match=r"got a module \(Linear\); pass model.parameters\(\)"):
        call(nn.Linear(2, 2))


def test_setting_an_option_as_an_attribute_is_refused_not_ignored():
    opt = nn.SGD([nn.Parameter([1.0])], lr=0.1)
    with pytest.raises(AttributeError, match=r"param_groups\[i\]\['lr'\]"):
        opt.lr = 0.01
    assert opt.param_groups[0]["lr"] == 0.1


def test_state_dict_carries_the_groups_as_pytorchs_does():
    ps = fixture_params()
    opt = make("RMSprop", {"momentum": 0.9}, {"lr": 0.001, "centered": True}, ps)
    set_grads(ps, 0)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1] == {"lr": 0.001, "alpha": 0.99, "eps": 1e-8,
                                     "weight_decay": 0.0, "momentum": 0.9, "centered": True,
                                     "params": [2]}
    assert sorted(sd["state"]) == [0, 1, 2]
    assert sorted(sd["state"][2]) == ["grad_avg", "momentum_buffer", "square_avg", "step"]


@pytest.mark.parametrize("name", list(CASES["optimizers"]))
def test_state_dict_round_trip_with_groups_resumes_identically(name):
    ps = fixture_params()
    opt = make(*CASES["optimizers"][name], ps)
    for t in range(3):
        set_grads(ps, t)
        opt.step()
    opt.param_groups[1]["lr"] = 0.02  # an option changed by hand is saved too
    saved, saved_p = opt.state_dict(), [p.data.copy() for p in ps]
    for t in range(3, STEPS):
        set_grads(ps, t)
        opt.step()

    ps2 = [nn.Parameter(p) for p in saved_p]
    opt2 = make(*CASES["optimizers"][name], ps2)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == 0.02 and opt2.param_groups[1]["params"] == ps2[2:]
    for t in range(3, STEPS):
        set_grads(ps2, t)
        opt2.step()
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p2.data, p.data)


def test_load_state_dict_refuses_other_groups_and_changes_nothing():
    a, b, c = nn.Parameter([1.0]), nn.Parameter([2.0]), nn.Parameter([[3.0, 4.0]])
    opt = nn.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    a.grad, b.grad, c.grad = np.ones(1), np.ones(1), np.ones((1, 2))
    opt.step()
    before = opt.state_dict()
    one_group = nn.SGD([a, b, c], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="the state has 1 parameter groups, this optimizer "
                                         "has 2"):
        opt.load_state_dict(one_group)
    other = nn.SGD([{"params": [a]}, {"params": [b, c]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters in the state, "
                                         "2 here"):
        opt.load_state_dict(other)
    bad = opt.state_dict()
    bad["state"][2]["momentum_buffer"] = np.ones(2)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 2 has shape \(2,\), "
                                         r"the parameter has \(1, 2\)"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert all(np.array_equal(after["state"][i]["momentum_buffer"],
                              before["state"][i]["momentum_buffer"]) for i in range(3))


def test_rmsprop_first_step_by_hand():
    """The first step of each RMSprop variant, written out from torch.optim.RMSprop's
    documentation (v starts at 0; eps is added outside the root)."""
    g, w = np.array([0.5, -2.0]), np.array([1.0, 1.0])
    p = nn.Parameter(w)
    p.grad = g.copy()
    nn.RMSprop([p], lr=0.1, alpha=0.9).step()
    np.testing.assert_allclose(p.data, w - 0.1 * g / (np.sqrt(0.1 * g * g) + 1e-8), rtol=1e-14)
    p = nn.Parameter(w)
    p.grad = g.copy()
    nn.RMSprop([p], lr=0.1, alpha=0.9, centered=True).step()
    v, a = 0.1 * g * g, 0.1 * g
    np.testing.assert_allclose(p.data, w - 0.1 * g / (np.sqrt(v - a * a) + 1e-8), rtol=1e-14)


def test_repr_shows_every_group():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    text = repr(nn.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1))
    assert text.startswith("SGD(group 0: 1 parameters, lr=0.1,")
    assert "; group 1: 1 parameters, lr=0.5," in text


def test_load_state_dict_maps_saved_indices_through_the_saved_groups():
    """The state is keyed by the indices the saved groups list, whatever they are."""
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0, 3.0])
    opt = nn.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    sd = {"state": {7: {"momentum_buffer": np.array([4.0, 5.0])}, 3: {}},
          "param_groups": [{**opt.state_dict()["param_groups"][0], "params": [3]},
                           {**opt.state_dict()["param_groups"][1], "params": [7]}]}
    opt.load_state_dict(sd)
    assert opt.state[0] == {} and list(opt.state[1]["momentum_buffer"]) == [4.0, 5.0]
    sd["state"][8] = {}
    with pytest.raises(ValueError, match="parameter index 8 is in no parameter group"):
        opt.load_state_dict(sd)
