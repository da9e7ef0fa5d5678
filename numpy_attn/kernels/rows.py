"""Row blocks: work over the rows of a (N, D) array, one block of rows at a time, each block in the cache.

When every row is computed on its own (a softmax, a layer norm), a few passes over one block of about
BLOCK_BYTES find it in the CPU's cache (1 MiB of L2 per core here), where the same passes over whole
arrays of many MiB stream them through memory once per pass. Each row is computed by the same calls
either way.
"""

import math

BLOCK_BYTES = 1 << 20


def as_rows(x, row_dims=1):
    """(*lead, *row) -> (N, D), N = prod(lead), D = prod(row) over the last ``row_dims`` dims: a view when x
    is contiguous. The sizes are written out: reshape cannot infer a -1 when the array is empty."""
    split = x.ndim - row_dims
    return x.reshape(math.prod(x.shape[:split]), math.prod(x.shape[split:]))


def row_blocks(rows):
    """Slices of the rows of a (N, D) array, about BLOCK_BYTES each."""
    per = max(1, BLOCK_BYTES // max(1, rows.shape[1] * rows.itemsize))
    return [slice(i, i + per) for i in range(0, len(rows), per)]
