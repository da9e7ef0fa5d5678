"""A small text classifier with attention (seed 004): embedding + sinusoidal positions + multi-head
self-attention + attention pooling, trained in NumPy with AdamW and cross-entropy.

    numpy-attn text --out DIR        (or python -m numpy_attn.tasks.text --out DIR)

The synthetic task: short "reviews" of filler words with one sentiment word somewhere in them; the
class is that word's polarity (negative, positive) or neutral when there is none. Only one position
decides the class, so a model that works must put its attention there, and the heatmaps show it.

    z0 = Embedding(tokens) + PE                     (B, T, d)
    z = z0 + MHA(z0, z0, z0)                        (B, T, d)   residual self-attention
    alpha = softmax_t(w2 . tanh(W1 z_t + b1) + b2), context = sum_t alpha_t z_t
    logits = W context + b                          (B, 3)      loss = cross-entropy
"""

import sys
from pathlib import Path

import numpy as np

from .. import nn, optim
from .._validate import as_generator, as_int
from ..nn.multihead import self_attention_grad
from . import plots
from .commands import output_folder

FILLER = ["the", "a", "movie", "film", "plot", "was", "is", "and", "actors", "story", "it", "this", "very",
          "quite", "music", "ending", "scene", "of"]
NEGATIVE = ["bad", "awful", "boring", "dull"]
POSITIVE = ["good", "great", "superb", "fun"]
VOCAB = ["<pad>"] + FILLER + NEGATIVE + POSITIVE
CLASSES = ["negative", "positive", "neutral"]
OUTPUTS = ("text_attention.png", "text_heads.png")


def make_token_task(n, length=12, rng=None):
    """tokens: (n, length) int indices into VOCAB; labels: (n,) in {0: negative, 1: positive, 2: neutral}."""
    rng = as_generator(rng)
    filler = np.array([VOCAB.index(w) for w in FILLER])
    tokens = filler[rng.integers(0, len(filler), (n, length))]
    labels = rng.integers(0, 3, n)
    where = rng.integers(0, length, n)
    for i in np.flatnonzero(labels < 2):  # one sentiment word of the class's polarity, at a random place
        words = NEGATIVE if labels[i] == 0 else POSITIVE
        tokens[i, where[i]] = VOCAB.index(words[rng.integers(len(words))])
    return tokens, labels


class TextAttentionClassifier(nn.Module):
    """forward(tokens: (B, T) int) -> (logits (B, num_classes), alpha (B, T));
    backward(grad_logits) adds every parameter gradient (tokens have none)."""

    def __init__(self, vocab_size, d_model=16, nhead=2, num_classes=3, max_len=64, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0, dtype=dtype, rng=rng)
        self.pos_encoding = nn.PositionalEncoding(d_model, max_len=max_len, dtype=dtype)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True, dtype=dtype, rng=rng)
        self.attention = nn.AdditiveAttention(d_model, d_model, dtype=dtype, rng=rng)
        self.classifier = nn.Linear(d_model, num_classes, dtype=dtype, rng=rng)

    def forward(self, tokens):
        z0 = self.pos_encoding(self.embedding(tokens))
        z = z0 + self.self_attn(z0, z0, z0, need_weights=False)[0]
        context, alpha = self.attention(z)
        return self.classifier(context), alpha

    def backward(self, grad_logits):
        grad_z = self.attention.backward(self.classifier.backward(grad_logits))
        grad_z0 = grad_z + self_attention_grad(self.self_attn.backward(grad_z))  # z = z0 + MHA(z0, z0, z0)
        self.embedding.backward(self.pos_encoding.backward(grad_z0))

    def self_attention_weights(self, tokens):
        """(B, nhead, T, T) weights of the self-attention, for the heatmaps."""
        z0 = self.pos_encoding(self.embedding(tokens))
        return self.self_attn(z0, z0, z0, need_weights=True, average_attn_weights=False)[1]


def train_text(out, n=3000, epochs=4, batch_size=32, lr=1e-2, seed=0, log=print):
    """Train on the token task, report test accuracy, save text_attention.png (pooling weights of a few
    test sentences) and text_heads.png (each head's self-attention on one sentence) into ``out``
    (``commands.output_folder``: both when the run finishes, neither when it fails). Returns the test accuracy
    after the last epoch."""
    epochs = as_int(epochs, "epochs", 1)
    with output_folder(out, OUTPUTS) as folder:
        accuracy, model, test_tokens = _train(n, epochs, batch_size, lr, seed, log)
        _figures(folder, model, test_tokens[:6])
    log(f"wrote {Path(out) / OUTPUTS[0]} and {Path(out) / OUTPUTS[1]}")
    return accuracy


def _train(n, epochs, batch_size, lr, seed, log):
    """(test accuracy, the trained model, the test sentences) of a run on a fresh draw of the task."""
    rng = as_generator(seed)
    tokens, labels = make_token_task(n, rng=rng)
    test_tokens, test_labels = make_token_task(500, rng=rng)
    model = TextAttentionClassifier(len(VOCAB), rng=rng)
    opt = optim.AdamW(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, epochs + 1):
        losses = []
        for idx in np.array_split(rng.permutation(n), n // batch_size):
            opt.zero_grad()
            losses.append(loss_fn(model(tokens[idx])[0], labels[idx]))
            model.backward(loss_fn.backward())
            opt.step()
        logits, _ = model(test_tokens)
        accuracy = float((logits.argmax(1) == test_labels).mean())
        log(f"epoch {epoch}/{epochs}: train loss {np.mean(losses):.4f}, test accuracy {accuracy:.3f}")
    return accuracy, model, test_tokens


def _figures(folder, model, sample):
    """The pooling weights over ``sample`` (B, T) and each head's self-attention on its first sentence."""
    _, alpha = model(sample)
    words = [[VOCAB[t] for t in row] for row in sample]
    plots.show_attention(alpha, folder / OUTPUTS[0], x_labels=[f"pos {i}" for i in range(sample.shape[1])],
                         y_labels=[" ".join(w) for w in words], title="attention pooling over the tokens")
    plots.plot_heads(model.self_attention_weights(sample[:1])[0], folder / OUTPUTS[1], x_labels=words[0],
                     y_labels=words[0], title="self-attention per head")


def main(argv=None):
    """``numpy-attn text`` (one parser for both ways in)."""
    from .cli import main as cli_main  # here: the command line imports this module

    return cli_main(["text", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
