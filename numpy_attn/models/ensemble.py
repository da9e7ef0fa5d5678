"""Several classifiers trained apart, read as one: the mean of their class probabilities.

    p(k | x) = (1 / M) sum_m softmax(logits_m(x))_k      alpha_t = (1 / M) sum_m alpha_{m,t}

Each member is one of the K-class classifiers of ``MODELS``, trained on its own from its own initial
weights and batch order (``tasks.classify`` with ``members=M``); they disagree on the series each finds
hard, and their mean misses fewer (InceptionTime is an ensemble of five networks for this reason). The
members' attention is averaged too, so it still sums to 1 over each series' steps.

The forward returns log p, so the usual reading of a K-class output, softmax(out) (``training.predict``),
gives the mean probabilities back: softmax(log p) = p / sum_k p_k = p. There is no backward: the members
are trained one by one, each with its own.
"""

import numpy as np

from .. import functional as F
from ..nn import Module


class Ensemble(Module):
    """members: K-class classifiers of the same kind (x (B, T, C), lengths -> (logits (B, K), attention (B, T)));
    registered as ``member0``, ``member1``, ..., so the state_dict keys are ``member0.<the member's key>``.

    forward(x, lengths=None) -> (log of the mean probabilities (B, K), the mean attention (B, T)).
    """

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if not members or any(getattr(m, "num_classes", None) is None for m in members):
            raise ValueError("Ensemble: expected one or more classifiers with a K-class head (num_classes set)")
        for m, member in enumerate(members):
            setattr(self, f"member{m}", member)
        self.num_classes = members[0].num_classes

    @property
    def members(self):
        return list(self._modules.values())

    def forward(self, x, lengths=None):
        outputs = [member(x, lengths) for member in self.members]
        probabilities = np.mean([F.softmax(logits, axis=-1)[0] for logits, _ in outputs], axis=0)
        with np.errstate(divide="ignore"):  # a probability of 0 (an underflowed softmax) is log 0 = -inf
            log_p = np.log(probabilities)
        attention = [alpha for _, alpha in outputs]
        return log_p, (None if attention[0] is None else np.mean(attention, axis=0))
