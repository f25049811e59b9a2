"""The tape behind a result, and a plain-text walk through its backward pass.

``tape(root)`` lists the ops that lead to ``root`` in the order they ran: the list that
``backward`` replays in reverse. ``explain(root)`` narrates that replay for teaching: it listens
to the one backward pass (no second copy of it, nor of the calculus) and never writes to any
``.grad``; ``explain(root, mode="forward")`` narrates forward mode's replay, the tangent sweep,
the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import backend
from .engine import Node, backprop, forward_order, graph, push_tangents

FULL_LIMIT = 40  # explain() shows every step of graphs with at most this many ops
_EDGE = 5  # ...and the first and last few of larger ones
_TABLE_LIMIT = 200  # str(Tape) shows every row up to this many entries


# ----- formatting, shared with autograd.viz -----------------------------------------------------
def format_number(x: Any) -> str:
    """A number with up to 7 significant digits (``-4``, ``138.8338``, ``1e-08``)."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.7g}"


def format_array(a: Any, digits: int = 4) -> str:
    """Values of a small array (six or fewer elements) on one line, else min / mean / max
    (min / max for integers and booleans)."""
    a = np.asarray(a)
    if a.ndim == 0:
        x = a.item()
        return f"{x:.{digits}g}" if isinstance(x, float) else format_number(x)
    if a.size <= 6:
        short: Any = {"float_kind": lambda v: f"{v:.{digits}g}"}
        text = np.array2string(a, separator=", ", max_line_width=10**6, formatter=short)
        return " ".join(text.split())
    if a.dtype.kind in "biu":  # labels, counts, masks: a mean of them would be a float
        return f"min {format_number(a.min())} max {format_number(a.max())}"
    with backend.quiet():
        lo, mean, hi = a.min(), a.mean(), a.max()
    return f"min {lo:.{digits}g} mean {mean:.{digits}g} max {hi:.{digits}g}"


def format_data(x: Any) -> str:
    """A float as a number, an array as ``shape dtype values``."""
    if isinstance(x, np.ndarray):
        return f"{tuple(x.shape)} {x.dtype} {format_array(x)}"
    return format_number(x)


def format_params(params: dict | None, width: int = 30) -> str:
    """An op's keyword parameters, short (``axis=(1,)``); defaults are left out."""
    parts = []
    for k, v in (params or {}).items():
        if v is None or v is False:
            continue
        text = " ".join(f"{k}={v}".split())
        parts.append(text if len(text) <= width else text[: width - 3] + "...")
    return " ".join(parts)


