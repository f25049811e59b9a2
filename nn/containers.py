"""``ModuleList`` and ``ModuleDict``: modules held in a list or a dict, named as in PyTorch
(``"0"``, ``"1"``, ... and by key), so that their parameters are found and saved."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any

from .module import Module, _flatten, _structure


def _module(m: Any, what: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{what}: expected a Module, got {type(m).__name__}")
    return m


class ModuleList(Module):
    """A list of modules: indexing (a slice gives a ModuleList), ``len``, iteration,
    ``append``, ``extend``, ``insert``, ``pop``, ``+=``; children are named ``"0"``, ``"1"``,
    ... by position. It has no ``forward``: call its modules in your own."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        self._list: list[Module] = []
        if modules is not None:
            self.extend(modules)

    def _entries(self) -> Iterator[tuple[str, Any]]:
        for i, m in enumerate(self._list):
            yield str(i), m
        for attr, value in vars(self).items():  # anything assigned later, as on any module
            if attr != "_list":
                yield from _flatten(attr, value)

    def _changed(self) -> ModuleList:
        _structure[0] += 1  # module paths and labels are cached until the structure changes
        return self

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        self._list.append(_module(module, "ModuleList.append"))
        return self._changed()

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add modules at the end; returns self."""
        new = [_module(m, "ModuleList.extend") for m in modules]  # all checked, then added
        self._list.extend(new)
        return self._changed()

    def insert(self, index: int, module: Module) -> None:
        """Insert a module before ``index``."""
        self._list.insert(index, _module(module, "ModuleList.insert"))
        self._changed()

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at ``index``."""
        m = self._list.pop(index)
        self._changed()
        return m

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(self._list[index])
        return self._list[index]

    def __setitem__(self, index: int, module: Module) -> None:
        self._list[index] = _module(module, "ModuleList")
        self._changed()

    def __delitem__(self, index: int | slice) -> None:
        del self._list[index]
        self._changed()

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self._list, *other])

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._list)


class ModuleDict(Module):
    """A dict of modules, in insertion order, with the mapping API (``d[key]``, ``in``,
    ``len``, iteration over keys, ``keys``, ``values``, ``items``, ``update``, ``pop``,
    ``clear``); children are named by their key, which must be a non-empty str without a
    dot (a dot would make dotted names ambiguous)."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None
                 = None) -> None:
        self._dict: dict[str, Module] = {}
        if modules is not None:
            self.update(modules)

    def _entries(self) -> Iterator[tuple[str, Any]]:
        yield from self._dict.items()
        for attr, value in vars(self).items():
            if attr != "_dict":
                yield from _flatten(attr, value)

    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict: keys must be str, got {type(key).__name__}")
        if not key or "." in key:
            raise ValueError(f"ModuleDict: a key must be non-empty and have no '.', got {key!r}")
        return key

    def __getitem__(self, key: str) -> Module:
        return self._dict[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self._dict[self._key(key)] = _module(module, "ModuleDict")
        _structure[0] += 1  # module paths and labels are cached until the structure changes

    def __delitem__(self, key: str) -> None:
        del self._dict[key]
        _structure[0] += 1

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __len__(self) -> int:
        return len(self._dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def keys(self) -> KeysView[str]:
        """The keys, in insertion order."""
        return self._dict.keys()

    def values(self) -> ValuesView[Module]:
        """The modules, in insertion order."""
        return self._dict.values()

    def items(self) -> ItemsView[str, Module]:
        """(key, module) pairs, in insertion order."""
        return self._dict.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from (key, module) pairs; all are checked
        before any is added."""
        pairs = list(modules.items() if isinstance(modules, Mapping) else modules)
        checked = []
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"ModuleDict.update: expected (key, module) pairs, got {pair!r}")
            checked.append((self._key(pair[0]), _module(pair[1], "ModuleDict.update")))
        self._dict.update(checked)
        _structure[0] += 1

    def pop(self, key: str) -> Module:
        """Remove and return the module at ``key``."""
        m = self._dict.pop(key)
        _structure[0] += 1
        return m

    def clear(self) -> None:
        """Remove every module."""
        self._dict.clear()
        _structure[0] += 1
