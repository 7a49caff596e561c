"""The benchmark's training steps in JAX on the CPU, for comparison with `make bench`.

Not part of bprop (JAX is not a dependency): `make bench` installs jax, jaxlib and optax into the
benchmark's own environment (benchmarks/requirements-peers.txt) and times this beside bprop and
PyTorch. The work is bprop's step: gather a shuffled batch, forward, softmax cross-entropy,
backward, the gradient's norm, optax's Adam, float32, in two forms a speed-minded JAX user
writes:

- ``step``: one jitted step (gather inside) called from Python per batch;
- ``scan``: the whole epoch one jitted call, `jax.lax.scan` over the batches' indices, each
  step's loss and gradient norm returned in arrays (what bprop's compiled epoch returns).

Medians over epochs after the first (which compiles).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import optax


def _init(sizes: list[int], key: Any) -> list[tuple[Any, Any]]:
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (fan_in, fan_out), jnp.float32) * jnp.sqrt(2.0 / fan_in)
        params.append((w, jnp.zeros(fan_out, jnp.float32)))
    return params


def _loss(params: list[tuple[Any, Any]], x: Any, y: Any) -> Any:
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    logits = x @ w + b
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _trainer(sizes: list[int], n: int) -> tuple[Any, Any, Any]:
    key = jax.random.PRNGKey(0)
    params = _init(sizes, key)
    opt = optax.adam(1e-3)
    state = opt.init(params)
    X = jax.random.normal(jax.random.PRNGKey(1), (n, sizes[0]), jnp.float32)
    y = jax.random.randint(jax.random.PRNGKey(2), (n,), 0, sizes[-1])

    def step(carry: Any, idx: Any) -> Any:
        params, state = carry
        loss, grads = jax.value_and_grad(_loss)(params, X[idx], y[idx])
        norm = optax.global_norm(grads)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), (loss, norm)

    return params, state, step


def seconds_per_step(
    sizes: list[int], batch: int, n: int, epochs: int, form: str
) -> tuple[float, float]:
    """Median seconds per step of whole epochs in ``form`` ("step" or "scan"), and the seconds
    the first epoch took beyond that (compiling)."""
    params, state, step = _trainer(sizes, n)
    steps = n // batch
    keys = jax.random.split(jax.random.PRNGKey(3), epochs + 1)
    if form == "scan":

        @jax.jit
        def epoch(params: Any, state: Any, order: Any) -> Any:
            batches = order[: steps * batch].reshape(steps, batch)
            return jax.lax.scan(step, (params, state), batches)

    else:
        jitted = jax.jit(step)
    per_epoch = []
    for key in keys:
        order = jax.random.permutation(key, n)
        start = time.perf_counter()
        if form == "scan":
            (params, state), figures = epoch(params, state, order)
            jax.block_until_ready(figures)
        else:
            for k in range(steps):
                (params, state), figures = jitted(
                    (params, state), order[k * batch : (k + 1) * batch]
                )
            jax.block_until_ready(figures)
        per_epoch.append((time.perf_counter() - start) / steps)
    median = statistics.median(per_epoch[1:])
    return median, (per_epoch[0] - median) * steps


def measure(reps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per step of every case, keyed as `bench.py` reads them, and each case's
    compiling seconds."""
    out, compiling = {}, {}
    cases = [([784, 256, 128, 10], b, 16 * 1024) for b in (128, 1024)]
    cases.append(([64, 128, 64, 10], 1, 2000))
    for (sizes, batch, n), form in itertools.product(cases, ("step", "scan")):
        key = f"{form}-{batch}"
        out[key], compiling[key] = seconds_per_step(sizes, batch, n, reps, form)
    return out, compiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--reps", type=int, default=7, help="epochs timed after the first")
    args = parser.parse_args()
    times, compiling = measure(args.reps)
    if args.json:
        print(json.dumps({"version": jax.__version__, "seconds": times, "compiling": compiling}))
        return
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}")
    for case, t in times.items():
        print(f"{case:>10}: {t * 1e6:9.1f} µs/step, compiling {compiling[case]:.2f} s")


if __name__ == "__main__":
    main()
