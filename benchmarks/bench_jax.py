"""JAX (CPU, float64 via jax_enable_x64, one thread): each step under ``jax.jit``, written as a
JAX user writes it (a pure function of the parameters, ``jax.value_and_grad``)."""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import bench_common as C  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

NAME = "JAX jit"


def version() -> str:
    return f"jax {jax.__version__}"


def seed_linreg():
    x0, y0, W0, b0 = C.seed_linreg_data()
    x, y = jnp.asarray(x0), jnp.asarray(y0)
    lr = C.SEED_LR

    def loss_fn(W, b):
        y_pred = x @ W + b
        return jnp.mean((y_pred - y) ** 2)

    @jax.jit
    def step(W, b):
        loss, (dW, db) = jax.value_and_grad(loss_fn, argnums=(0, 1))(W, b)
        return W - lr * dW, b - lr * db, loss

    def run():
        W, b = jnp.asarray(W0), jnp.asarray(b0)
        for _ in range(C.SEED_EPOCHS):
            W, b, loss = step(W, b)
        return float(loss)

    return run


def mlp(name: str):
    x0, labels0, layers, lr = C.mlp_data(name)
    x, labels = jnp.asarray(x0), jnp.asarray(labels0)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layers]

    def loss_fn(params):
        a = x
        for i, (W, b) in enumerate(params):
            a = a @ W + b
            if i < len(params) - 1:
                a = jax.nn.relu(a)
        logp = jax.nn.log_softmax(a, axis=1)
        return -jnp.mean(logp[jnp.arange(x.shape[0]), labels])

    @jax.jit
    def step(params):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)], loss

    state = [params]

    def run():
        state[0], loss = step(state[0])
        loss.block_until_ready()  # (JAX dispatches asynchronously: time the work itself)
        return loss

    return run, _item


def _item(loss) -> float:
    loss.block_until_ready()
    return float(loss)
