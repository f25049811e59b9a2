"""autograd.tree: the pytree registry, flatten/unflatten round trips, tree_map, errors."""

import collections
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

from autograd import Tensor, Value
from autograd.tree import (
    PyTreeDef,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_unflatten,
)


class Pair(NamedTuple):
    w: object
    b: object


@dataclasses.dataclass
class Layer:
    weight: object
    bias: object
    derived: float = dataclasses.field(init=False, default=0.0)


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: object


def test_dict_leaves_come_in_sorted_key_order_as_in_jax():
    leaves, treedef = tree_flatten({"w": 1.0, "b": 2.0, "a": 3.0})
    assert leaves == [3.0, 2.0, 1.0]
    rebuilt = tree_unflatten(treedef, leaves)
    assert rebuilt == {"w": 1.0, "b": 2.0, "a": 3.0}
    assert list(rebuilt) == ["a", "b", "w"]  # rebuilt with sorted keys, as JAX does
    assert tree_flatten({"b": 0, "a": 0})[1] == tree_flatten({"a": 0, "b": 0})[1]


def test_an_ordered_dict_keeps_its_order():
    d = collections.OrderedDict([("w", 1.0), ("b", 2.0)])
    leaves, treedef = tree_flatten(d)
    assert leaves == [1.0, 2.0]
    assert tree_unflatten(treedef, leaves) == d
    assert type(tree_unflatten(treedef, leaves)) is collections.OrderedDict


def test_round_trip_of_nested_containers_keeps_types_and_leaf_identity():
    W, t, v = np.ones((2, 3)), Tensor([1.0, 2.0]), Value(3.0)
    tree = {"layers": [Pair(W, 0.5), Layer(t, (v, None))], "scale": 2, "none": None}
    leaves, treedef = tree_flatten(tree)
    assert leaves[0] is W and leaves[2] is t and leaves[3] is v and leaves[1::3] == [0.5, 2]
    rebuilt = tree_unflatten(treedef, leaves)
    assert type(rebuilt["layers"][0]) is Pair and type(rebuilt["layers"][1]) is Layer
    assert rebuilt["layers"][0].w is W and rebuilt["layers"][1].weight is t
    assert rebuilt["layers"][1].bias == (v, None) and rebuilt["none"] is None
    assert rebuilt["scale"] == 2 and tree_leaves(tree) == leaves


def test_none_is_an_empty_node_and_empty_containers_keep_their_place():
    leaves, treedef = tree_flatten([None, (), {}, [1.0]])
    assert leaves == [1.0] and treedef.num_leaves == 1
    assert tree_unflatten(treedef, [5.0]) == [None, (), {}, [5.0]]
    assert tree_flatten(None)[0] == []
    assert tree_unflatten(tree_flatten(None)[1], []) is None


def test_a_single_leaf_is_a_tree_of_one_leaf():
    leaves, treedef = tree_flatten(np.float64(2.0))
    assert leaves == [2.0]
    assert tree_unflatten(treedef, [3.0]) == 3.0


def test_dataclasses_rebuild_through_their_constructor_from_init_fields():
    leaves, treedef = tree_flatten(Layer(1.0, 2.0))
    assert leaves == [1.0, 2.0]  # `derived` is not an init field: not a child
    assert tree_unflatten(treedef, [3.0, 4.0]) == Layer(3.0, 4.0)
    frozen = tree_unflatten(tree_flatten(Frozen(1.0))[1], [2.0])
    assert frozen == Frozen(2.0)


def test_treedefs_compare_by_structure_and_print_like_jax():
    a = tree_flatten({"w": [1.0, 2.0], "p": Pair(1.0, None)})[1]
    b = tree_flatten({"p": Pair(np.ones(2), None), "w": [Tensor(1.0), 3]})[1]
    assert a == b and hash(a) == hash(b) and isinstance(a, PyTreeDef)
    assert a != tree_flatten({"w": [1.0], "p": Pair(1.0, None)})[1]
    assert a != tree_flatten({"w": (1.0, 2.0), "p": Pair(1.0, None)})[1]  # list vs tuple
    assert repr(a) == "PyTreeDef({'p': Pair(w=*, b=None), 'w': [*, *]})"


