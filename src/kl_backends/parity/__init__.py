"""The parity machinery: cases, the float64 reference, comparison, the run, the report, the CLI.

Used by ``kl-backends parity``, ``kl_backends.testing`` and the test suite;
nothing in the math depends on it.
"""
