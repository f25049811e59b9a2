"""The README's Python examples run as written (in a scratch folder)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


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
