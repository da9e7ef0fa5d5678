"""Scoring a long series with the detector's model (``numpy-attn detect`` with its defaults): NumPy's
``training.predict`` against the same model in ``torch_ref`` on the same weights, under ``no_grad``.

The work is what ``detect`` does on KDD-TSAD_135: 334 windows of 183 steps (its period; stride 22 over
7,501 steps), features [z, dz, s, ds] ("shape"), the default bilstm-attention model (hidden 32), in the
batches ``predict`` makes by default (``predict_batch_size``: one batch of all 334 at this length), on both
sides. Windows scored per second = 334 / the time of one call (``windows`` below).
"""

import numpy as np
import torch

from numpy_attn.tasks.anomaly import build_model
from numpy_attn.tasks.training import predict, predict_batch_size
from torch_ref.convert import numpy_to_torch
from torch_ref.models import MODELS

from .harness import Case

WINDOWS, LENGTH, FEATURES, HIDDEN = 334, 183, 4, 32
BATCH = min(WINDOWS, predict_batch_size(np.empty((WINDOWS, LENGTH, 0))))  # predict's batches at this length


def _model_and_windows():
    model, kwargs = build_model("bilstm-attention", FEATURES, HIDDEN, seed=0)
    X = np.random.default_rng(0).standard_normal((WINDOWS, LENGTH, FEATURES)).astype(np.float32)
    return model, kwargs, X


def _numpy():
    model, _, X = _model_and_windows()
    return lambda: predict(model, X)  # its default batches: BATCH series


def _torch(device):
    model, kwargs, X = _model_and_windows()
    twin = numpy_to_torch(model, MODELS["bilstm-attention"](input_dim=FEATURES, **kwargs)).to(device).eval()
    batches = [torch.from_numpy(X[i : i + BATCH]).to(device) for i in range(0, WINDOWS, BATCH)]

    def score():
        with torch.no_grad():
            return [twin(x) for x in batches]

    return score


SHAPE = f"{WINDOWS} x ({LENGTH}, {FEATURES}), batch {BATCH}, BiLSTM H={HIDDEN} + attention"
CASES = [Case("detect: score windows", SHAPE, _numpy, _torch, notes={"windows": WINDOWS})]
