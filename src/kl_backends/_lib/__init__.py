"""The bottom layer: argument checks, one copy of each small array helper, frozen option
records and the rules every kernel shares.

Nothing here imports another part of kl_backends, and nothing here imports a
framework: the helpers take the array namespace ``xp`` (and a device, where one
is needed) as arguments.

* ``args``: checks of keyword arguments and shapes (Python values only);
* ``arrays``: ``scalar``, log-sum-exp and log-softmax, ``x log y``, casting a
  result back (``finish``), the preparation of a block of logits (cast, mask,
  divide by the temperature) and the rows per block;
* ``deprecation``: ``alias``, an old public name that warns and names the new one;
* ``options``: the frozen records of a call's options (``RowSpec`` for rows of
  logits, ``KLOptions`` for the reduction, keepdims and log base of a call);
* ``policy``: the rules the kernels share: when fast paths are on, the
  smallest inputs (``SMALL``), the float64 trust bound (``EXACT_BELOW``), what
  a quick call admits and how a seed is read.
"""
