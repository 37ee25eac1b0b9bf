"""The KL benchmark behind ``benchmarks/bench_kl.py``, one module per subject.

``common``: timing, memory measurement and the results files;
``probabilities``: row-wise KL of probabilities, every backend's variants and the run;
``probabilities_report``: its targets, Markdown table and plot;
``logits``: KL between rows of logits with the student gradient, against each peer;
``logits_report``: its Markdown table and plot.
"""
