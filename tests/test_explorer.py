"""autograd.explorer: the explorer page, driven in a real headless browser (Debian's chromium
through Selenium and Debian's chromedriver; selenium-manager never downloads a browser).

A missing browser or driver fails these tests with an instruction; it never skips them. One
browser session serves the whole module.
"""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

import nn
from autograd import Tensor, Value, detect_anomaly, explain, scope, tape
from autograd.explorer import DETAIL_LIMIT, Explorer, _brief, _clusters, explore
from autograd.tape import _replay, _step_lines, format_data

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = ("the explorer's browser tests need Debian's chromium and chromium-driver "
           "(`apt-get install chromium chromium-driver`; `bash setup.sh test` installs them)")


# ----- helpers ----------------------------------------------------------------------------------
def open_browser(width: int = 1200, height: int = 800):
    """A headless Chromium driven by Selenium, with its console and network logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).is_file():
            pytest.fail(f"{exe} is missing: {INSTALL}")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = open_browser()
    yield driver
    driver.quit()


def load(driver, path: Path) -> float:
    """Open ``path`` and wait until the page's script has run; the load time in seconds."""
    driver.get_log("performance")  # drop earlier events
    driver.get_log("browser")
    start = time.perf_counter()
    driver.get(path.as_uri())
    for _ in range(600):
        if driver.execute_script("return document.body.dataset.ready || ''"):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the explorer's script never finished on {path}: "
                    f"{driver.get_log('browser')}")
    return time.perf_counter() - start


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def current(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('g.node.current')]"
                      ".map(g => g.dataset.name)")


def panel(driver) -> dict[str, str]:
    return js(driver, "const o = {}; for (const r of document.querySelectorAll('#panel tr'))"
                      " if (r.dataset.key) o[r.dataset.key] = r.cells[1].textContent; return o")


def click_node(driver, name: str) -> None:
    """A real mouse click (through Chrome's input pipeline) on the node drawn as ``name``."""
    from selenium.webdriver.common.action_chains import ActionChains

    g = js(driver, "return [...document.querySelectorAll('g.node')].find("
                   "g => g.dataset.name === arguments[0])", name)
    assert g is not None, f"no node {name} in the drawing"
    shape = g.find_element("css selector", "polygon, ellipse")
    ActionChains(driver).move_to_element(shape).click().perform()


def requests(driver) -> list[str]:
    """URLs of the requests the page sent since the last call (Chrome's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def page_data(page: str) -> dict:
    """The JSON the page carries (its nodes' panels, its steps)."""
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page,
                      flags=re.S)
    return json.loads(found[1])


def pixels(png: bytes) -> np.ndarray:
    """RGB values in [0, 1] of a PNG screenshot (decoded by matplotlib)."""
    return mpimg.imread(io.BytesIO(png), format="png")[..., :3]


def near(img: np.ndarray, colour: str, tol: float = 0.03) -> int:
    rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img - rgb).max(axis=-1) < tol).sum())


def tanh_expression():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    e = (a * b + a).tanh()
    e.label = "e"
    return a, b, e


def mlp_loss():
    """A training step's loss of a 2-layer MLP, recorded in anomaly mode (source lines)."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = Tensor(rng.normal(size=(5, 4)), label="x")
    with detect_anomaly():
        loss = nn.CrossEntropyLoss()(model(x), np.array([0, 1, 2, 0, 1]))  # LOSS LINE
    loss.label = "loss"
    return model, loss


def big_graph(blocks: int = 625):
    """5,000 drawn nodes: a chain of blocks, each in a scope of its own with its parameters."""
    x = Tensor(np.ones((2, 3)), label="x")
    for i in range(blocks):
        with scope(f"block{i}"):
            w = Tensor(np.full((3, 3), 0.1), requires_grad=True, label=f"w{i}")
            b = Tensor(np.zeros(3), requires_grad=True, label=f"b{i}")
            x = (x @ w + b).tanh()
    loss = x.sum()
    loss.label = "loss"
    return loss


# ----- the page, without a browser ---------------------------------------------------------
def test_explore_is_in_viz_and_returns_an_explorer():
    from autograd.viz import explore as from_viz

    assert from_viz is explore
    _, _, e = tanh_expression()
    ex = explore(e)
    assert isinstance(ex, Explorer) and ex.detailed and ex.steps == 2 * len(tape(e))
    assert repr(ex) == ("<Explorer of e: 8 nodes drawn, 6 steps; .save('graph.html') writes "
                        "the page>")


def test_bad_arguments_are_clear_errors():
    _, _, e = tanh_expression()
    with pytest.raises(TypeError, match="explore: root must be a Value or a Tensor, not float"):
        explore(1.0)
    with pytest.raises(ValueError, match="explore: max_nodes must be an int of at least 2"):
        explore(e, max_nodes=1)
    with pytest.raises(ValueError, match="explore: detail_limit must be a non-negative int"):
        explore(e, detail_limit=-1)


def test_the_page_is_self_contained_and_forbids_every_request(tmp_path):
    _, loss = mlp_loss()
    ex = explore(loss)
    page = ex.save(tmp_path / "graph.html").read_text(encoding="utf-8")
    assert page == ex.html
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp and csp[1].startswith("default-src 'none'; script-src 'sha256-")
    assert "unsafe" not in csp[1]
    # nothing refers outside the page: no src or href but fragments (the SVG's xmlns are names)
    assert not re.search(r"""\b(src|href)\s*=\s*["'](?!#)""", page)
    # every node named by an attribute (no title elements, no comments: fewer to parse)
    assert page.count('<g class="node" data-name="') == ex.drawn
    assert "<!--" not in page
    assert page.count("<title>") == 1 + 1 + 4  # the page's, the drawing's, the boxes'
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    # one script that runs, one inline JSON block that does not
    assert page.count("<script>") == 1 and page.count('<script type="application/json"') == 1


