"""``TopKLogProbs`` against other projects' top-k losses (``_topk_peers``: their formulas).

The relations the guide's table states, row by row in float64: verl's value is ours
minus the tail bucket's term (so it can be negative, and its clamp hides that);
axolotl's and NeMo-RL's forward KL renormalise the teacher over the K, MaxText's both
sides, which gives ours through the chain rule of KL; TRL's tail bucket is ours
wherever both tails exceed its floor; NeMo-RL's reverse KL (rest at -100) is a dense
KL against a floored teacher, which bounds ours from above.
"""

from __future__ import annotations

import numpy as np
import pytest
from _topk_peers import (
    axolotl_forward,
    maxtext_sparse,
    nemo_rl,
    trl_server_forward,
    verl_forward,
)
from scipy.special import log_softmax, logsumexp, rel_entr

from kl_backends import TopKLogProbs, kl_divergence

V, K, N = 10, 4, 40


def rows(seed: int, teacher_tail: bool = True):
    """Teacher log-probs and ids (its top K), student logits; scales from flat to peaked."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.2, 4.0, size=(N, 1))
    t_full = log_softmax(rng.normal(size=(N, V)) * scale, axis=-1)
    if not teacher_tail:  # all the teacher's mass on its top K
        order = np.argsort(-t_full, axis=-1)
        np.put_along_axis(t_full, order[:, K:], -np.inf, axis=-1)
        t_full = t_full - logsumexp(t_full, axis=-1, keepdims=True)
    ids = np.argsort(-t_full, axis=-1)[:, :K]
    t_lp = np.take_along_axis(t_full, ids, -1)
    z = rng.normal(size=(N, V)) * rng.uniform(0.2, 4.0, size=(N, 1))
    return t_full, ids, t_lp, z


def ours(ids, t_lp, z, reverse=False):
    t = TopKLogProbs(ids, t_lp)
    return kl_divergence(z, t, inputs="logits") if reverse else kl_divergence(t, z, inputs="logits")


def masses(ids, t_lp, z):
    s_p = np.exp(logsumexp(t_lp, axis=-1))
    s_q = np.exp(logsumexp(np.take_along_axis(log_softmax(z, axis=-1), ids, -1), axis=-1))
    return s_p, s_q


def test_verl_is_ours_without_the_tail_term() -> None:
    _, ids, t_lp, z = rows(0)
    s_p, s_q = masses(ids, t_lp, z)
    peer = np.array([verl_forward(ids[i], t_lp[i], z[i], clamp=False) for i in range(N)])
    np.testing.assert_allclose(ours(ids, t_lp, z), peer + rel_entr(1 - s_p, 1 - s_q), rtol=1e-10)


def test_verl_negative_where_ours_is_not() -> None:
    """The student holds more of the K than the teacher: verl's sum is negative (clamped
    to 0, with a zero gradient); ours, a KL of two distributions, is positive."""
    ids = np.array([0, 1])
    t_lp = np.log(np.array([0.2, 0.1]))  # teacher tail 0.7
    z = np.array([3.0, 2.0, 0.0, 0.0, 0.0])  # student tail about 0.11
    assert verl_forward(ids, t_lp, z, clamp=False) < -0.2
    assert verl_forward(ids, t_lp, z) == 0.0
    value = float(ours(ids[None], t_lp[None], z[None])[0])
    assert value > 0.5


@pytest.mark.parametrize("teacher_tail", [True, False])
def test_renormalised_peers_and_the_chain_rule(teacher_tail) -> None:
    """MaxText (both sides renormalised over the K) and axolotl / NeMo-RL's forward KL
    (teacher renormalised, student over the vocabulary):
    ours = KL(Bernoulli(S_p) || Bernoulli(S_q)) + S_p * maxtext, axolotl = maxtext - log S_q;
    with no teacher tail, ours = axolotl = NeMo-RL's forward KL."""
    _, ids, t_lp, z = rows(1, teacher_tail)
    s_p, s_q = masses(ids, t_lp, z)
    mt = np.array([maxtext_sparse(ids[i], t_lp[i], z[i]) for i in range(N)])
    ax = np.array([axolotl_forward(ids[i], t_lp[i], z[i]) for i in range(N)])
    nemo_f = np.array([nemo_rl(ids[i], t_lp[i], z[i], "forward", True) for i in range(N)])
    nemo_r = np.array([nemo_rl(ids[i], t_lp[i], z[i], "forward", False) for i in range(N)])
    value = ours(ids, t_lp, z)
    binary = rel_entr(s_p, s_q) + rel_entr(1 - s_p, 1 - s_q)
    np.testing.assert_allclose(value, binary + s_p * mt, rtol=1e-10)
    np.testing.assert_allclose(ax, mt - np.log(s_q), rtol=1e-10)
    np.testing.assert_allclose(nemo_f, ax, rtol=1e-12)
    np.testing.assert_allclose(nemo_r, mt, rtol=1e-12)
    if not teacher_tail:
        np.testing.assert_allclose(value, ax, rtol=1e-10)
    else:
        assert np.all(np.abs(value - ax) > 1e-6)


def test_trl_tail_bucket() -> None:
    """TRL's tail bucket is ours while both tails exceed its floor 1 - exp(-1e-7); with no
    teacher tail, the floor gives the teacher 1e-7 more mass than 1 and a value off by
    about 1e-7 * log(1e-7 / student tail)."""
    _, ids, t_lp, z = rows(2)
    s_p, s_q = masses(ids, t_lp, z)
    assert np.all(1 - s_p > 1e-6) and np.all(1 - s_q > 1e-6)
    trl = np.array([trl_server_forward(ids[i], t_lp[i], z[i]) for i in range(N)])
    np.testing.assert_allclose(ours(ids, t_lp, z), trl, rtol=1e-9)
    _, ids, t_lp, z = rows(3, teacher_tail=False)
    _, s_q = masses(ids, t_lp, z)
    trl = np.array([trl_server_forward(ids[i], t_lp[i], z[i]) for i in range(N)])
    np.testing.assert_allclose(trl - ours(ids, t_lp, z), 1e-7 * np.log(1e-7 / (1 - s_q)), rtol=1e-3)


def test_nemo_rl_reverse_floor() -> None:
    """NeMo-RL's reverse KL with zero_outside_topk is the dense KL(student || teacher with
    its K renormalised and log-probability -100 on every other token): finite where the
    teacher's tail, (V - K) e^-100, is below the rounding of its top-K mass, which ours
    takes as an empty tail (reverse KL +inf wherever the student has mass outside the K);
    with the teacher's actual tail ours is finite and differs."""
    _, ids, t_lp, z = rows(4)
    peer = np.array([nemo_rl(ids[i], t_lp[i], z[i], "reverse", True) for i in range(N)])
    floored = np.full((N, V), -100.0)
    renorm = t_lp - logsumexp(t_lp, axis=-1, keepdims=True)
    np.put_along_axis(floored, ids, renorm, axis=-1)
    dense = kl_divergence(z, floored, inputs=("logits", "log_probs"))
    np.testing.assert_allclose(peer, dense, rtol=1e-10)
    ours_floor = ours(ids, renorm - np.log1p((V - K) * np.exp(-100.0)), z, reverse=True)
    assert np.all(ours_floor == np.inf)
    value = ours(ids, t_lp, z, reverse=True)
    assert np.all(np.isfinite(value)) and np.all(value >= 0) and np.all(value < peer)
