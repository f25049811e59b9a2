"""``tapegrad demo``: it trains, prints its numbers and writes its files, with or without the
Graphviz ``dot`` program."""

import importlib.metadata
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# the test extra installs the demo's dependencies: a missing one fails here, never skips
import matplotlib  # noqa: F401
import pytest
import sklearn  # noqa: F401
import tqdm  # noqa: F401

import autograd
from tapegrad.cli import main
from tapegrad.demo import train_digits

ROOT = Path(__file__).resolve().parent.parent


def test_demo_trains_checks_and_writes_its_files(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # the seed's loop: its loss lines, and autograd's path equals the seed's numpy loop
    assert "Epoch: 0, Loss: 2.95225923" in printed
    assert "Epoch: 900, Loss: " in printed
    assert "largest difference 0.0e+00" in printed
    assert "Test Loss: " in printed and "x 1/2" in printed
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", printed).group(1))
    assert accuracy >= 95.0
    assert "gradcheck passed" in printed and "atol=1e-05, rtol=0.001" in printed
    for name in ("mlp_step.svg", "loss_curves.png", "explain.txt"):
        assert (out / name).is_file() and str(out / name) in printed
    svg = ET.parse(out / "mlp_step.svg").getroot()
    titles = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {"cluster_0", "cluster_2", "cluster_CrossEntropyLoss"} <= titles
    # issue 15: modules titled as PyTorch prints them, and the drawing about 1600 px at most
    texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {"0: Linear", "1: ReLU", "2: Linear", "linear"} <= texts and "@+" not in texts
    assert float(svg.get("width").removesuffix("pt")) * 96 / 72 <= 1600  # pt to px
    assert "epoch 15/15: loss " in printed  # captured: not a terminal, so no tqdm bars
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "explain.txt").read_text(encoding="utf-8")
    assert "a is used 2 times" in text and "a: grad = -0.002681901" in text
    assert "install Graphviz" not in printed
    # ----- part 5: the CNN (notebook 6's), its drawn step and its curves -----
    cnn = float(re.search(r"CNN test accuracy: ([\d.]+)%", printed).group(1))
    assert cnn >= 98.5
    for name in ("cnn_step.svg", "cnn_curves.png"):
        assert (out / name).is_file() and str(out / name) in printed
    svg = ET.parse(out / "cnn_step.svg").getroot()
    titles = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {"cluster_0", "cluster_2", "cluster_4", "cluster_CrossEntropyLoss"} <= titles
    # the seed's step as code: written, runnable with numpy alone, the eager step bit for bit
    program = (out / "derived_program.py").read_text(encoding="utf-8")
    assert "    dW = np.dot(x.T, dy_pred)\n" in program
    assert str(out / "derived_program.py") in printed
    assert "update bit for bit: True" in printed
    # ----- issue 19: the step's explorer page, self-contained, its panels naming demo lines
    page = (out / "mlp_step.html").read_text(encoding="utf-8")
    assert str(out / "mlp_step.html") in printed and "default-src 'none'" in page
    assert "0: Linear" in page and "tapegrad/demo.py:" in page


def test_demo_without_dot_writes_the_source_and_says_how_to_install(tmp_path, monkeypatch,
                                                                      capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no `dot` anywhere
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert (out / "mlp_step.dot").is_file() and not (out / "mlp_step.svg").exists()
    assert not (out / "mlp_step.html").exists()  # the explorer needs dot's layout
    assert (out / "mlp_step.dot").read_text().startswith("digraph")
    assert str(out / "mlp_step.dot") in printed
    assert "install Graphviz" in printed and "apt-get install graphviz" in printed
    assert "test accuracy: " in printed and "gradcheck passed" in printed
    assert (out / "loss_curves.png").is_file() and (out / "explain.txt").is_file()
    assert (out / "cnn_step.dot").is_file() and "CNN test accuracy: " in printed  # part 5


# ----- issue 15: --version; one line per epoch when the output is not a terminal -------------
def test_version_through_main_and_python_m(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    printed = capsys.readouterr().out
    assert printed == f"tapegrad {importlib.metadata.version('tapegrad')}\n"
    run = subprocess.run([sys.executable, "-m", "tapegrad", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout, run.stderr) == (0, printed, "")
    run = subprocess.run([sys.executable, "-m", "tapegrad"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "usage: tapegrad" in run.stderr


def test_version_without_installed_metadata_is_the_packages(monkeypatch, capsys):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    monkeypatch.setattr(autograd, "__version__", "9.8.7")  # to see which one is printed
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == "tapegrad 9.8.7\n"


def test_the_packages_version_is_the_distributions():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "(.+)"$', pyproject, re.M).group(1) == autograd.__version__


@pytest.mark.parametrize("terminal", [(False, False), (True, False), (False, True)])
def test_training_off_a_terminal_prints_one_plain_line_per_epoch(terminal, monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal[0])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal[1])
    train_digits(epochs=2)
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2, out
    for n, line in enumerate(lines, 1):
        assert re.fullmatch(rf"epoch  {n}/2: loss \d\.\d{{4}}, test loss \d\.\d{{4}}, "
                            r"test acc \d+\.\d%", line), line
    assert err == ""  # no bar


def test_training_on_a_terminal_draws_a_bar_per_epoch(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train_digits(epochs=1)
    out, err = capsys.readouterr()
    assert "epoch  1/1" in err and "batch" in err and "test acc" in err and "\r" in err
    assert not any(line.startswith("epoch") for line in out.splitlines())
