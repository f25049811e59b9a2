"""The notebooks run, once each, and print what they have stored (nbval's approach).

Every ``notebooks/*.ipynb`` (found by glob, so a new notebook is covered without a change here)
runs top to bottom in a fresh kernel, in the notebooks folder. Its fresh text outputs are then
compared, cell by cell, with the outputs stored in the file: each code cell's stdout, its stderr
and its ``text/plain`` results. Images, HTML, execution counts and timings are not compared.
Before comparing, both sides are normalised in two documented ways only:

- memory addresses: ``0x7f3a9c1d2e50`` becomes ``0x...`` (``<... Digraph at 0x...>`` reprs);
- a float printed at full precision (15 or more significant digits, as ``repr`` prints a
  float64, e.g. the seed's ``Loss: 0.11474807801874294``) is compared to 12 significant digits:
  its last bits may differ on another machine (BLAS kernels, SIMD math); a float printed with
  a format (``:.4f``) is compared as printed;
- consecutive stream outputs are joined: the kernel may split one cell's prints into several
  outputs, depending on timing.

A cell tagged ``nbval-ignore-output`` (nbval's tag) runs, but its output is not compared: only
notebook 4's cell of hypothesis draws has it, because hypothesis also draws the literal
constants it finds in the source code under test, so those draws change with any new constant
in autograd (it drew erf's 2.56852019 once erf existed).

A mismatch fails with a unified diff naming the notebook, the cell and the stream. A notebook
must therefore be deterministic: seeded random numbers, no wall-clock numbers in its prints.

After an intended change, refresh the stored outputs (runs and rewrites every notebook, or the
ones named) with:

    python tests/test_notebooks.py [notebooks/NAME.ipynb ...]
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TIMEOUT = 600  # seconds per cell
IGNORE = "nbval-ignore-output"  # nbval's tag: the cell runs, its output is not compared
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")
_FLOAT = re.compile(r"(?<![\w.])\d+\.\d+(?:e[-+]?\d+)?")


def _rounded(match: re.Match) -> str:
    text = match.group()
    digits = len(text.split("e")[0].replace(".", "").lstrip("0"))
    return f"{float(text):.12g}" if digits >= 15 else text


def normalise(text: str) -> str:
    """``text`` with memory addresses and full-precision floats normalised."""
    return _FLOAT.sub(_rounded, _ADDRESS.sub("0x...", text))


def execute(path: Path) -> nbformat.NotebookNode:
    """A fresh copy of the notebook at ``path``, run top to bottom in its own folder."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def text_outputs(cell: nbformat.NotebookNode) -> dict[str, str]:
    """What is compared of one code cell: its stdout, its stderr and its ``text/plain``
    results, normalised (see the module docstring)."""
    out = {"stdout": "", "stderr": "", "text/plain": ""}
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out[o.name] += o.text
        elif o.output_type in ("execute_result", "display_data") and "text/plain" in o.data:
            out["text/plain"] += o.data["text/plain"] + "\n"
        elif o.output_type == "error":  # (a stored error: compared as text, traceback aside)
            out["text/plain"] += f"{o.ename}: {o.evalue}\n"
    return {k: normalise(v) for k, v in out.items()}


def differences(stored: nbformat.NotebookNode, fresh: nbformat.NotebookNode,
                name: str) -> list[str]:
    """A readable diff for every code cell whose text outputs changed; empty if none did."""
    problems = []
    if len(stored.cells) != len(fresh.cells):
        return [f"{name}: {len(stored.cells)} cells stored, {len(fresh.cells)} after the run"]
    for i, (old, new) in enumerate(zip(stored.cells, fresh.cells)):
        if old.cell_type != "code" or IGNORE in old.get("metadata", {}).get("tags", []):
            continue
        before, after = text_outputs(old), text_outputs(new)
        for kind in before:
            if before[kind] != after[kind]:
                diff = difflib.unified_diff(before[kind].splitlines(), after[kind].splitlines(),
                                            "stored", "fresh run", lineterm="")
                first = old.source.splitlines()[:1] or [""]
                problems.append(f"{name}, cell {i} ({first[0][:60]!r}), {kind}:\n"
                                + "\n".join(diff))
    return problems


