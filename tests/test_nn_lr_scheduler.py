"""nn.lr_scheduler: the learning rates (and OneCycleLR's momenta) step by step against
PyTorch's (tests/fixtures/optim.npz, written by tests/fixtures/make_optim.py), state_dict and
load_state_dict, and the checks of the arguments.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nn
from nn import lr_scheduler

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "optim.npz")
CASES = json.loads(str(FIXTURE["cases"]))["schedulers"]
LAMBDAS = {"decay": lambda e: 0.95 ** e, "inverse": lambda e: 1.0 / (e + 1),
           "warmup": lambda e: min(1.0, (e + 1) / 5)}  # as in make_optim.py


def optimizer(kind="SGD"):
    ps = [nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2)), nn.Parameter(np.ones(1))]
    groups = [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.01}]
    return nn.SGD(groups, lr=0.1, momentum=0.9) if kind == "SGD" else nn.Adam(groups, lr=0.1)


def scheduler(name, opt=None):
    cls, kwargs, kind, _ = CASES[name]
    kw = dict(kwargs)
    if "lr_lambda" in kw:
        f = kw["lr_lambda"]
        kw["lr_lambda"] = [LAMBDAS[g] for g in f] if isinstance(f, list) else LAMBDAS[f]
    opt = opt or optimizer(kind)
    return getattr(lr_scheduler, cls)(opt, **kw), opt


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("name", list(CASES))
def test_learning_rates_and_momenta_step_by_step_equal_pytorchs(name):
    sched, opt = scheduler(name)
    lrs, moms = [sched.get_last_lr()], [momenta(opt)]
    for t in range(CASES[name][3]):
        opt.step()
        sched.step()
        if name.endswith("_chained") and t == 9:  # chainable: a change by hand is kept
            for g in opt.param_groups:
                g["lr"] *= 2.0
        lrs.append(sched.get_last_lr())
        moms.append(momenta(opt))
    np.testing.assert_allclose(lrs, FIXTURE[f"sched/{name}/lr"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moms, FIXTURE[f"sched/{name}/momentum"], rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == FIXTURE[f"sched/{name}/last_epoch"]
    assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def test_the_optimizer_steps_with_the_scheduled_lr():
    p = nn.Parameter([0.0])
    opt = nn.SGD([p], lr=1.0)
    sched = nn.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = np.array([-1.0])
        opt.step()
        sched.step()
    assert p.data[0] == 1.0 + 0.5 + 0.25


def test_initial_lr_is_kept_and_base_lrs_come_from_it():
    opt = optimizer()
    sched = nn.ExponentialLR(opt, gamma=0.5)
    assert sched.base_lrs == [0.1, 0.01] and sched.last_epoch == 0
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.01]
    sched.step()
    again = nn.StepLR(opt, step_size=3)  # a second scheduler keeps the first initial lr
    assert again.base_lrs == [0.1, 0.01] and again.get_last_lr() == [0.05, 0.005]


@pytest.mark.parametrize("name", ["step", "cosine", "lambda_list", "onecycle",
                                  "onecycle_adam_linear_3"])
def test_state_dict_round_trip_resumes_the_same_schedule(name):
    sched, opt = scheduler(name)
    for _ in range(5):
        opt.step()
        sched.step()
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    rest = []
    for _ in range(10):
        opt.step()
        sched.step()
        rest.append(sched.get_last_lr() + momenta(opt))

    opt2 = optimizer(CASES[name][2])
    sched2, _ = scheduler(name, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.last_epoch == 5 and sched2.get_last_lr() == saved_sched["_last_lr"]
    again = []
    for _ in range(10):
        opt2.step()
        sched2.step()
        again.append(sched2.get_last_lr() + momenta(opt2))
    assert again == rest


def test_state_dict_is_a_copy_without_the_optimizer():
    sched, _ = scheduler("step")
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 0 and sd["step_size"] == 7
    sd["base_lrs"].append(1.0)
    assert sched.base_lrs == [0.1, 0.01]


class Warmup:
    """A callable object: LambdaLR saves its attributes (a function it cannot)."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.steps)


def test_lambda_lr_saves_no_function_but_the_attributes_of_callable_objects():
    opt = optimizer()
    sched = nn.LambdaLR(opt, [lambda e: 0.5 ** e, Warmup(4)])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"steps": 4}]
    other = nn.LambdaLR(optimizer(), [lambda e: 1.0, Warmup(10)])
    other.load_state_dict(sd)
    assert other.lr_lambdas[1].steps == 4 and other.lr_lambdas[0](3) == 1.0  # its own function
    assert other.last_epoch == 0


def test_resuming_with_last_epoch_needs_initial_lr():
    p = nn.Parameter([1.0])
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        nn.StepLR(nn.SGD([p], lr=0.1), step_size=2, last_epoch=4)
    opt = nn.SGD([{"params": [p], "initial_lr": 1.0}], lr=0.1)
    sched = nn.LambdaLR(opt, lambda e: 1.0 / e, last_epoch=4)
    assert sched.last_epoch == 5 and sched.get_last_lr() == [0.2]


def test_one_cycle_refuses_to_step_past_total_steps():
    opt = optimizer()
    sched = nn.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(2):
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.1 / 25 / 1e4, rel=1e-12)
    sched.step()  # as PyTorch: one step more is allowed (its lr extrapolates)
    with pytest.raises(ValueError, match="stepped 4 times, more than total_steps = 3"):
        sched.step()


def test_one_cycle_cycles_adam_beta1_and_keeps_beta2():
    opt = optimizer("Adam")
    nn.OneCycleLR(opt, max_lr=0.1, total_steps=10, base_momentum=0.8, max_momentum=0.9)
    assert [g["betas"] for g in opt.param_groups] == [(0.9, 0.999)] * 2


@pytest.mark.parametrize("make, kind, message", [
    (lambda o: nn.StepLR(o, step_size=0), ValueError, "StepLR: step_size must be a positive"),
    (lambda o: nn.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be a positive"),
    (lambda o: nn.LambdaLR(o, [lambda e: 1.0]), ValueError,
     "lr_lambda has 1 values, the optimizer has 2 parameter groups"),
    (lambda o: nn.LambdaLR(o, 0.5), TypeError, "lr_lambda must be callable"),
    (lambda o: nn.OneCycleLR(o, max_lr=0.1), ValueError,
     "give total_steps, or epochs and steps_per_epoch"),
    (lambda o: nn.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError, "total_steps"),
    (lambda o: nn.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=-1), ValueError,
     "steps_per_epoch"),
    (lambda o: nn.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5), ValueError,
     "pct_start"),
    (lambda o: nn.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     ValueError, "anneal_strategy"),
    (lambda o: nn.OneCycleLR(o, max_lr=[0.1, 0.2, 0.3], total_steps=5), ValueError,
     "max_lr has 3 values"),
    (lambda o: nn.OneCycleLR(nn.Optimizer(o.params, {"lr": 0.1}), max_lr=0.1, total_steps=5),
     ValueError, "momentum or betas, Optimizer has neither"),
    (lambda o: nn.StepLR(o.params, step_size=2), TypeError, "expected an Optimizer, got list"),
])
def test_bad_scheduler_arguments_are_clear_errors(make, kind, message):
    with pytest.raises(kind, match=message):
        make(optimizer())


def test_cosine_annealing_reaches_eta_min_at_t_max_and_comes_back():
    opt = optimizer()
    sched = nn.CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(8):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    closed = [0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(9)]
    np.testing.assert_allclose(lrs, closed, rtol=1e-12)
