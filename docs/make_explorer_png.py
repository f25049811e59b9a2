"""Take README's screenshot of the explorer: ``python docs/make_explorer_png.py``.

A 2-layer MLP's training step (the browser tests' graph), stepped to the backward step of the
second linear layer, with its weight clicked, zoomed in once; headless Chromium through the
browser tests' helpers, the PNG reduced to a 128-colour palette to stay small.
"""

import io
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_explorer import click_node, mlp_loss, open_browser  # noqa: E402

from autograd import tape  # noqa: E402
from autograd.viz import explore  # noqa: E402


def main(out: Path = ROOT / "docs" / "explorer.png") -> Path:
    model, loss = mlp_loss()
    page = explore(loss).save(out.with_suffix(".html"))
    driver = open_browser(1200, 680)
    try:
        driver.get(page.as_uri())
        for _ in range(len(tape(loss)) + 3):  # the forward pass, then three backward steps
            driver.find_element("id", "next").click()
        click_node(driver, f"v{model[2].weight._id}")
        driver.find_element("id", "zoom-in").click()  # about the middle: the second layer
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
        page.unlink()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(128)
    image.save(out, optimize=True)
    return out


if __name__ == "__main__":
    path = main()
    print(f"{path}: {path.stat().st_size} bytes")
