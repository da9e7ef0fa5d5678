"""The classifiers: x (B, T, C), lengths (B,) or None -> (out, attention over time (B, T)); out is P(class 1)
(B,) with the binary head (num_classes None: the anomaly task's P(anomalous)), logits (B, K) with K classes."""

from .bilstm_attention import BiLSTMAttentionClassifier
from .bilstm_mha import BiLSTMMHAClassifier
from .transformer import TransformerClassifier

MODELS = {
    "bilstm-attention": BiLSTMAttentionClassifier,
    "bilstm-mha": BiLSTMMHAClassifier,
    "transformer": TransformerClassifier,
}
