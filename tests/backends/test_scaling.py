"""Scaling out: Dask stays lazy (and runs on a distributed cluster), JAX sharding."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence
from kl_backends.parity.reference import reference_kl

RNG = np.random.default_rng(5)
P = RNG.dirichlet(np.ones(40), size=300)
Q = RNG.dirichlet(np.ones(40), size=300)
P[0, :5] = 0.0
P[0] /= P[0].sum()


def _forbid_compute(*args, **kwargs):
    raise AssertionError("kl_divergence computed a Dask graph")


@pytest.mark.parametrize("inputs", ["probs", "log_probs", "logits"])
def test_dask_stays_lazy_and_keeps_chunks(inputs) -> None:
    dask = need("dask")
    da = need("dask.array")
    with np.errstate(divide="ignore"):
        p_np, q_np = (P, Q) if inputs == "probs" else (np.log(P), np.log(Q))
    p = da.from_array(p_np, chunks=(64, 20))
    q = da.from_array(q_np, chunks=(64, 20))
    with dask.config.set(scheduler=_forbid_compute):
        out = kl_divergence(p, q, inputs=inputs)
        mean = kl_divergence(p, q, inputs=inputs, reduction="mean", base=2)
    assert isinstance(out, da.Array) and isinstance(mean, da.Array)
    assert out.chunks == (p.chunks[0],)
    np.testing.assert_allclose(out.compute(), reference_kl(p_np, q_np, inputs=inputs), rtol=1e-12)
    np.testing.assert_allclose(
        mean.compute(),
        reference_kl(p_np, q_np, inputs=inputs, reduction="mean", base=2),
        rtol=1e-12,
    )


@pytest.mark.slow
def test_dask_on_a_distributed_local_cluster() -> None:
    """Two worker processes; results match NumPy; both workers did some of the work."""
    need("dask")
    da = need("dask.array")
    distributed = need("distributed")
    p = da.from_array(P.astype(np.float32), chunks=(50, 40))
    q = da.from_array(Q.astype(np.float32), chunks=(50, 40))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = kl_divergence(p, q)
        got = client.compute(out).result()
        logits = client.compute(
            kl_divergence(da.log(p) + 1.0, da.log(q), inputs="logits", reduction="sum")
        ).result()
        done = client.run(_executed_count)  # tasks each worker ran
    assert got.dtype == np.float32
    np.testing.assert_allclose(
        got, kl_divergence(P.astype(np.float32), Q.astype(np.float32)), rtol=1e-6
    )
    np.testing.assert_allclose(
        got, reference_kl(P.astype(np.float32), Q.astype(np.float32)), rtol=5e-5, atol=2e-6
    )
    np.testing.assert_allclose(
        logits, reference_kl(P.astype(np.float32), Q.astype(np.float32), reduction="sum"), rtol=5e-5
    )
    assert len(done) == 2 and all(n > 0 for n in done.values()), done


def _executed_count(dask_worker) -> int:  # distributed passes the worker by this name
    return dask_worker.state.executed_count


_SHARDING = """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import re
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from kl_backends import kl_divergence

    assert len(jax.devices()) == 2
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(64), size=128).astype(np.float32)
    q = rng.dirichlet(np.ones(64), size=128).astype(np.float32)
    rows = NamedSharding(mesh, P("batch", None))
    ps, qs = jax.device_put(p, rows), jax.device_put(q, rows)

    for inputs, a, b in (("probs", ps, qs), ("logits", jnp.log(ps), jnp.log(qs))):
        out = kl_divergence(a, b, inputs=inputs)            # eager (cached jit inside)
        assert out.sharding.is_equivalent_to(NamedSharding(mesh, P("batch")), 1), out.sharding
        assert [s.data.shape for s in out.addressable_shards] == [(64,), (64,)]
        np.testing.assert_allclose(np.asarray(out), (p * np.log(p / q)).sum(-1), rtol=2e-5)
        hlo = jax.jit(lambda a, b: kl_divergence(a, b, inputs=inputs)).lower(a, b).compile().as_text()
        # Rows stay where they are: nothing gathered; the only collective allowed is the
        # probs kernel's one scalar (whether any row needs the generic code, for lax.cond).
        assert "all-gather" not in hlo and "all-to-all" not in hlo, inputs
        reduced = re.findall(r"= (\\w+\\[[^\\]]*\\])[^=]* all-reduce\\(", hlo)
        assert all(t.endswith("[]") for t in reduced), (inputs, reduced)

    # Event axis sharded: partial sums are all-reduced, inputs are never gathered.
    cols = NamedSharding(mesh, P(None, "batch"))
    pc, qc = jax.device_put(p, cols), jax.device_put(q, cols)
    hlo = jax.jit(lambda a, b: kl_divergence(a, b)).lower(pc, qc).compile().as_text()
    assert "all-gather" not in hlo and "all-reduce" in hlo
    np.testing.assert_allclose(np.asarray(kl_divergence(pc, qc)), (p * np.log(p / q)).sum(-1),
                               rtol=2e-5)
    print("sharding ok")
"""


def test_jax_sharded_inputs_give_sharded_result_without_gather() -> None:
    need("jax")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SHARDING)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("sharding ok")