def test_tree_map_applies_f_leafwise_over_several_trees():
    x = {"a": [1.0, 2.0], "b": np.array([1.0, 2.0])}
    y = {"a": [10.0, 20.0], "b": np.array([3.0, 4.0])}
    z = tree_map(lambda p, q: p + q, x, y)
    assert z["a"] == [11.0, 22.0]
    np.testing.assert_array_equal(z["b"], [4.0, 6.0])
    assert tree_map(lambda p: p, None) is None


def test_tree_map_refuses_trees_of_different_structures():
    with pytest.raises(ValueError, match=r"tree 1 has structure PyTreeDef\(\[\*\]\).*\[\*, \*\]"):
        tree_map(lambda p, q: p, [1.0, 2.0], [1.0])


def test_is_leaf_stops_the_walk():
    leaves, treedef = tree_flatten({"a": [1.0, 2.0], "b": (3.0,)},
                                   is_leaf=lambda x: isinstance(x, list))
    assert leaves == [[1.0, 2.0], 3.0]
    assert tree_unflatten(treedef, ["x", "y"]) == {"a": "x", "b": ("y",)}
    assert tree_map(len, {"a": [1, 2]}, is_leaf=lambda x: isinstance(x, list)) == {"a": 2}


def test_an_unsupported_leaf_is_a_type_error_naming_its_path():
    with pytest.raises(TypeError, match=r"tree\['layer'\]\[2\] is a str"):
        tree_flatten({"layer": [1.0, 2.0, "3"]})
    with pytest.raises(TypeError, match=r"tree\[0\]\.b\.weight is a object"):
        tree_flatten([Pair(1.0, Layer(object(), 1.0))])
    with pytest.raises(TypeError, match="set"):
        tree_leaves({1.0, 2.0})


def test_dict_keys_that_cannot_be_sorted_are_a_type_error():
    with pytest.raises(TypeError, match="keys of a dict must be sortable"):
        tree_flatten({1: 1.0, "a": 2.0})


def test_tree_unflatten_checks_the_number_of_leaves():
    treedef = tree_flatten([1.0, 2.0])[1]
    with pytest.raises(ValueError, match="has 2 leaves, got 3"):
        tree_unflatten(treedef, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="expected a PyTreeDef"):
        tree_unflatten([1.0], [1.0])


class Box:
    """A user type made a container with register_pytree_node."""

    def __init__(self, items, name):
        self.items, self.name = items, name


register_pytree_node(Box, lambda b: (b.items, b.name), lambda name, c: Box(list(c), name))


def test_registered_types_are_containers():
    leaves, treedef = tree_flatten({"box": Box([1.0, np.ones(2)], "k")})
    assert leaves[0] == 1.0 and leaves[1].shape == (2,)
    box = tree_unflatten(treedef, [5.0, 6.0])["box"]
    assert type(box) is Box and box.items == [5.0, 6.0] and box.name == "k"
    assert tree_flatten(Box([1.0], "k"))[1] != tree_flatten(Box([1.0], "other"))[1]
    with pytest.raises(TypeError, match=r"tree\[1\] is a str"):
        tree_flatten(Box([1.0, "x"], "k"))
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(Box, lambda b: ((), None), lambda a, c: Box([], ""))
    with pytest.raises(TypeError, match="expected a type"):
        register_pytree_node("Box", lambda b: ((), None), lambda a, c: None)  # type: ignore


def test_a_deep_tree_flattens_without_recursion():
    deep: object = 1.0
    for _ in range(5000):
        deep = [deep]
    leaves, treedef = tree_flatten(deep)
    assert leaves == [1.0]
    rebuilt = tree_unflatten(treedef, [2.0])
    for _ in range(5000):
        rebuilt = rebuilt[0]
    assert rebuilt == 2.0
