"""Embedding lookup: row i of the weight for index i (``torch.nn.functional.embedding``)."""

import numpy as np

from .._validate import as_index_array


def embedding(indices, weight, padding_idx=None):
    """y[...] = weight[indices[...]].

    indices: integer array of any shape (*), weight: (num_embeddings, embedding_dim) -> y: (*, embedding_dim).
    """
    indices = as_index_array(indices, "embedding indices", weight.shape[0])
    return weight[indices], (indices, weight.shape, weight.dtype, padding_idx)


def embedding_backward(grad_out, cache):
    """grad_weight[i] = sum of grad_out over every position that looked up row i.

    An index that appears several times collects the sum of its gradients; the padding row gets none.
    """
    indices, shape, dtype, padding_idx = cache
    grad_weight = np.zeros(shape, dtype=dtype)
    np.add.at(grad_weight, indices.reshape(-1), grad_out.reshape(-1, shape[1]))  # unbuffered: repeats add up
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return grad_weight
