"""``tapegrad demo``: it trains, prints its numbers and writes its files, with or without the
Graphviz ``dot`` program."""

import re
import xml.etree.ElementTree as ET

# the test extra installs the demo's dependencies: a missing one fails here, never skips
import matplotlib  # noqa: F401
import sklearn  # noqa: F401
import tqdm  # noqa: F401

from tapegrad.cli import main


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
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "explain.txt").read_text(encoding="utf-8")
    assert "a is used 2 times" in text and "a: grad = -0.002681901" in text
    assert "install Graphviz" not in printed
    # the seed's step as code: written, runnable with numpy alone, the eager step bit for bit
    program = (out / "derived_program.py").read_text(encoding="utf-8")
    assert "    dW = x.T @ dy_pred\n" in program and str(out / "derived_program.py") in printed
    assert "update bit for bit: True" in printed


def test_demo_without_dot_writes_the_source_and_says_how_to_install(tmp_path, monkeypatch,
                                                                      capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no `dot` anywhere
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert (out / "mlp_step.dot").is_file() and not (out / "mlp_step.svg").exists()
    assert (out / "mlp_step.dot").read_text().startswith("digraph")
    assert str(out / "mlp_step.dot") in printed
    assert "install Graphviz" in printed and "apt-get install graphviz" in printed
    assert "test accuracy: " in printed and "gradcheck passed" in printed
    assert (out / "loss_curves.png").is_file() and (out / "explain.txt").is_file()
