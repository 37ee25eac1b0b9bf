"""Top-k distillation losses of other projects, transcribed to float64 NumPy, one row per call.

Each function takes what its project takes for one position: the teacher's K
ids and log-probabilities (``t_ids``, ``t_lp``, over the teacher's whole
vocabulary) and the student's logits ``z`` over the vocabulary, and returns
the per-position loss before any batch reduction.  Transcribed from:

* verl: ``verl/trainer/distillation/fsdp/losses.py``, ``compute_forward_kl_topk``
  and ``kl_divergence`` (``sum p_k (log p_k - log q_k)`` over the teacher's
  top K, both full-vocabulary log-probabilities); the loss registered as
  ``forward_kl_topk`` in ``verl/trainer/distillation/losses.py`` then applies
  ``distillation_losses.clamp_min(0.0)``.
* axolotl: ``src/axolotl/integrations/kd/topk_logprob/forward_kl.py``, ``loss``:
  ``sum p_k (log p_k - log q_k)`` with the teacher's log-probabilities
  "already re-normalized" over the K and the student's over the vocabulary.
* NeMo-RL: ``nemo_rl/algorithms/loss_functions.py``, ``DistillationLossFn``,
  with ``nemo_rl/distributed/model_utils.py``,
  ``get_distillation_topk_logprobs_from_logits``: the teacher renormalised
  over the K (``log_softmax`` of its top-K logits); with
  ``zero_outside_topk`` the student's full-vocabulary log-probabilities and,
  for the reverse KL, a correction ``H_rest - (-100) * P_rest`` (every token
  outside the K has teacher log-probability -100); without it the student
  renormalised over the K too.
* TRL: ``trl/experimental/server_distillation/server_distillation_trainer.py``,
  ``_add_tail_bucket`` and ``_compute_server_forward_kl_loss``: a tail bucket
  ``log(-expm1(min(logsumexp(lp_K), -1e-7)))`` on both sides.
* MaxText: ``src/maxtext/trainers/post_train/distillation/distillation_utils.py``,
  the sparse branch of ``compute_loss``: both sides renormalised over the K
  (``log_softmax`` of the teacher's saved logits and of the student's logits
  at the same ids), ``sum p (log p - log q)`` (before its ``T**2`` factor).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp


def _student_lp(z: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return log_softmax(z)[ids]


def verl_forward(t_ids: np.ndarray, t_lp: np.ndarray, z: np.ndarray, clamp: bool = True) -> float:
    lq = _student_lp(z, t_ids)
    kl = float(np.sum(np.exp(t_lp) * (t_lp - lq)))
    return max(kl, 0.0) if clamp else kl


def axolotl_forward(t_ids: np.ndarray, t_lp: np.ndarray, z: np.ndarray) -> float:
    lp = t_lp - logsumexp(t_lp)  # the collator's renormalisation over the K
    return float(np.sum(np.exp(lp) * (lp - _student_lp(z, t_ids))))


def nemo_rl(
    t_ids: np.ndarray, t_lp: np.ndarray, z: np.ndarray, kl_type: str, zero_outside_topk: bool
) -> float:
    lp = log_softmax(t_lp)  # log_softmax of the saved top-K (logits or log-probs alike)
    if zero_outside_topk:
        full = log_softmax(z)
        lq = full[t_ids]
        h_all = np.sum(np.exp(full) * full)
    else:
        lq = log_softmax(z[t_ids])
    p, q = np.exp(lp), np.exp(lq)
    correction = 0.0
    if zero_outside_topk and kl_type != "forward":
        h_rest = h_all - np.sum(q * lq)
        p_rest = 1 - np.sum(q)
        correction = h_rest - (-100) * p_rest
    if kl_type == "forward":
        return float(np.sum(p * (lp - lq)))
    return float(np.sum(q * (lq - lp)) + correction)


def _trl_tail(lp: np.ndarray) -> np.ndarray:
    log_sum = min(logsumexp(lp), -1e-7)
    return np.append(lp, np.log(-np.expm1(log_sum)))


def trl_server_forward(t_ids: np.ndarray, t_lp: np.ndarray, z: np.ndarray) -> float:
    sp = _trl_tail(_student_lp(z, t_ids))
    tp = _trl_tail(t_lp)
    return float(np.sum(np.exp(tp) * (tp - sp)))


def maxtext_sparse(t_ids: np.ndarray, t_lp: np.ndarray, z: np.ndarray) -> float:
    lp = log_softmax(t_lp)
    lq = log_softmax(z[t_ids])
    return float(np.sum(np.exp(lp) * (lp - lq)))
