"""The README's Python examples run as written (in a scratch folder)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


def test_the_readmes_excerpts_of_the_op_table_are_in_it():
    """``py`` blocks quote autograd/ops.py (they cannot run again: an op registers once)."""
    excerpts = re.findall(r"```py\n(.*?)```", README.read_text(), flags=re.S)
    ops = (README.parent / "autograd" / "ops.py").read_text()
    assert excerpts and all(e in ops for e in excerpts)


# ----- the tests' layout that "Errors and edge cases" describes -----------------------------
MIRRORS_NO_MODULE_BY_NAME = {"nn": "the nn package", "nn_io": "nn/serialization.py",
                             "nn_conv": "nn/conv.py",
                             "backends": "autograd/array_api.py, on every backend",
                             "readme": "README.md", "notebooks": "notebooks/*.ipynb"}


def test_each_test_file_mirrors_a_module_and_the_files_the_readme_names_exist():
    """Tests mirror the modules (tests/test_<module>.py), so each case is found next to the
    module behind it: no catch-all file of cases from everywhere."""
    root = README.parent
    modules = {p.stem for pkg in ("autograd", "nn", "tapegrad") for p in (root / pkg).glob("*.py")}
    modules |= {f"nn_{p.stem}" for p in (root / "nn").glob("*.py")}  # test_nn_<module>.py
    for test in sorted((root / "tests").glob("test_*.py")):
        name = test.stem.removeprefix("test_")
        assert name in modules or name in MIRRORS_NO_MODULE_BY_NAME, f"{test.name}: no {name}.py"
    named = re.findall(r"`(tests/test_\w+\.py)`", README.read_text())
    assert "tests/test_nn_io.py" in named
    for path in named:
        assert (root / path).is_file(), path


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write xor.npz and neuron.svg
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {})
    out = capsys.readouterr().out
    lines = out.splitlines()
    if index == 0:  # the numbers the comments promise
        assert lines[0] == "0.0 2.0 8.0"
        assert lines[1].startswith("2.24") and lines[1].split()[1].startswith("1.39")
        assert lines[2:] == ["12.0", "[6. 0.]"]
    if index == 1:
        assert lines == [lines[0]] and lines[0].startswith("0.988")


# ----- the tape as code: the derived program README shows is the one printed ------------------
def test_the_readmes_derived_program_is_what_trace_prints(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    block = next(b for b in BLOCKS if "autograd.trace(" in b)
    after = text[text.index(block) + len(block):]
    shown = re.search(r"```text\n(.*?)```", after, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md trace block", "exec"), {})
    printed = capsys.readouterr().out
    assert shown.startswith("def seed_step(") and printed.startswith(shown + "\n")


# ----- pytrees (issue 17 item 4): the example prints what its comments say ----------------------
def test_the_readmes_pytree_example_prints_what_it_promises(tmp_path, monkeypatch, capsys):
    [block] = [b for b in BLOCKS if "nn.functional_call" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md pytree block", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["(2, 3) (1, 2, 3)",
                                                    "{'b': 12.0, 'w': 4.0}"]
# ----- the Debugging section's example prints what its comments say -----
def test_the_debugging_example_explains_the_trap_and_prints_the_summary(tmp_path, monkeypatch,
                                                                         capsys):
    block = next(b for b in BLOCKS if "detect_anomaly" in b and "nn.summary" in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md debugging block", "exec"), {})
    out = capsys.readouterr().out
    assert "the backward of 'sqrt' produced a non-finite gradient" in out
    assert "masked-where trap" in out and "README.md debugging block:" in out
    assert "safe = where(cond, x, 1.0)\n    out = where(cond, safe.sqrt(), 0.0)" in out
    assert "[0.   0.5  0.25]" in out
    assert "  0 (Linear)  (16, 8)  " in out and "Total params: 41" in out


# ----- forward mode (issue 17) ------------------------------------------------------------------
def test_the_readmes_forward_mode_example_prints_what_its_comments_say(tmp_path, monkeypatch,
                                                                        capsys):
    block = next(b for b in BLOCKS if "linearize(" in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md forward mode block", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["1.080605", "[ 1.0806 -2.6146 -5.4668]", "True",
                     "[ -2.285  10.802 -16.659]", "[ -2.285  10.802 -16.659]", "12.0",
                     "Result: the tangent of %2, J v (its derivative along v): -0.002681901"]
    assert "# 1.080605" in block and "# [ 1.0806 -2.6146 -5.4668]" in block
    assert "# [ -2.285  10.802 -16.659]" in block and "-0.002681901" in block
