"""Row blocks: work over the rows of a (N, D) array, one block of rows at a time, each block in the cache,
the blocks shared out among the cores.

When every row is computed on its own (a softmax, a layer norm), a few passes over one block of about
BLOCK_BYTES find it in the CPU's caches (here 512 KiB of L2 per core, 32 MiB of L3), where the same passes
over whole arrays of many MiB stream them through memory once per pass. Blocks touch different rows, so
different threads can compute them at once (``parallel.share_out``): NumPy lets go of Python's lock inside
each pass. Each row is computed by the same calls either way, whichever thread takes its block.
"""

import math

from .parallel import get_num_threads, own_cores, share_out

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


def for_row_blocks(work, rows):
    """Call work(s) for each slice s of ``row_blocks(rows)``, the blocks shared out among the threads;
    ``work`` must write only the rows it is given. Returns the slices, in row order.

    An array of one block stays on the calling thread: waking a thread that has slept costs more than
    a block's passes take on one core (docs/performance.md).
    """
    blocks = row_blocks(rows)
    if len(blocks) <= 1 or get_num_threads() == 1:
        for s in blocks:
            work(s)
        return blocks
    with own_cores():  # the BLAS held to one thread: a block's row sums may be products
        share_out(lambda group: [work(s) for s in group], [[s] for s in blocks])
    return blocks
