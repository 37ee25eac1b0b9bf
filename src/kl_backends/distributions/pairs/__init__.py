"""Cross-family KL pairs: those ``torch.distributions`` registers, plus TFP's Chi2/Weibull-Gamma.

One module per kind of p: ``location_scale``, ``positive``, ``bounded``,
``discrete``, ``multivariate``; ``support`` registers the pairs that are
+inf whatever the parameters, ``moments`` holds the terms they share.

Each finite pair is ``-H(p) - E_p[log q(x)]`` with the moments of p that
``log q`` needs (``E[x]``, ``E[x^2]``, ``E[log x]``, ``E[exp(-x/b)]``),
written out below.  Where p puts mass outside q's support the KL is
``+inf``:

* always, for p with unbounded support against q with bounded or
  half-bounded support (Normal, Laplace, Gumbel against Beta,
  ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform; Exponential and
  Gamma against Beta, ContinuousBernoulli, Pareto, Uniform; Pareto against
  Beta, ContinuousBernoulli, Uniform; Beta and ContinuousBernoulli against
  Pareto; Poisson against Bernoulli and Binomial);
* depending on the parameters: ``Uniform(low, high)`` against ``Beta`` or
  ``ContinuousBernoulli`` unless 0 <= low and high <= 1; against
  ``Exponential``/``Gamma`` where low < 0; against ``Pareto`` where
  low < scale; ``Beta``/``ContinuousBernoulli`` against ``Uniform`` unless
  low <= 0 and 1 <= high; ``Pareto`` against ``Exponential``/``Gamma`` where
  alpha <= 1 (infinite mean), against ``Normal`` where alpha <= 2.

Differences from torch (bugs there, not copied): ``KL(Uniform(0, 1) ||
Beta(1, 1))`` is 0 here (torch #144279: NaN from ``0 * log 0``), and
``KL(ContinuousBernoulli || Uniform(0, 1))`` and ``KL(Uniform(0, 1) ||
ContinuousBernoulli)`` are finite here (torch compares the support bounds
with ``>=`` / ``<=`` and returns +inf for the exact cover [0, 1]).
"""

from kl_backends.distributions.pairs import (  # noqa: F401  (importing registers the pairs)
    bounded,
    discrete,
    location_scale,
    multivariate,
    positive,
    support,
)