def test_the_readme_shows_a_small_screenshot():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/explorer.png)" in readme
    png = (ROOT / "docs" / "explorer.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 200_000
    img = pixels(png)
    assert img.shape[0] >= 400 and near(img, "#ffe08a") > 500  # the graph, parameters in it


def test_jupyter_shows_the_page_in_an_iframe_of_its_own():
    _, _, e = tanh_expression()
    ex = explore(e)
    out = ex._repr_html_()
    assert out.startswith("<iframe srcdoc=\"") and 'sandbox="allow-scripts"' in out
    srcdoc = re.match(r'<iframe srcdoc="([^"]*)"', out)[1]
    assert html.unescape(srcdoc) == ex.html


def test_either_module_imports_first():
    for first in ("autograd.explorer", "autograd.viz"):
        run = subprocess.run([sys.executable, "-c", f"import {first}; from autograd.viz import "
                              "explore; from autograd.explorer import explore as e; "
                              "assert e is explore"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr


def test_module_boxes_come_from_the_drawing():
    from autograd.viz import draw_graph

    model, loss = mlp_loss()
    found = _clusters(draw_graph(loss).source)
    assert found["parent"] == {"cluster_0": None, "cluster_1": None, "cluster_2": None,
                               "cluster_CrossEntropyLoss": None}
    weight = model[0].weight
    assert found["home"][f"v{weight._id}"] == "cluster_0"
    assert found["home"][f"op{loss._id}"] == "cluster_CrossEntropyLoss"
    with scope("outer"):
        y = (Tensor(np.ones(2), requires_grad=True) * 2).sum()
        with scope("inner"):
            z = y * 3
    nested = _clusters(draw_graph(z).source)
    assert nested["parent"] == {"cluster_outer": None, "cluster_outer.inner": "cluster_outer"}
    assert nested["home"][f"op{z._id}"] == "cluster_outer.inner"
    assert nested["home"][f"op{y._id}"] == "cluster_outer"


def test_a_large_graph_is_drawn_with_short_labels_and_no_argument_numbers():
    a, b = Tensor(np.ones(3), requires_grad=True), Tensor(np.full(3, 2.0), requires_grad=True)
    y = (a / b).sum()
    full, reduced = explore(y), explore(y, detail_limit=5)
    assert full.detailed and not reduced.detailed and full.drawn == reduced.drawn == 6
    assert ">0</text>" in full.html and ">1</text>" in full.html  # a / b: argument numbers
    assert ">0</text>" not in reduced.html and ">1</text>" not in reduced.html
    assert "min 1 mean" not in reduced.html.split("<script")[0]  # no values drawn
    assert _brief(np.arange(3.0)) == "(3,) float64 [0, 1, 2]"
    assert _brief(np.arange(10.0)) == "(10,) float64 min 0 mean 4.5 max 9"
    assert _brief(np.arange(10)) == "(10,) int64 min 0 max 9"
    assert _brief(2.5) == "2.5"


def test_a_cut_drawing_carries_panels_and_steps_for_what_is_drawn_only():
    x = Value(0.5, label="x")
    for _ in range(300):
        x = (x * 0.9).tanh()
    ex = explore(x, max_nodes=40)
    data = page_data(ex.html)
    assert data["cut"] and ex.drawn == 40
    drawn = set(re.findall(r'<g class="node" data-name="(\w+)">', ex.html))
    assert set(data["nodes"]) <= drawn and f"v{x._id}" in data["nodes"]
    ops = [e for e in tape(x) if f"op{e.output._id}" in drawn]
    assert 10 < len(ops) < 40 and [s["op"] for s in data["backward"]] == \
        [f"op{e.output._id}" for e in reversed(ops)]
    assert len(data["forward"]) == len(ops) and ex.steps == 2 * len(ops)
    # the backward steps nearest the output are the replay's first, numbered as explain does
    assert data["backward"][0]["text"].startswith("step 1 of 600 (tape #599): ")


# ----- in the browser -----------------------------------------------------------------------
def test_stepping_backward_shows_explains_node_and_gradient_at_each_step(browser, tmp_path):
    a, b, e = tanh_expression()
    t = tape(e)
    steps, _ = _replay(t)
    text = explain(e)
    load(browser, explore(e).save(tmp_path / "e.html"))
    assert js(browser, "return document.getElementById('where').textContent") == "step 0 of 6"
    nxt = browser.find_element("id", "next")
    for k, entry in enumerate(t, 1):  # the forward pass, in tape order
        nxt.click()
        assert current(browser) == [f"v{entry.output._id}"]
        assert browser.find_element("id", "where").text == f"forward {k} of 3"
        assert t.describe(entry) in browser.find_element("id", "step-text").text
    for k, step in enumerate(steps, 1):  # the backward pass: explain's steps
        nxt.click()
        assert current(browser) == [f"v{step.entry.output._id}"]
        assert browser.find_element("id", "where").text == f"backward {k} of 3"
        shown = js(browser, "return document.getElementById('step-text').textContent")
        assert shown == "\n".join(_step_lines(t, step, k, len(steps))) and shown in text
        grad = browser.find_element("id", "step-grad").text
        assert grad == f"gradient arriving: {format_data(step.grad)}"
        receiving = js(browser, "return [...document.querySelectorAll('g.node.receive')]"
                                ".map(g => g.dataset.name).sort()")
        assert receiving == sorted(f"v{s.to._id}" for s in step.sends)
    # the last step: mul sends a its second contribution, -0.002681901 in all
    assert "running total 0.001340951 - 0.004022852 = -0.002681901" in shown
    nxt.click()  # past the end: stays on the last step
    assert browser.find_element("id", "where").text == "backward 3 of 3"
    browser.find_element("id", "prev").click()
    assert current(browser) == [f"v{steps[1].entry.output._id}"]
    body = browser.find_element("css selector", "body")
    body.send_keys("\ue012")  # left arrow
    assert current(browser) == [f"v{steps[0].entry.output._id}"]
    body.send_keys("\ue011")  # Home
    assert current(browser) == [] and browser.find_element("id", "where").text == "step 0 of 6"
    assert browser.get_log("browser") == []


def test_a_tensor_step_clicked_node_panel_and_no_request(browser, tmp_path):
    model, loss = mlp_loss()
    t = tape(loss)
    steps, grads = _replay(t)
    path = explore(loss).save(tmp_path / "mlp.html")
    load(browser, path)
    assert requests(browser) == [path.as_uri()]  # the file itself, nothing else
    for _ in range(len(t) + 2):
        browser.find_element("id", "next").click()
    step = steps[1]
    assert current(browser) == [f"v{step.entry.output._id}"]
    assert browser.find_element("id", "step-grad").text == \
        f"gradient arriving: {format_data(step.grad)}"
    # a parameter's panel
    w = model[0].weight
    click_node(browser, f"v{w._id}")
    rows = panel(browser)
    assert rows["name"] == rows["label"] == "0.weight" and rows["kind"] == "parameter"
    assert rows["op"] == "leaf (no op made it)" and rows["shape"] == "(4, 8)"
    assert rows["dtype"] == "float64" and rows["value"] == format_data(w.data)
    g = grads[w]
    assert rows["grad"] == format_data(g)
    assert rows["grad stats"].startswith(f"min {g.min():.4g}  mean {g.mean():.4g}  "
                                         f"max {g.max():.4g}  std {g.std():.4g}")
    # the loss's panel: its op, and the line of this file that created it
    click_node(browser, f"v{loss._id}")
    rows = panel(browser)
    assert rows["label"] == "loss" and rows["op"] == f"mean  (tape #{len(t) - 1})"
    assert rows["shape"] == "()" and rows["value"] == format_data(loss.data)
    line = next(i for i, s in enumerate(Path(__file__).read_text().splitlines(), 1)
                if s.endswith("# LOSS LINE"))
    assert rows["source"].startswith(f"{Path(__file__).resolve()}:{line}: loss = nn.")
    assert rows["grad"] == format_data(np.ones(()))
    assert js(browser, "return document.querySelectorAll('g.node.selected').length") == 1
    assert requests(browser) == [] and browser.get_log("browser") == []


def test_the_content_security_policy_blocks_a_request_and_the_page_works_under_it(
        browser, tmp_path):
    _, _, e = tanh_expression()
    path = explore(e).save(tmp_path / "e.html")
    load(browser, path)
    assert requests(browser) == [path.as_uri()]
    # the page's own script ran (it set data-ready) and no policy violation was reported
    assert browser.get_log("browser") == []
    blocked = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.addEventListener('securitypolicyviolation', e => done(e.violatedDirective));"
        "fetch('http://127.0.0.1:9/x').catch(() => {});"
        "setTimeout(() => done('not blocked'), 3000);")
    assert blocked == "connect-src"
    assert requests(browser) == []  # blocked before it was sent


def test_zoom_pan_search_and_collapsing_a_module(browser, tmp_path):
    model, loss = mlp_loss()
    load(browser, explore(loss).save(tmp_path / "mlp.html"))
    box = lambda: [float(v) for v in js(browser, "return document.getElementById('graph')"
                                                 ".getAttribute('viewBox')").split()]
    from selenium.webdriver.common.action_chains import ActionChains

    before = box()
    view = browser.find_element("id", "view")
    js(browser, "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -300, "
                "clientX: 300, clientY: 300, bubbles: true, cancelable: true}))", view)
    zoomed = box()
    assert zoomed[2] < before[2] * 0.8 and zoomed[3] < before[3] * 0.8
    ActionChains(browser).move_to_element_with_offset(view, -200, 0).click_and_hold() \
        .move_by_offset(120, 40).release().perform()
    panned = box()
    assert panned[2:] == zoomed[2:] and panned[0] < zoomed[0] and panned[1] < zoomed[1]
    browser.find_element("id", "fit").click()
    assert box() == before
    # search: the two weights match "weight"; Enter selects each in turn and shows its panel
    search = browser.find_element("id", "search")
    search.send_keys("weight")
    assert browser.find_element("id", "found").text == "2 found"
    assert js(browser, "return document.querySelectorAll('g.node.match').length") == 2
    seen = []
    for _ in range(3):
        search.send_keys("\ue007")  # Enter
        seen.append(panel(browser)["label"])
    assert sorted(seen[:2]) == ["0.weight", "2.weight"] and seen[2] == seen[0]
    search.send_keys("\ue00c")  # Escape clears
    assert js(browser, "return document.querySelectorAll('g.node.match').length") == 0
    # collapse the first Linear's box: its nodes are hidden, its title says how many
    browser.find_element("id", "fit").click()
    first = tape(loss)[0].output  # the first linear's output
    inside = {f"v{model[0].weight._id}", f"v{model[0].bias._id}", f"op{first._id}",
              f"v{first._id}"}
    title = js(browser, "return [...document.querySelectorAll('g.cluster')].find(g => "
                        "g.querySelector('title').textContent === 'cluster_0')"
                        ".querySelector('text')")
    ActionChains(browser).move_to_element(title).click().perform()
    assert title.text == "\u25b8 0: Linear (4 nodes)"
    hidden = js(browser, "return [...document.querySelectorAll('g.node.gone')]"
                         ".map(g => g.dataset.name)")
    assert set(hidden) == inside
    assert all(not browser.find_element("css selector", f"g.node[data-name='{n}']")
               .is_displayed() for n in hidden)
    ActionChains(browser).move_to_element(title).click().perform()
    assert title.text == "0: Linear"
    assert js(browser, "return document.querySelectorAll('.gone').length") == 0


def test_two_inline_outputs_in_one_page_work_independently(browser, tmp_path):
    # as two notebook outputs: each explorer runs in its own iframe, ids and keys apart
    _, _, e = tanh_expression()
    _, loss = mlp_loss()
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body><div id='out1'>" + explore(e)._repr_html_() +
                    "</div><div id='out2'>" + explore(loss)._repr_html_() + "</div></body></html>",
                    encoding="utf-8")
    browser.get(host.as_uri())
    frames = browser.find_elements("tag name", "iframe")
    assert len(frames) == 2
    for frame in frames:
        browser.switch_to.frame(frame)
        for _ in range(600):
            if js(browser, "return document.body && document.body.dataset.ready || ''"):
                break
            time.sleep(0.05)
        assert js(browser, "return document.body.dataset.ready")
        browser.switch_to.default_content()
    browser.switch_to.frame(frames[0])
    browser.find_element("id", "next").click()
    assert browser.find_element("id", "where").text == "forward 1 of 3"
    browser.switch_to.default_content()
    browser.switch_to.frame(frames[1])
    assert browser.find_element("id", "where").text == "step 0 of 10"
    browser.switch_to.default_content()
    assert browser.get_log("browser") == []


def test_odd_labels_stay_text(browser, tmp_path):
    odd = '</script><script>document.title = "owned"</script> & "q" <b>'
    a = Tensor(np.ones(2), requires_grad=True, label=odd)
    y = (a * 2).sum()
    load(browser, explore(y).save(tmp_path / "odd.html"))
    assert browser.title.startswith("tapegrad explorer") and browser.get_log("browser") == []
    click_node(browser, f"v{a._id}")
    assert panel(browser)["label"] == odd
    search = browser.find_element("id", "search")
    search.send_keys("</script>")
    assert browser.find_element("id", "found").text == "1 found"


def test_a_screenshot_shows_the_graph_and_the_current_step(browser, tmp_path):
    _, loss = mlp_loss()
    load(browser, explore(loss).save(tmp_path / "mlp.html"))
    blank = pixels(browser.get_screenshot_as_png())
    for _ in range(len(tape(loss)) + 1):
        browser.find_element("id", "next").click()
    img = pixels(browser.get_screenshot_as_png())
    assert img.shape[:2] == (800, 1200) or img.shape[0] > 500
    background = (img.min(axis=-1) > 0.97).mean()  # white or nearly
    assert background < 0.97, "the screenshot is (nearly) blank"
    assert (img.max(axis=-1) < 0.5).sum() > 2000  # text and edges
    assert near(img, "#ffe08a") > 500  # parameters' fill: the graph is drawn
    assert near(img, "#c92a2a", 0.08) > near(blank, "#c92a2a", 0.08) + 50  # the highlight


def test_a_5000_node_graph_loads_in_seconds_and_steps(browser, tmp_path):
    loss = big_graph()
    ex = explore(loss)
    assert ex.drawn >= 5000 and not ex.detailed and DETAIL_LIMIT < 5000
    # the renderer's CPU time: what the page costs, whatever else shares the machine
    browser.execute_cdp_cmd("Performance.enable", {"timeDomain": "threadTicks"})
    cpu = lambda: next(m["value"] for m in browser.execute_cdp_cmd(
        "Performance.getMetrics", {})["metrics"] if m["name"] == "ProcessTime")
    before = cpu()
    seconds = load(browser, ex.save(tmp_path / "big.html"))
    after = cpu()
    used = after - before if after >= before else after  # (a new renderer process)
    ready_ms = float(js(browser, "return document.body.dataset.ready"))
    print(f"\n5,000-node explorer: loaded in {seconds:.2f} s wall (script done at "
          f"{ready_ms:.0f} ms), {used:.2f} s of the renderer's CPU")
    assert used < 5 and seconds < 30  # 2.2 s CPU, 4-7.5 s wall on 2 busy shared cores
    # zoomed out on the whole graph, no text is rendered; stepping still shows the gradient
    browser.find_element("id", "fit").click()
    assert js(browser, "return document.getElementById('graph').classList.contains('far')")
    before, start = cpu(), time.perf_counter()
    browser.find_element("id", "last").click()
    js(browser, "return 0")  # (after the click's work)
    step_cpu, step_wall = cpu() - before, time.perf_counter() - start
    print(f"a step to the far end of it: {step_wall:.2f} s wall, {step_cpu:.2f} s of CPU")
    assert step_cpu < 2 and step_wall < 15
    steps, _ = _replay(tape(loss))
    assert current(browser) == [f"v{steps[-1].entry.output._id}"]
    assert browser.find_element("id", "step-grad").text == \
        f"gradient arriving: {_brief(steps[-1].grad)}"
    # the current node was brought into view at a readable size
    assert not js(browser, "return document.getElementById('graph').classList.contains('far')")
    assert browser.get_log("browser") == []

