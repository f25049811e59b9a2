"""What ``tapegrad demo`` runs: the seed's regression, a digits MLP, drawings and checks, and a
digits CNN.

Each part is one function that prints what it does and returns what the next parts need, so
the demo reads top to bottom like the notebooks. scikit-learn, matplotlib and tqdm (the
``demo`` extra) are imported inside the functions that use them: ``import autograd`` never
needs them (this module lives in the application package, above ``nn``).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import autograd
import nn
from autograd import Tensor, Value, detect_anomaly, explain, gradcheck, no_grad
from autograd.viz import INSTALL_HINT, draw_graph, explore, save_graph


# ----- 1. the seed article's linear regression -------------------------------------------------
def seed_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seed's data and initial parameters, drawn in the seed's order from seed 0:
    ``x`` (100, 1), ``y = 2x + 1 + U(0, 1)``, then ``W`` (1, 1) and ``b`` (1, 1)."""
    np.random.seed(0)
    x = np.random.rand(100, 1)
    y = 2 * x + 1 + np.random.rand(100, 1)
    W = np.random.rand(1, 1)
    b = np.random.rand(1, 1)
    return x, y, W, b


def seed_by_hand(epochs: int = 1000, lr: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """The seed's own loop, with its hand-written ``dW, db``; silent. Returns ``(W, b)``."""
    x, y, W, b = seed_data()
    for _ in range(epochs):
        y_pred = np.dot(x, W) + b
        dW = np.dot(x.T, (y_pred - y)) / x.shape[0]
        db = np.mean(y_pred - y)
        W = W - lr * dW
        b = b - lr * db
    return W, b


def seed_linear_regression(epochs: int = 1000, lr: float = 0.01,
                           verbose: bool = True) -> tuple[Tensor, Tensor, list[float]]:
    """The seed's loop with autograd deriving ``dW`` and ``db``; prints as the seed does.

    The seed prints the MSE but steps along ``x.T (y_pred - y) / N`` and ``mean(y_pred - y)``,
    which are the gradient of *half* the MSE. So backward runs on ``0.5 * loss``: every step
    is the seed's step, and the printed loss is the seed's loss. Returns ``W``, ``b`` and the
    MSE of every epoch.
    """
    x, y, W0, b0 = seed_data()
    W = Tensor(W0, requires_grad=True, label="W")
    b = Tensor(b0, requires_grad=True, label="b")
    losses = []
    for epoch in range(epochs):
        y_pred = Tensor(x) @ W + b
        loss = ((y_pred - y) ** 2).mean()
        W.grad = b.grad = None
        (0.5 * loss).backward()  # the gradient of half the MSE: the seed's dW, db
        with no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
        losses.append(loss.item())
        if verbose and epoch % 100 == 0:
            print(f"Epoch: {epoch}, Loss: {loss.item()}")
    return W, b, losses


def compare_gradients(W: Tensor, b: Tensor) -> None:
    """Print autograd's ``dW, db`` beside the seed's hand-written formulas at ``(W, b)``."""
    x, y, _, _ = seed_data()
    Wt = Tensor(W.data, requires_grad=True, label="W")
    bt = Tensor(b.data, requires_grad=True, label="b")
    mse = ((Tensor(x) @ Wt + bt - y) ** 2).mean()
    mse.backward()
    y_pred = x @ W.data + b.data
    hand_dW = np.dot(x.T, (y_pred - y)) / x.shape[0]
    hand_db = np.mean(y_pred - y)
    rows = [("dW", Wt.grad.item(), hand_dW.item(), "x.T @ (y_pred - y) / N"),
            ("db", bt.grad.item(), hand_db, "mean(y_pred - y)")]
    print("\nGradients at the trained (W, b): autograd on the MSE vs the seed's formulas")
    print(f"  {'':3}{'autograd d(MSE)':>18}{'x 1/2':>16}{'seed, by hand':>16}   formula")
    for name, auto, hand, formula in rows:
        print(f"  {name:3}{auto:18.10f}{auto / 2:16.10f}{hand:16.10f}   {formula}")
    print("  The factor of 2: d/dW mean((xW + b - y)^2) = 2 x.T (xW + b - y) / N. The seed's\n"
          "  formulas drop the 2, so they are the gradient of 0.5 * MSE; the demo trains on\n"
          "  0.5 * MSE to take exactly the seed's steps (the same W, b at every epoch).")


def seed_part(epochs: int = 1000) -> list[float]:
    """Part 1: train, evaluate on the seed's test set, check against the seed's own loop."""
    print("== 1. The seed's linear regression, dW and db derived by autograd ==")
    W, b, losses = seed_linear_regression(epochs)
    x_test = np.array([[2], [3], [4], [5]])
    y_test = 2 * x_test + 1
    test_loss = np.mean((x_test @ W.data + b.data - y_test) ** 2)
    print(f"Test Loss: {test_loss}  (x_test = 2, 3, 4, 5 against y = 2x + 1)")
    hand_W, hand_b = seed_by_hand(epochs)
    gap = max(abs(W.item() - hand_W.item()), abs(b.item() - hand_b.item()))
    print(f"W = {W.item():.6f}, b = {b.item():.6f}; the seed's numpy loop ends at "
          f"W = {hand_W.item():.6f}, b = {hand_b.item():.6f} (largest difference {gap:.1e})")
    compare_gradients(W, b)
    return losses


def derived_program(path: Path, lr: float = 0.01) -> Path:
    """Trace one step of the seed's loop (forward, backward of half the MSE, update) and write
    the program autograd derived, a plain numpy function, to ``path``; check that it runs with
    numpy alone and gives the eager step's numbers bit for bit."""
    x, y, W0, b0 = seed_data()
    W = Tensor(W0, requires_grad=True, label="W")
    b = Tensor(b0, requires_grad=True, label="b")

    def seed_step(x: Tensor, y: Tensor) -> Tensor:
        y_pred = x @ W + b
        y_pred.label = "y_pred"
        loss = ((y_pred - y) ** 2).mean()
        W.grad = b.grad = None
        (0.5 * loss).backward()  # half the MSE: the seed's dW and db
        with no_grad():
            for p in (W, b):
                p -= lr * p.grad
        return loss

    program = autograd.trace(seed_step, x, y)
    path.write_text("# The seed's training step as autograd derived it (autograd.trace):\n"
                    "# forward, backward and update, in plain numpy. seed_step(x, y, W, b)\n"
                    "# updates W and b in place and returns ((loss,), (dW, db)).\n"
                    "import numpy as np\n\n\n" + program.source, encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(path.read_text(encoding="utf-8"), namespace)  # numpy alone
    Wh, bh = W0.copy(), b0.copy()
    (loss,), (dW, db) = namespace["seed_step"](x, y, Wh, bh)
    W2 = Tensor(W0, requires_grad=True)
    b2 = Tensor(b0, requires_grad=True)
    eager = ((Tensor(x) @ W2 + b2 - y) ** 2).mean()
    (0.5 * eager).backward()
    same = (np.array_equal(loss, eager.data) and np.array_equal(dW, W2.grad)
            and np.array_equal(db, b2.grad) and np.array_equal(Wh, W0 - lr * W2.grad))
    print(program.source, end="")
    print(f"run with numpy alone, it gives the eager step's loss, dW, db and update bit for "
          f"bit: {same}")
    return path


# ----- 2. an MLP on scikit-learn's handwritten digits ------------------------------------------
@dataclass
class DigitsRun:
    """A trained digits classifier and its history."""

    model: Any
    X_test: np.ndarray
    y_test: np.ndarray
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    accuracy: float = 0.0


def load_digits_split(seed: int = 0) -> tuple[np.ndarray, ...]:
    """scikit-learn's 8x8 digits (shipped with it, no download), pixels scaled to [0, 1],
    split 75 / 25 with every class in proportion: ``X_train, X_test, y_train, y_test``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return tuple(train_test_split(digits.data / 16.0, digits.target, test_size=0.25,
                                  random_state=seed, stratify=digits.target))


def train_digits(epochs: int = 15, hidden: int = 64, lr: float = 5e-3, batch_size: int = 32,
                 seed: int = 0) -> DigitsRun:
    """Train ``MLP([64, hidden, 10])`` with Adam on cross-entropy; a tqdm bar per epoch on a
    terminal, else (a log, a pipe, a notebook) one plain line per epoch on stdout."""
    from tqdm import tqdm

    bars = sys.stdout.isatty() and sys.stderr.isatty()  # redrawn bars would litter a log


    X_train, X_test, y_train, y_test = load_digits_split(seed)
    model = nn.MLP([64, hidden, 10], seed=seed)
    loss_fn = nn.CrossEntropyLoss()
    opt = nn.Adam(model.parameters(), lr=lr)
    run = DigitsRun(model, X_test, y_test)
    rng = np.random.default_rng(seed)
    n_batches = -(-len(X_train) // batch_size)
    print(f"{len(X_train)} training and {len(X_test)} test images of 8x8 pixels; "
          f"MLP 64-{hidden}-10 with ReLU, Adam lr={lr}, batches of {batch_size}")
    for epoch in range(1, epochs + 1):
        total = 0.0
        with tqdm(total=n_batches, desc=f"epoch {epoch:2d}/{epochs}", unit="batch",
                  disable=not bars) as bar:
            for xb, yb in nn.batches(X_train, y_train, batch_size, seed=rng):
                loss = loss_fn(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(xb)
                bar.update()
            with no_grad():
                logits = model(X_test)
                run.test_loss.append(loss_fn(logits, y_test).item())
            run.train_loss.append(total / len(X_train))
            run.accuracy = float(np.mean(logits.data.argmax(axis=1) == y_test))
            stats = {"loss": f"{run.train_loss[-1]:.4f}", "test loss": f"{run.test_loss[-1]:.4f}",
                     "test acc": f"{run.accuracy:.1%}"}
            bar.set_postfix(stats)
        if not bars:
            print(f"epoch {epoch:2d}/{epochs}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    return run


# ----- 3. files: the graph of one step, the loss curves, an explained expression ---------------
def draw_step(run: DigitsRun, path: Path, batch: int = 8) -> Path:
    """Run one training step's forward and backward on ``batch`` test images (no update) and
    save its graph, boxed by module; returns the path written (``.dot`` without Graphviz)."""

    images = Tensor(run.X_test[:batch], label=f"images ({batch})")
    loss = nn.CrossEntropyLoss()(run.model(images), run.y_test[:batch])
    loss.label = "loss"
    run.model.zero_grad()
    loss.backward()
    written = save_graph(draw_graph(loss), path)
    run.model.zero_grad()
    return written


def explore_step(run: DigitsRun, path: Path, batch: int = 8) -> Path | None:
    """The explorer page of the same step as ``draw_step`` (recorded in anomaly mode, so each
    node's panel names its line here); None without Graphviz, which lays it out."""
    if shutil.which("dot") is None:
        return None
    images = Tensor(run.X_test[:batch], label=f"images ({batch})")
    with detect_anomaly():
        loss = nn.CrossEntropyLoss()(run.model(images), run.y_test[:batch])
    loss.label = "loss"
    return explore(loss, model=run.model).save(path)


def plot_losses(seed_losses: list[float], run: DigitsRun, path: Path) -> Path:
    """The regression's MSE and the MLP's train and test cross-entropy, as a PNG (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(seed_losses)
    ax1.set(title="Seed's linear regression", xlabel="epoch", ylabel="MSE", yscale="log")
    epochs = range(1, len(run.train_loss) + 1)
    ax2.plot(epochs, run.train_loss, "o-", label="train")
    ax2.plot(epochs, run.test_loss, "s-", label="test")
    ax2.set(title=f"Digits MLP (test accuracy {run.accuracy:.1%})", xlabel="epoch",
            ylabel="cross-entropy", yscale="log")
    ax2.legend()
    fig.savefig(path, dpi=100)
    return path


def explain_expression(path: Path) -> Path:
    """Write ``explain()`` of ``e = tanh(a * b + a)``, where ``a`` is used twice."""
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    c.label = "c"
    d = c + a
    d.label = "d"
    e = d.tanh()
    e.label = "e"
    text = "e = tanh(a * b + a) with a = 2, b = -3\n\n" + explain(e) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


# ----- 4. gradcheck of the model's loss ---------------------------------------------------------
def check_model_gradients(run: DigitsRun, n: int = 4) -> None:
    """``gradcheck`` the trained model's loss on ``n`` test images with respect to every
    parameter (full Jacobian by central differences). Runs on a copy of the model whose
    ``Linear`` layers are handed the tensors that gradcheck perturbs."""

    probe = nn.MLP([64, run.model[0].out_features, 10])
    probe.load_state_dict(run.model.state_dict())
    layers = [m for m in probe if isinstance(m, nn.Linear)]
    X, y = run.X_test[:n], run.y_test[:n]

    def loss_of(*params: Tensor) -> Tensor:
        for layer, W, b in zip(layers, params[::2], params[1::2]):
            layer.weight, layer.bias = W, b
        return nn.CrossEntropyLoss()(probe(X), y)

    params = [p.data for p in run.model.parameters()]
    eps, atol, rtol = 1e-6, 1e-5, 1e-3
    start = time.perf_counter()
    gradcheck(loss_of, *params, eps=eps, atol=atol, rtol=rtol)
    size = sum(p.size for p in params)
    print(f"gradcheck passed: the trained model's loss on {n} test images, all {size} "
          f"parameters, full Jacobian by central differences\n"
          f"  (eps={eps:g}, atol={atol:g}, rtol={rtol:g}; {time.perf_counter() - start:.1f} s)")


# ----- 5. a small CNN on the same digits ---------------------------------------------------------
def train_cnn_digits(epochs: int = 10, lr: float = 3e-3, batch_size: int = 32,
                     seed: int = 0) -> tuple[DigitsRun, list[float], float]:
    """Train notebook 6's CNN on the digits as 1x8x8 images, standardised: Conv 1->16 3x3
    and Conv 16->32 3x3 (padding 1, ReLU), MaxPool 2, flatten, Dropout 0.3, Linear 512->10;
    Adam with a learning rate decaying along a half cosine. Returns the run, the test accuracy
    after each epoch and the median seconds of one forward and backward pass."""
    X_train, X_test, y_train, y_test = load_digits_split(seed)
    X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    mean, std = X_train.mean(), X_train.std()
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, seed=rng), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, seed=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3, seed=rng), nn.Linear(32 * 4 * 4, 10, seed=rng))
    loss_fn = nn.CrossEntropyLoss()
    opt = nn.Adam(model.parameters(), lr=lr)
    run = DigitsRun(model, X_test, y_test)
    accuracies, step_times = [], []
    print(f"CNN conv 16, conv 32, max pool, linear ({sum(p.size for p in model.parameters())} "
          f"parameters), Adam lr={lr} on a half cosine, batches of {batch_size}")
    for epoch in range(epochs):
        opt.param_groups[0]["lr"] = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        model.train()
        total = 0.0
        for xb, yb in nn.batches(X_train, y_train, batch_size, seed=rng):
            start = time.perf_counter()
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            step_times.append(time.perf_counter() - start)
            opt.step()
            total += loss.item() * len(xb)
        model.eval()
        with no_grad():
            logits = model(X_test)
            run.test_loss.append(loss_fn(logits, y_test).item())
        run.train_loss.append(total / len(X_train))
        accuracies.append(float(np.mean(logits.data.argmax(axis=1) == y_test)))
        print(f"  epoch {epoch + 1:2d}/{epochs}: train loss {run.train_loss[-1]:.4f}, "
              f"test loss {run.test_loss[-1]:.4f}, test accuracy {accuracies[-1]:.2%}")
    run.accuracy = accuracies[-1]
    model.train()
    return run, accuracies, float(np.median(step_times))


def plot_cnn(run: DigitsRun, accuracies: list[float], path: Path) -> Path:
    """The CNN's train and test cross-entropy and its test accuracy per epoch, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    epochs = range(1, len(run.train_loss) + 1)
    ax1.plot(epochs, run.train_loss, "o-", label="train")
    ax1.plot(epochs, run.test_loss, "s-", label="test")
    ax1.set(title="Digits CNN", xlabel="epoch", ylabel="cross-entropy", yscale="log")
    ax1.legend()
    ax2.plot(epochs, accuracies, "s-", color="C1")
    ax2.set(title=f"Test accuracy (last {run.accuracy:.2%})", xlabel="epoch")
    fig.savefig(path, dpi=100)
    return path


def cnn_part(out: Path, quick: bool = False) -> dict[str, Path]:
    """Part 5: train the CNN, then draw one training step and plot its curves into ``out``."""
    print("\n== 5. A small CNN on the same digits ==")
    start = time.perf_counter()
    run, accuracies, step = train_cnn_digits(epochs=2 if quick else 10)
    print(f"CNN test accuracy: {run.accuracy:.2%} "
          f"({round(run.accuracy * len(run.y_test))}/{len(run.y_test)} test images); "
          f"trained in {time.perf_counter() - start:.1f} s, forward + backward of a batch: "
          f"{1000 * step:.1f} ms")
    files = {"cnn_graph": draw_step(run, out / "cnn_step.svg", batch=4),
             "cnn_curves": plot_cnn(run, accuracies, out / "cnn_curves.png")}
    print(f"graph of one CNN training step: {files['cnn_graph']}")
    print(f"CNN curves:                     {files['cnn_curves']}")
    return files


# ----- the demo ----------------------------------------------------------------------------------
def run_demo(out: str | Path = "tapegrad-demo", quick: bool = False) -> dict[str, Path]:
    """Run every part, write the files into ``out`` and return their paths by kind.
    ``quick`` trains fewer epochs (for tests); the accuracy target needs the full run."""
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_losses = seed_part()
    print("\n== 1b. The seed's step as code: the program autograd derived ==")
    program = derived_program(out / "derived_program.py")

    print("\n== 2. An MLP on scikit-learn's handwritten digits ==")
    run = train_digits(epochs=3 if quick else 15)
    print(f"test accuracy: {run.accuracy:.1%} "
          f"({round(run.accuracy * len(run.y_test))}/{len(run.y_test)} test images)")

    print("\n== 3. Files ==")
    files = {"graph": draw_step(run, out / "mlp_step.svg"),
             "losses": plot_losses(seed_losses, run, out / "loss_curves.png"),
             "explain": explain_expression(out / "explain.txt"), "program": program}
    explorer = explore_step(run, out / "mlp_step.html")
    print(f"graph of one training step:     {files['graph']}")
    if explorer is not None:
        files["explorer"] = explorer
        print(f"the step, to explore (browser): {explorer}")
    print(f"loss curves:                    {files['losses']}")
    print(f"explain() of tanh(a * b + a):   {files['explain']}")
    print(f"the seed's step as numpy code:  {files['program']}")
    if files["graph"].suffix == ".dot" or shutil.which("dot") is None:
        print(f"note: {INSTALL_HINT}; then render the source with "
              f"`dot -Tsvg {files['graph']} -o {files['graph'].with_suffix('.svg')}`")

    print("\n== 4. Gradient check ==")
    check_model_gradients(run)
    files |= cnn_part(out, quick)
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    return files
