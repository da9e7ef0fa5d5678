"""The tasks: what the library is used for, end to end (data, features, training loop, checkpoint,
metrics, plots and the ``numpy-attn`` command line).

- ``anomaly``: the synthetic anomaly task (``synthetic`` draws its series): train and predict.
- ``text``, ``kernel_regression``: the small worked examples.
- shared: ``training`` (the loop), ``checkpoint`` (the file format), ``preprocessing`` (split, scaling),
  ``metrics``, ``plots``, ``cli``.
"""
