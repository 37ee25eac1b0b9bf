"""The RL frameworks' per-token KL penalties, transcribed line by line from their PyTorch code.

Each takes an array-API namespace ``xp`` (NumPy for values; a framework's for gradients)
and, where the peer detaches, ``detach`` (the framework's stop-gradient). ``torch.clamp``
is written ``xp.minimum(xp.maximum(x, lo), hi)`` (the same values; the tests keep away
from the bounds, where the gradients of the two forms may differ). Where a peer casts to
float32 (``.float()``), ``dtype`` says so.

* verl, ``verl/trainer/ppo/core_algos.py``, ``kl_penalty`` and ``kl_penalty_forward``
  (volcengine/verl at b178a3cd56f5).  At that commit a name ending in ``+`` reaches
  ``kl_penalty_forward`` unchanged and raises ``NotImplementedError``; verl PR #6058
  strips the suffix, as here.
* OpenRLHF, ``openrlhf/models/utils.py``, ``compute_approx_kl`` (OpenRLHF/OpenRLHF at
  3c3be6234e0c).
* TRL, ``trl/trainer/grpo_trainer.py``, ``GRPOTrainer._compute_loss`` (the
  ``per_token_kl`` lines, with ``use_bias_correction_kl``) (huggingface/trl at
  f2cd57710ae3).
* NeMo-RL, ``nemo_rl/algorithms/utils.py``, ``calculate_kl``; defaults from
  ``nemo_rl/algorithms/loss/loss_functions.py`` (``kl_input_clamp_value: 20.0``,
  ``kl_output_clamp_value: 10.0``, ``reference_policy_kl_type: "k3"``)
  (NVIDIA-NeMo/RL at 7ea279abfbeb).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _identity(x: Any) -> Any:
    return x


def _clamp(xp: Any, x: Any, lo: float, hi: float) -> Any:
    return xp.minimum(xp.maximum(x, xp.asarray(lo, dtype=x.dtype)), xp.asarray(hi, dtype=x.dtype))


def verl_kl_penalty_forward(xp: Any, logprob: Any, ref_logprob: Any, kl_penalty: str) -> Any:
    if kl_penalty in ("kl", "k1"):
        return logprob - ref_logprob
    if kl_penalty == "abs":
        return xp.abs(logprob - ref_logprob)
    if kl_penalty in ("mse", "k2"):
        return 0.5 * (logprob - ref_logprob) ** 2
    if kl_penalty in ("low_var_kl", "k3"):
        kl = ref_logprob - logprob
        kl = _clamp(xp, kl, -20, 20)  # "For numerical stability"
        ratio = xp.exp(kl)
        kld = ratio - kl - 1
        return _clamp(xp, kld, -10, 10)
    raise NotImplementedError


def verl_kl_penalty(
    xp: Any,
    logprob: Any,
    ref_logprob: Any,
    kl_penalty: str,
    detach: Callable[[Any], Any] = _identity,
) -> Any:
    """``kl_penalty``: a name ending in ``+`` keeps the value and takes k2's gradient."""
    forward_score = verl_kl_penalty_forward(xp, logprob, ref_logprob, kl_penalty.rstrip("+"))
    if not kl_penalty.endswith("+") or kl_penalty in ("mse", "k2"):
        return forward_score
    backward_score = 0.5 * (logprob - ref_logprob) ** 2
    return backward_score - detach(backward_score) + detach(forward_score)


def openrlhf_compute_approx_kl(
    xp: Any, log_probs: Any, log_probs_base: Any, kl_estimator: str = "k1"
) -> Any:
    log_ratio = xp.astype(log_probs, xp.float32) - xp.astype(log_probs_base, xp.float32)
    if kl_estimator == "k1":
        pass
    elif kl_estimator == "k2":
        log_ratio = log_ratio**2 / 2.0
    elif kl_estimator == "k3":
        log_ratio = xp.exp(-log_ratio) - 1 + log_ratio
    else:
        raise ValueError(f"Unknown kl_estimator: {kl_estimator}")
    return _clamp(xp, log_ratio, -10, 10)


def trl_grpo_per_token_kl(
    xp: Any, per_token_logps: Any, ref_per_token_logps: Any, coef_1: Any = None
) -> Any:
    """k3 with no clamp; ``coef_1 = exp(log pi - log pi_old)`` under ``use_bias_correction_kl``."""
    per_token_kl = (
        xp.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1
    )
    if coef_1 is not None:
        per_token_kl = per_token_kl * coef_1
    return per_token_kl


def nemo_rl_calculate_kl(
    xp: Any,
    logprobs: Any,
    logprobs_reference: Any,
    kl_type: str = "k3",
    input_clamp_value: float | None = 20.0,
    output_clamp_value: float | None = 10.0,
    importance_sampling_weights: Any = None,
    detach: Callable[[Any], Any] = _identity,
) -> Any:
    logr = logprobs_reference - logprobs
    if input_clamp_value is not None:
        logr_clamped = _clamp(xp, logr, -input_clamp_value, input_clamp_value)
        if importance_sampling_weights is not None:
            importance_sampling_weights = xp.where(
                logr == logr_clamped,
                importance_sampling_weights,
                detach(importance_sampling_weights),
            )
        logr = logr_clamped
    if kl_type == "k1":
        kl = -logr
    elif kl_type == "k2":
        kl = logr**2 / 2
    elif kl_type == "k3":
        kl = xp.exp(logr) - 1 - logr
    else:
        raise ValueError(f"Invalid KL type: {kl_type}")
    if importance_sampling_weights is not None:
        kl = importance_sampling_weights * kl
    if output_clamp_value is not None:
        kl = _clamp(xp, kl, -output_clamp_value, output_clamp_value)
    return kl


def quiet() -> Any:
    """The peers' own overflow (``exp`` of a large log-ratio) is part of what is compared."""
    return np.errstate(over="ignore", invalid="ignore")