def refresh(path: Path) -> None:
    """Run the notebook at ``path`` and store its fresh outputs in it, a cell's consecutive
    prints to one stream as one output (as they were printed, whatever the kernel's timing)."""
    nb = execute(path)
    for cell in nb.cells:
        outputs: list = []
        for o in cell.get("outputs", []):
            last = outputs[-1] if outputs else None
            if o.output_type == "stream" and last is not None and \
                    last.output_type == "stream" and last.name == o.name:
                last.text += o.text
            else:
                outputs.append(o)
        if cell.cell_type == "code":
            cell.outputs = outputs
    nbformat.write(nb, path)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_prints_its_stored_outputs(path: Path) -> None:
    stored = nbformat.read(path, as_version=4)
    assert any(text_outputs(c) != text_outputs({}) for c in stored.cells
               if c.cell_type == "code"), f"{path.name}: no stored outputs to compare with"
    problems = differences(stored, execute(path), path.name)
    assert not problems, ("the fresh run differs from the stored outputs (refresh them with "
                          "`python tests/test_notebooks.py` if the change is intended):\n\n"
                          + "\n\n".join(problems))


# ----- the check itself, on notebooks made here ---------------------------------------------
def notebook(*cells: list) -> nbformat.NotebookNode:
    """A notebook of code cells, each given as its list of outputs."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"cell_{i}()", outputs=outputs)
                for i, outputs in enumerate(cells)]
    return nb


def stdout(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def result(plain: str, **data: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("execute_result", data={"text/plain": plain, **data})


def test_the_check_ignores_addresses_split_streams_images_and_last_bits():
    stored = notebook([stdout("Loss: 0.11474807801874294\n"), stdout("W = 1.453200\n")],
                      [result("<Digraph at 0x7f7a1c5fc310>", **{"image/png": "AAAA"})])
    fresh = notebook([stdout("Loss: 0.11474807801874293\nW = 1.453200\n")],
                     [result("<Digraph at 0x55d0c0ffee00>", **{"image/png": "BBBB"})])
    assert differences(stored, fresh, "nb.ipynb") == []


@pytest.mark.parametrize("fresh_text, added", [
    ("Loss: 0.11474807811874294\nW = 1.453200\n", "+Loss: 0.114748078119"),  # its 10th digit
    ("Loss: 0.11474807801874294\nW = 1.453201\n", "+W = 1.453201"),  # a formatted float's last
    ("Loss: 0.11474807801874294\nW = 1.453200\nextra\n", "+extra"),  # a line more
])
def test_the_check_names_the_notebook_cell_and_stream_of_a_change(fresh_text, added):
    stored = notebook([], [stdout("Loss: 0.11474807801874294\nW = 1.453200\n")])
    problems = differences(stored, notebook([], [stdout(fresh_text)]), "05_x.ipynb")
    assert len(problems) == 1
    assert problems[0].startswith("05_x.ipynb, cell 1 ('cell_1()'), stdout:\n--- stored")
    assert added in problems[0].splitlines()


def test_the_check_sees_a_changed_result_and_a_missing_cell():
    stored = notebook([result("3")])
    assert differences(stored, notebook([result("4")]), "a.ipynb") == [
        "a.ipynb, cell 0 ('cell_0()'), text/plain:\n--- stored\n+++ fresh run\n@@ -1 +1 @@\n-3\n+4"]
    assert differences(stored, notebook([], []), "a.ipynb") == [
        "a.ipynb: 1 cells stored, 2 after the run"]


if __name__ == "__main__":
    for arg in sys.argv[1:] or sorted(NOTEBOOKS.glob("*.ipynb")):
        print(f"running and storing {arg}")
        refresh(Path(arg).resolve())


def test_a_cell_tagged_to_ignore_its_output_is_not_compared():
    stored = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    fresh = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    stored.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    fresh.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    assert differences(stored, fresh, "nb")  # compared: the change is seen
    stored.cells[0].metadata["tags"] = [IGNORE]
    assert differences(stored, fresh, "nb") == []