def format_bytes(n: int) -> str:
    """A size in bytes, short: ``512 B``, ``1.5 kB``, ``24.4 MB`` (powers of 1000)."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s" if word == "op" else f"{n} leaves"


def _plus(terms: list[str]) -> str:
    """Terms joined by ``+``, a negative number's by ``-``: ``1 - 0.5``, not ``1 + -0.5``."""
    text = terms[0]
    for t in terms[1:]:
        text += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return text


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# ----- the tape ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One recorded op: its position on the tape, its name, what it read and what it made.

    ``inputs`` holds nodes and plain constants as the op stored them; ``output`` is the node
    the op produced; ``params`` its keyword parameters (axis, shape, ...) or None. For a
    ``Tensor`` tape, ``kept`` is the bytes of the arrays this entry holds alive until the
    graph is dropped that no earlier entry or leaf holds (its output, a gradient left in its
    ``.grad``, constants; a view counted by its base) and ``read`` the bytes of the values its
    VJP reads (the op's ``reads`` fact); None for a ``Value`` tape.
    """

    index: int
    op: str
    inputs: tuple
    output: Node
    params: dict | None = None
    kept: int | None = None
    read: int | None = None


class Tape(list):
    """The entries leading to a result, in execution order (a list of ``Entry``).

    ``str()`` is a table: index, op, inputs and output. Nodes are called by their label, or
    ``%i`` (the output of entry ``i``) and ``leafK`` when they have none; ``name(node)`` says
    which.
    """

    def __init__(self, entries: list[Entry], root: Node, names: dict[Node, str],
                 leaves: list[Node]) -> None:
        super().__init__(entries)
        self.root = root
        self.leaves = leaves
        self._names = names

    def name(self, x: Any) -> str:
        """How this tape calls a node, or a short description of a constant."""
        if isinstance(x, Node):
            return self._names.get(x) or "?"
        if isinstance(x, np.ndarray):
            return f"const {format_data(x)}"
        return format_number(x) if isinstance(x, (int, float, np.number)) else repr(x)

    def describe(self, entry: Entry) -> str:
        """``out = op(inputs)`` for one entry."""
        params = format_params(entry.params)
        args = ", ".join(self.name(a) for a in entry.inputs)
        return f"{self.name(entry.output)} = {entry.op}({args}{', ' + params if params else ''})"

    def rows(self, entries: list[Entry], memory: bool = True) -> list[str]:
        """Table rows (with the header) for some of the entries; with ``memory``, on a
        ``Tensor`` tape, the columns ``kept`` and ``read`` (bytes, see ``Entry``)."""
        memory = memory and bool(self) and self[0].kept is not None
        table = [(str(e.index), f"{e.op} {format_params(e.params)}".strip(),
                  _clip(", ".join(self.name(a) for a in e.inputs), 60))
                 + ((format_bytes(e.kept or 0), format_bytes(e.read or 0)) if memory else ())
                 + (f"{self.name(e.output)} = {_clip(format_data(e.output.data), 60)}",)
                 for e in entries]
        head = ("#", "op", "inputs") + (("kept", "read") if memory else ()) + ("output",)
        n = len(head) - 1
        widths = [max([len(head[i])] + [len(r[i]) for r in table]) for i in range(n)]
        return ["  ".join(c.rjust(w) if 3 <= i < n else c.ljust(w)
                          for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[n]
                for r in [head] + table]

    def leaf_lines(self) -> list[str]:
        """One line per leaf: its name and data."""
        return [f"  {self.name(n)} = {format_data(n.data)}"
                f"{'' if n.requires_grad else '  (no grad)'}" for n in self.leaves]

    def __str__(self) -> str:
        lines = [f"tape of {self.name(self.root)}: {_count(len(self), 'op')}, "
                 f"{_count(len(self.leaves), 'leaf')}"]
        if self.leaves:
            lines += ["leaves:"] + self.leaf_lines()[:_TABLE_LIMIT]
        if len(self) <= _TABLE_LIMIT:
            lines += self.rows(list(self))
        else:
            rows = self.rows(self[:20] + self[-20:])
            lines += rows[:21] + [f"... ({len(self) - 40} more entries) ..."] + rows[21:]
        return "\n".join(lines)

    __repr__ = __str__


def tape(root: Node) -> Tape:
    """The ops leading to ``root`` in the order they ran (leaves are not entries).

    This is the list that ``backward`` replays in reverse. Iterative; works for ``Value`` and
    ``Tensor`` graphs alike.
    """
    nodes = graph(root)
    nodes.reverse()  # ascending creation number: execution order
    entries = [Entry(i, n._op.name, n._args, n, n._params or None)
               for i, n in enumerate(n for n in nodes if n._op is not None)]
    leaves: list[Node] = []
    seen = set()
    for e in entries:
        for a in e.inputs:
            if isinstance(a, Node) and a._op is None and a not in seen:
                seen.add(a)
                leaves.append(a)
    if root._op is None:
        leaves.append(root)
    if isinstance(root.data, np.ndarray):
        entries = _with_bytes(entries)
    names = {e.output: f"%{e.index}" for e in entries}
    names.update((n, f"leaf{k}") for k, n in enumerate(leaves))
    counts = Counter(n.label for n in names if n.label)
    for n, default in names.items():
        if n.label:
            names[n] = n.label if counts[n.label] == 1 else f"{n.label}({default})"
    return Tape(entries, root, names, leaves)


# ----- replaying the backward pass without touching .grad --------------------------------------
@dataclass
class _Send:
    to: Node
    pos: int  # which argument of the op
    grad: Any  # what the op sends to this input (already summed back to its shape)
    total: Any  # the input's gradient after adding it
    before: Any  # ... and before (None for the first contribution)
    k: int  # this is contribution k of `uses`
    uses: int


@dataclass
class _Step:
    entry: Entry
    grad: Any  # the gradient arriving at the entry's output
    parts: list  # (tape index of consumer or None for the seed, value) when several arrived
    sends: list


def _seed(root: Node) -> Any:
    if isinstance(root.data, np.ndarray):
        return np.ones(root.data.shape, dtype=root.data.dtype)
    return 1.0


def _vjp(node: Node, g: Any, need: tuple) -> tuple:
    """The op table's VJP on raw values, as the first-order backward calls it."""
    vals = tuple(a.data if isinstance(a, Node) else a for a in node._args)
    with backend.quiet():
        return node._op.vjp(type(node)._ns, g, node.data, need, *vals, **(node._params or {}))


def _replay(t: Tape) -> tuple[list[_Step], dict]:
    """Steps of the backward pass over ``t`` (reverse order) and the leaves' gradients, as the
    one backward pass (``engine.backprop``) computes them: explain only listens."""
    uses: Counter = Counter()
    for e in t:
        for a in e.inputs:
            if isinstance(a, Node) and a.requires_grad:
                uses[a] += 1
    seed = _seed(t.root)
    parts: dict = {t.root: [(None, seed)]}
    got: Counter = Counter()
    entry = {e.output: e for e in t}
    steps: list[_Step] = []

    def observe(n: Node, g: Any, sent: list) -> None:
        e = entry[n]
        sends = []
        pos = -1
        for a, ga, before, total in sent:
            pos = next(i for i in range(pos + 1, len(e.inputs)) if e.inputs[i] is a)
            got[a] += 1
            if uses[a] > 1:
                parts.setdefault(a, []).append((e.index, ga))
            sends.append(_Send(a, pos, ga, total, before, got[a], uses[a]))
        steps.append(_Step(e, g, parts.pop(n, []), sends))

    if not t:  # a leaf: nothing to replay
        return steps, {t.root: seed}
    return steps, backprop(t.root, seed, observe=observe)


def _local(step: _Step) -> list:
    """Local derivatives of an elementwise op (its VJP with g = 1), one per sent input."""
    e = step.entry
    if not (e.output._scalar or e.output._op.elementwise):
        return [None] * len(step.sends)
    need = tuple(isinstance(a, Node) and a.requires_grad for a in e.inputs)
    local: Any = _vjp(e.output, _seed(e.output), need)
    if not e.output._scalar:
        local = [None if lg is None else np.asarray(lg) for lg in local]
    return [local[s.pos] for s in step.sends]


def _step_lines(t: Tape, step: _Step, number: int, total: int) -> list[str]:
    e = step.entry
    lines = [f"step {number} of {total} (tape #{e.index}): {t.describe(e)}"]
    g = format_data(step.grad)
    if len(step.parts) > 1:
        terms = _plus([f"{format_data(v)} (from {'the seed' if i is None else f'#{i}'})"
                       for i, v in step.parts])
        g = f"{terms} = {g}"
    lines.append(f"    gradient arriving at {t.name(e.output)}: {g}")
    formulas: list = [None] * len(e.inputs)
    if not (e.output._scalar or e.output._op.elementwise or e.output._op.custom):
        from .trace import vjp_formulas  # the program printer (it imports this module's peers)

        first, formulas = vjp_formulas(e.output, [t.name(a) for a in e.inputs],
                                       t.name(e.output))
        lines += [f"    where {line}" for line in first]
    for s, local in zip(step.sends, _local(step)):
        if local is None and formulas[s.pos] is not None:  # the formula, g the arriving one
            how = formulas[s.pos] + " ="
        elif local is None:
            how = f"sends the VJP of {e.op} ="
        elif not isinstance(local, np.ndarray):
            how = f"local derivative {format_data(local)}, sends {format_data(step.grad)} x " \
                  f"{format_data(local)} ="
        else:
            how = f"local derivative {format_data(local)}, sends gradient x local"
            if s.grad.shape != e.output.data.shape:
                how += f" summed back to shape {s.grad.shape}"
            how += " ="
        line = f"    to {t.name(s.to)}: {how} {format_data(s.grad)}"
        if s.uses > 1:
            running = format_data(s.total) if s.before is None else \
                f"{_plus([format_data(s.before), format_data(s.grad)])} = {format_data(s.total)}"
            line += f"   [{t.name(s.to)} is used {s.uses} times; running total {running}" \
                    f" ({s.k} of {s.uses})]"
        lines.append(line)
    return lines


def explain(root: Node, mode: str = "reverse", tangents: dict | None = None) -> str:
    """A plain-text walk through the backward pass of ``root``, for teaching.

    It shows the tape in execution order, then each replay step in reverse: the node and its
    op, the gradient arriving from its consumers, the local derivative (elementwise ops), what
    it sends to each input, and the running total of a value that is used several times (where
    gradients are summed). Graphs of more than 40 ops are summarised (counts per op, the first
    and last steps). The numbers come from the op table's VJPs; no ``.grad`` is changed.
    Returns the text; it prints nothing.

    ``mode="forward"`` walks through forward mode instead: the tangent sweep, in execution
    order, from a tangent for each leaf that requires grad (``tangents``, a dict from leaves to
    tangents of their shapes; ones for the leaves it leaves out: the derivative along all
    leaves at once). Each step shows the tangents arriving at the op's inputs, its local
    derivatives (elementwise ops) and the tangent it sends on; the result is J v, the
    derivative of ``root`` along those tangents. The numbers come from the op table's JVPs.
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"explain: mode must be 'reverse' or 'forward', got {mode!r}")
    if mode == "forward":
        return _explain_forward(root, tangents)
    if tangents is not None:
        raise ValueError("explain: tangents are for mode='forward'")
    t = tape(root)
    kind = type(root).__name__
    lines = [f"explain: backward of {t.name(root)} = {format_data(root.data)} ({kind}); "
             f"{_count(len(t), 'op')} on the tape, {_count(len(t.leaves), 'leaf')}", ""]
    small = len(t) <= FULL_LIMIT
    lines.append("Forward pass: the tape in execution order")
    if t.leaves:
        lines += ["leaves:"] + t.leaf_lines()[: None if small else 20]
        if not small and len(t.leaves) > 20:
            lines.append(f"  ... and {len(t.leaves) - 20} more leaves")
    if small:
        lines += t.rows(list(t), memory=False)
    else:
        counts = Counter(e.op for e in t)
        lines.append("ops: " + ", ".join(f"{op} x{c}" for op, c in counts.most_common()))
        rows = t.rows(t[:_EDGE] + t[-_EDGE:], memory=False)
        lines += rows[: _EDGE + 1] + [f"... ({len(t) - 2 * _EDGE} more entries) ..."] + \
            rows[_EDGE + 1:]
    lines += ["", "Backward pass: the tape replayed in reverse, one VJP per step",
              f"seed: gradient of {t.name(root)} with respect to itself = "
              f"{format_data(_seed(root))}"]
    if isinstance(root.data, np.ndarray) and root.data.size != 1:
        lines.append("    (not a scalar: seeded with ones, as backward(ones) would be)")
    steps, grads = _replay(t)
    total = len(t)
    for number, step in enumerate(steps, 1):
        if small or number <= _EDGE or number > total - _EDGE:
            lines += _step_lines(t, step, number, total)
        elif number == _EDGE + 1:
            lines.append(f"... ({total - 2 * _EDGE} steps not shown) ...")
    lines += ["", "Result: the gradient of each leaf (what one backward() adds to its .grad)"]
    shown = [n for n in t.leaves if n.requires_grad]
    for n in shown[: None if small else 20]:
        g = grads.get(n)
        lines.append(f"  {t.name(n)}: grad = {'0 (no path)' if g is None else format_data(g)}")
    if not small and len(shown) > 20:
        lines.append(f"  ... and {len(shown) - 20} more leaves")
    return "\n".join(lines)


# ----- the tangent sweep (forward mode) ---------------------------------------------------------
def _local_forward(n: Node) -> list:
    """Local derivatives of an elementwise op, one per input (None for constants)."""
    if not (n._scalar or n._op.elementwise):
        return [None] * len(n._args)
    need = tuple(isinstance(a, Node) and a.requires_grad for a in n._args)
    local = _vjp(n, _seed(n), need)
    return [None if lg is None or not nd else lg if n._scalar else np.asarray(lg)
            for lg, nd in zip(local, need)]


def _explain_forward(root: Node, tangents: dict | None) -> str:
    t = tape(root)
    kind = type(root).__name__
    small = len(t) <= FULL_LIMIT
    lines = [f"explain: forward mode of {t.name(root)} = {format_data(root.data)} ({kind}); "
             f"{_count(len(t), 'op')} on the tape, {_count(len(t.leaves), 'leaf')}", ""]
    lines.append("Forward pass: the tape in execution order")
    if small:
        lines += t.rows(list(t))
    else:
        rows = t.rows(t[:_EDGE] + t[-_EDGE:])
        lines += rows[: _EDGE + 1] + [f"... ({len(t) - 2 * _EDGE} more entries) ..."] + \
            rows[_EDGE + 1:]
    leaves = [n for n in t.leaves if n.requires_grad]
    given = tangents or {}
    unknown = [k for k in given if not any(k is n for n in leaves)]
    if unknown:
        raise ValueError(f"explain: a tangent was given for {len(unknown)} node(s) that are not "
                         f"leaves of this tape requiring grad")
    seeds = {}
    for n in leaves:
        v = given.get(n)
        if v is None:
            v = _seed(n)
        elif isinstance(n.data, np.ndarray):
            v = np.asarray(v, dtype=n.data.dtype)
            if v.shape != n.data.shape:
                raise ValueError(f"explain: the tangent of {t.name(n)} has shape {v.shape}, the "
                                 f"leaf {n.data.shape}; they must be the same")
        else:
            v = float(v)
        seeds[n] = v
    lines += ["", "Tangent sweep: the tape replayed forward, one JVP per step",
              "seeds: the tangent of each leaf (the direction v)"]
    lines += [f"  {t.name(n)}: {format_data(v)}" for n, v in list(seeds.items())[:20]]
    if len(seeds) > 20:
        lines.append(f"  ... and {len(seeds) - 20} more leaves")
    entry = {e.output: e for e in t}
    steps: list = []
    push_tangents(forward_order(root, leaves) if leaves else [], seeds,
                  observe=lambda n, ts, out: steps.append((n, ts, out)))
    total = len(steps)
    for number, (n, ts, out) in enumerate(steps, 1):
        if small or number <= _EDGE or number > total - _EDGE:
            lines += _forward_step_lines(t, entry[n], ts, out, number, total)
        elif number == _EDGE + 1:
            lines.append(f"... ({total - 2 * _EDGE} steps not shown) ...")
    got = {n: out for n, _, out in steps}
    result = got.get(root, seeds.get(root))
    lines += ["", f"Result: the tangent of {t.name(root)}, J v (its derivative along v): "
              f"{'0 (no path)' if result is None else format_data(result)}"]
    return "\n".join(lines)


def _forward_step_lines(t: Tape, e: Entry, ts: list, out: Any, number: int, total: int
                        ) -> list[str]:
    lines = [f"step {number} of {total} (tape #{e.index}): {t.describe(e)}"]
    arriving = [f"{t.name(a)}: {format_data(v)}" for a, v in zip(e.inputs, ts) if v is not None]
    lines.append(f"    tangents arriving: {', '.join(arriving)}")
    local = _local_forward(e.output)
    terms = []
    for a, v, d in zip(e.inputs, ts, local):
        if v is None or d is None:
            continue
        terms.append(f"d/d{t.name(a)} = {format_data(d)}")
    if len(terms) == sum(v is not None for v in ts) and terms:
        lines.append(f"    local derivative{'s' if len(terms) > 1 else ''}: {'; '.join(terms)}")
        how = "sum of tangent x local" if len(terms) > 1 else "tangent x local"
    else:
        how = f"the JVP of {e.op}"
        if e.output._op.linear:
            how += f" (linear: {e.op} of the tangents)"
    lines.append(f"    tangent of {t.name(e.output)}: {how} = {format_data(out)}")
    return lines


# ----- memory: what the graph keeps alive until it is dropped ------------------------------------
def _base(a: np.ndarray) -> np.ndarray:
    """The array that owns a view's memory (the view itself when it owns it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _held(n: Node) -> list[np.ndarray]:
    """The arrays an entry's node holds: its output, its ``.grad``, its constants, what its
    forward kept for its VJP."""
    held = [n.data]
    if isinstance(n.grad, np.ndarray):
        held.append(n.grad)
    held += [a for a in n._args if isinstance(a, np.ndarray)]
    held += [v for v in (n._params or {}).values() if isinstance(v, np.ndarray)]
    held += [v for v in getattr(n, "_res", None) or () if isinstance(v, np.ndarray)]
    return held


def _read(n: Node) -> list[np.ndarray]:
    """The arrays ``n``'s VJP reads, by its op's ``reads`` fact."""
    reads = n._op.reads
    vals = [a.data if isinstance(a, Node) else a for i, a in enumerate(n._args)
            if "inputs" in reads or i in reads]
    if "out" in reads:
        vals.append(n.data)
    return [v for v in vals if isinstance(v, np.ndarray)]


def _unique_bytes(arrays: list[np.ndarray], skip: set[int]) -> int:
    total = 0
    for a in arrays:
        b = _base(a)
        if id(b) not in skip:
            skip.add(id(b))
            total += b.nbytes
    return total


def _leaf_bases(entries: list[Entry]) -> set[int]:
    """The arrays the leaves hold: their owners keep them, not the graph."""
    bases: set[int] = set()
    for e in entries:
        for a in e.inputs:
            if isinstance(a, Node) and a._op is None:
                bases.add(id(_base(a.data)))
    return bases


def _with_bytes(entries: list[Entry]) -> list[Entry]:
    """The entries with ``kept`` and ``read`` filled in."""
    seen = _leaf_bases(entries)
    return [Entry(e.index, e.op, e.inputs, e.output, e.params,
                  kept=_unique_bytes(_held(e.output), seen),
                  read=_unique_bytes(_read(e.output), set()))
            for e in entries]


@dataclass(frozen=True)
class Memory:
    """What a graph keeps alive until it is dropped (``autograd.memory``), in bytes.

    ``total``: every array its entries hold (outputs, gradients left in ``.grad``,
    constants), each counted once, a view by its base; the leaves' arrays are not counted
    (``leaves``: their owners keep them). ``read``: the part of ``total`` that the VJPs read
    (by each op's ``reads`` fact), the least any engine must keep; the rest is kept because
    each node holds its output. ``by_op`` and ``by_module`` split ``total`` (a module counts
    what its sub-modules keep; entries outside any module are under ``""``).
    ``checkpoint_frees``: per module, the bytes that running it under ``autograd.checkpoint``
    would free (what it keeps that nothing outside it holds). ``entries``: the tape, with the
    bytes of each entry (``Entry.kept``, ``Entry.read``).
    """

    total: int
    read: int
    leaves: int
    by_op: dict[str, int]
    by_module: dict[str, int]
    checkpoint_frees: dict[str, int]
    entries: Tape

    def __repr__(self) -> str:
        lines = [f"memory of {self.entries.name(self.entries.root)}: {format_bytes(self.total)} "
                 f"kept by {_count(len(self.entries), 'op')} ({format_bytes(self.read)} read by "
                 f"backward; leaves hold {format_bytes(self.leaves)} more)", "by op:"]
        lines += [f"  {op:<16} {format_bytes(b):>9}" for op, b in
                  sorted(self.by_op.items(), key=lambda kv: -kv[1])]
        if self.by_module:
            names = {m: m or "(outside modules)" for m in self.by_module}
            width = max(len(v) for v in names.values())
            lines.append(f"{'by module:':<{width + 5}}{'kept':>9}  checkpoint frees")
            lines += [f"  {names[m]:<{width}}   {format_bytes(b):>9}  "
                      f"{format_bytes(self.checkpoint_frees[m]) if m else '-':>9}"
                      for m, b in self.by_module.items()]
        return "\n".join(lines)


def memory(root: Node) -> Memory:
    """What backward will keep alive behind ``root``, in bytes, per op and per module, and
    what checkpointing each module would free (``Memory``). A ``Tensor`` graph's report;
    ``tape(root)`` shows the same bytes per entry (columns ``kept`` and ``read``)."""
    if not isinstance(root, Node) or not isinstance(root.data, np.ndarray):
        raise TypeError(f"memory: expected a Tensor, got {type(root).__name__}")
    t = tape(root)
    leaf_bases = _leaf_bases(list(t))
    if root._op is None:
        leaf_bases.add(id(_base(root.data)))
    by_op: dict[str, int] = {}
    by_module: dict[str, int] = {}
    for e in t:
        by_op[e.op] = by_op.get(e.op, 0) + (e.kept or 0)
        for m in _scopes(e.output):
            by_module[m] = by_module.get(m, 0) + (e.kept or 0)
    # who holds each array: a module frees one only if all its holders are its own nodes and
    # none of them is used outside it (an output)
    holders: dict[int, list[Node]] = {}
    sizes: dict[int, int] = {}
    for e in t:
        for a in _held(e.output):
            b = _base(a)
            if id(b) not in leaf_bases:
                holders.setdefault(id(b), []).append(e.output)
                sizes[id(b)] = b.nbytes
    used_outside: dict[str, set[int]] = {m: set() for m in by_module}
    for e in t:
        inside = set(_scopes(e.output))
        for a in e.inputs:
            if isinstance(a, Node) and a._op is not None:
                for m in _scopes(a):
                    if m not in inside:
                        used_outside[m].add(id(a))
    for m in _scopes(root):
        used_outside[m].add(id(root))
    frees = {m: 0 for m in by_module}
    for key, nodes in holders.items():
        common = set(_scopes(nodes[0]))
        for n in nodes[1:]:
            common &= set(_scopes(n))
        for m in common:
            if m and not any(id(n) in used_outside[m] for n in nodes):
                frees[m] += sizes[key]
    read = _unique_bytes([a for e in t for a in _read(e.output)], set(leaf_bases))
    leaves = _unique_bytes([n.data for n in t.leaves], set())
    return Memory(sum(e.kept or 0 for e in t), read, leaves, by_op, by_module, frees, t)


def _scopes(n: Node) -> list[str]:
    """The module paths an entry was recorded in, outermost first (``""``: none)."""
    path = n._scope
    if not path:
        return [""]
    parts = str(path).split(".")
    return [".".join(parts[:i + 1]) for i in range(len(parts))]
