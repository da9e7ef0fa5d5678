"""The tasks: what the library is used for, end to end (data, features, training loop, checkpoint,
metrics, plots and the ``numpy-attn`` command line).

- ``anomaly``: the synthetic anomaly task (``synthetic`` draws its series): train and predict.
- ``classify``: the UCR/UEA archives and a user's own labelled files (``numpy_attn.datasets`` reads them),
  scored by ``classification_metrics``.
- ``detect``: anomalies in a long series, learned from normal data (``windows``, ``injection``,
  ``localize``, ``detection_metrics``, ``series_file``), against a matrix-profile ``discord``
  (``detect_study`` compares the two).
- ``text``, ``kernel_regression``: the small worked examples.
- shared: ``training`` (the loop), ``checkpoint`` (the file format), ``preprocessing`` (split, scaling),
  ``metrics``, ``plots``, ``commands`` (the rule every command follows) and ``cli``.
"""
