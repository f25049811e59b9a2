"""nn/containers.py: ModuleList and ModuleDict (names, list and mapping APIs, errors), and a
model built from them against PyTorch's (tests/fixtures/make_nn_layers.py)."""

from pathlib import Path

import numpy as np
import pytest

import nn
from autograd import Tensor, concatenate, current_scope

FIX = np.load(Path(__file__).parent / "fixtures" / "nn_layers.npz")


class Lists(nn.Module):
    """The fixture's model: a ModuleList called in order, then a ModuleDict of heads."""

    def __init__(self):
        self.layers = nn.ModuleList([nn.Linear(3, 4), nn.Tanh()])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 1)})

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return concatenate([self.heads["a"](x), self.heads["b"](x)], axis=1)


def test_a_model_of_containers_has_pytorchs_names_values_and_gradients():
    m = Lists()
    assert list(m.state_dict()) == list(FIX["containers/keys"])
    nn.from_torch_state_dict(m, {k: FIX[f"containers/param/{k}"] for k in m.state_dict()})
    x = Tensor(FIX["containers/x"], requires_grad=True)
    y = m(x)
    (y * FIX["containers/u"]).sum().backward()
    np.testing.assert_allclose(y.data, FIX["containers/out"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, FIX["containers/dx"], rtol=1e-12, atol=1e-14)
    grads = nn.to_torch_state_dict(m)  # (the same names and layouts, for the gradients)
    for name, p in m.named_parameters():
        g = p.grad.T if name.endswith("weight") else p.grad
        np.testing.assert_allclose(g, FIX[f"containers/grad/{name}"], rtol=1e-12, atol=1e-14)
        assert name in grads


def test_module_list_is_a_list_of_modules_named_by_position():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3)
    ml = nn.ModuleList([a])
    assert ml.append(b) is ml and ml.extend([c]) is ml
    assert len(ml) == 3 and list(ml) == [a, b, c] and ml[-1] is c
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(ml[1:], nn.ModuleList) and list(ml[1:]) == [b, c]
    ml.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Linear", "Tanh", "ReLU", "Linear"]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    ml[1] = nn.Sigmoid()
    del ml[2]
    assert ml.pop() is c and len(ml) == 2
    ml += [nn.Identity()]
    both = ml + nn.ModuleList([c])
    assert len(both) == 4 and len(ml) == 3
    assert "(1): Sigmoid()" in repr(ml)
    assert nn.ModuleList().state_dict() == {}


def test_module_list_refuses_what_is_not_a_module_and_has_no_forward():
    ml = nn.ModuleList([nn.ReLU()])
    for action in (lambda: ml.append(3), lambda: ml.extend([nn.ReLU(), "x"]),
                   lambda: ml.insert(0, None), lambda: ml.__setitem__(0, 1.0),
                   lambda: nn.ModuleList([nn.Linear(1, 1), np.ones(2)])):
        with pytest.raises(TypeError, match=r"ModuleList.*: expected a Module, got"):
            action()
    assert len(ml) == 1  # extend checks everything before adding anything
    with pytest.raises(NotImplementedError):
        ml(np.ones(2))
    with pytest.raises(IndexError):
        ml[5]


def test_module_dict_is_a_mapping_of_modules_named_by_key():
    a, b = nn.Linear(2, 2), nn.Linear(2, 1)
    md = nn.ModuleDict({"enc": a})
    md["dec"] = b
    assert list(md) == ["enc", "dec"] and list(md.keys()) == ["enc", "dec"]
    assert list(md.values()) == [a, b] and list(md.items()) == [("enc", a), ("dec", b)]
    assert "enc" in md and "x" not in md and len(md) == 2 and md["dec"] is b
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    md.update([("act", nn.ReLU())])
    md.update({"enc": nn.Linear(2, 3)})  # replaces, in place
    assert list(md) == ["enc", "dec", "act"] and md["enc"].out_features == 3
    assert md.pop("act").__class__ is nn.ReLU
    del md["dec"]
    assert list(md) == ["enc"]
    md.clear()
    assert len(md) == 0 and md.state_dict() == {}
    with pytest.raises(KeyError):
        md["missing"]


def test_module_dict_refuses_bad_keys_and_values_and_changes_nothing():
    md = nn.ModuleDict()
    with pytest.raises(TypeError, match="ModuleDict: keys must be str, got int"):
        md[1] = nn.ReLU()
    for key in ("", "a.b"):
        with pytest.raises(ValueError, match="a key must be non-empty and have no '.'"):
            md[key] = nn.ReLU()
    with pytest.raises(TypeError, match="ModuleDict.update: expected a Module, got float"):
        md.update({"a": nn.ReLU(), "b": 1.0})
    with pytest.raises(TypeError, match=r"expected \(key, module\) pairs"):
        md.update(["ab"])
    assert len(md) == 0


def test_modules_added_to_containers_after_a_call_get_their_paths():
    """The module-path cache is invalidated by the containers' own changes too."""
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(current_scope())
            return x

    for container, add in ((nn.ModuleList([Probe()]), lambda c: c.append(Probe())),
                           (nn.ModuleDict({"p": Probe()}), lambda c: c.update({"q": Probe()})),
                           (nn.Sequential(Probe()), lambda c: c.append(Probe()))):
        class Outer(nn.Module):
            def __init__(self, c):
                self.c = c

            def forward(self, x):
                for m in (self.c if not isinstance(self.c, nn.ModuleDict) else
                          self.c.values()):
                    x = m(x)
                return x

        outer = Outer(container)
        outer(Tensor(1.0))
        add(container)
        seen.clear()
        outer(Tensor(1.0))
        assert seen[-1] in ("c.1", "c.q"), seen
