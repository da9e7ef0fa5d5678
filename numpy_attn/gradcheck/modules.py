"""The gradient-check registry: every module of ``numpy_attn.nn`` (but Dropout, whose mask is drawn anew
at each call) and every classifier of ``numpy_attn.models``, each with small float64 inputs, checked
against central finite differences by ``numpy-attn check``. Integer inputs (lengths, class indices) are
passed as they are and never perturbed: ``check_module`` differentiates the float arrays only."""

import numpy as np

from .. import models, nn
from . import check_module


def module_cases(rng):
    """{name: (module, its inputs, n_outputs)}: float64 modules built with ``rng``.
    Dropout is left out: its mask is drawn anew at each call (the tests check it with the mask held)."""
    f64 = dict(dtype=np.float64, rng=rng)
    # name: (module, its inputs (a shape: standard normal values; or the array itself), how many outputs
    # get an upstream gradient (None: all; the attention weights some modules return are for reading))
    cases = {
        "Linear": (nn.Linear(4, 3, **f64), [(2, 4)], None),
        "Sequential(Linear, Tanh, Linear, ReLU, Linear, Sigmoid)": (nn.Sequential(
            nn.Linear(4, 6, **f64), nn.Tanh(), nn.Linear(6, 5, **f64), nn.ReLU(), nn.Linear(5, 2, **f64),
            nn.Sigmoid()), [(3, 4)], None),
        "Softmax": (nn.Softmax(dim=-1), [(2, 5)], None),
        "LayerNorm": (nn.LayerNorm(5, dtype=np.float64), [(3, 5)], None),
        "Embedding": (nn.Embedding(6, 3, **f64), [np.array([[0, 5, 2], [2, 2, 1]])], None),
        "PositionalEncoding (sinusoidal)": (nn.PositionalEncoding(4, max_len=8, dtype=np.float64), [(2, 5, 4)], None),
        "LearnedPositionalEncoding": (nn.LearnedPositionalEncoding(8, 4, **f64), [(2, 5, 4)], None),
        "LSTMCell, h and c": (nn.LSTMCell(3, 4, **f64), [(2, 3)], None),
        "LSTM (2 layers, bidirectional), output, h_n, c_n": (
            nn.LSTM(3, 4, num_layers=2, bidirectional=True, **f64), [(5, 2, 3)], None),
        "LSTM (2 layers, bidirectional, lengths 4, 2, 1: packed), output, h_n, c_n": (
            nn.LSTM(2, 3, num_layers=2, bidirectional=True, **f64), [(4, 3, 2), None, np.array([4, 2, 1])], None),
        "AdditiveAttention, context and alpha": (nn.AdditiveAttention(4, 6, **f64), [(2, 5, 4)], None),
        "BahdanauAttention (queries, keys, values)": (
            nn.BahdanauAttention(4, 3, 6, **f64), [(2, 2, 3), (2, 5, 4), (2, 5, 3)], None),
        "ScaledDotProductAttention (q, k, v)": (nn.ScaledDotProductAttention(), [(2, 3, 4), (2, 5, 4), (2, 5, 3)], 1),
        "SelfAttention (dim_q 3, dim_v 5)": (nn.SelfAttention(4, 3, 5, **f64), [(2, 5, 4)], 1),
        "MultiHeadSelfAttention (pre-LayerNorm)": (nn.MultiHeadSelfAttention(8, 2, **f64), [(2, 5, 8)], 1),
        "MultiheadAttention (query, key, value)": (
            nn.MultiheadAttention(8, 2, batch_first=True, **f64), [(2, 3, 8), (2, 4, 8), (2, 4, 8)], 1),
        "TransformerEncoderLayer": (
            nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True, **f64),
            [(2, 5, 8)], None),
        "SEGate": (nn.SEGate(4, reduction=2, **f64), [(2, 5, 4)], None),
        "NWKernelRegression (queries, keys, values)": (nn.NWKernelRegression(**f64), [(4,), (4, 3), (4, 3)], None),
        "MSELoss": (nn.MSELoss(), [(3, 4), (3, 4)], None),
        "BCELoss": (nn.BCELoss(), [rng.uniform(0.1, 0.9, (3, 4)), rng.random((3, 4))], None),
        "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss(), [(3, 4), rng.random((3, 4))], None),
        "CrossEntropyLoss": (nn.CrossEntropyLoss(), [(4, 3), np.array([0, 2, 1, 2])], None),
        "BiLSTMAttentionClassifier, prob and alpha": (
            models.BiLSTMAttentionClassifier(2, hidden_dim=4, **f64), [(2, 6, 2)], None),
        "BiLSTMMHAClassifier, prob": (models.BiLSTMMHAClassifier(2, hidden_dim=4, num_heads=2, **f64), [(2, 6, 2)], 1),
        "TransformerClassifier, prob": (
            models.TransformerClassifier(2, d_model=8, nhead=2, num_layers=1, dim_feedforward=12, **f64),
            [(2, 6, 2)], 1),
        # the packed BiLSTM and the heads' key padding mask in one model
        "BiLSTMMHAClassifier, 3 classes, lengths 5, 2, 1: logits": (
            models.BiLSTMMHAClassifier(2, hidden_dim=3, num_heads=2, num_classes=3, **f64),
            [(3, 5, 2), np.array([5, 2, 1])], 1),
    }
    return cases


def check_all(seed=0, log=print):
    """Check every case of ``module_cases`` and log a Markdown table; return the worst relative error."""
    rng = np.random.default_rng(seed)
    log("| module | worst relative error (inputs and parameters) |\n|---|---|")
    worst = 0.0
    for name, (module, inputs, n_outputs) in module_cases(rng).items():
        inputs = [rng.standard_normal(x) if isinstance(x, tuple) else x for x in inputs]
        err = max(check_module(module, *inputs, n_outputs=n_outputs, rng=rng).values())
        worst = max(worst, err)
        log(f"| {name} | {err:.2e} |")
    return worst
