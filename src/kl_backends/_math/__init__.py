"""The math, written once against the Python array API standard.

Nothing here names a framework: every function takes its namespace ``xp``
(and, where a framework's own kernel may serve, its backend) from
``kl_backends.backends`` and calls only the standard's functions.
"""
