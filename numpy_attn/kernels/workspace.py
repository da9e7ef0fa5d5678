"""Scratch arrays kept from one call to the next, so that a loop over batches reuses its memory.

Memory that is new to the process costs a page fault per 4 KiB page the first time it is written: the
operating system stops the program, finds a page and zeroes it. NumPy's allocator (glibc's malloc)
gives large arrays back to the operating system when they are freed, and so does every other library
in the process (PyTorch's frees trim the heap too), so a fresh (T, ...) array per call is mostly fresh
pages, thousands of faults per training step at the BiLSTM's shapes (docs/performance.md has the
figures). A ``Workspace`` hands back the same memory for the same name, and a smaller request under that
name gets the front of it: a loop whose last batch is shorter (``predict``'s 256 + 78 windows, an epoch's
remainder) or a forward that keeps fewer steps (``kernels.lstm`` under ``no_grad``) writes into pages
it has already touched.
"""

import math

import numpy as np


# Results of ``Workspace.derived`` kept per name: a full batch's and a shorter last batch's.
DERIVED_KEPT = 2


class Workspace:
    """Named scratch arrays: ``empty(name, shape, dtype)`` returns the array kept under ``name`` when its
    shape and dtype match, a C-contiguous view of its first elements when it is of that dtype and at least
    as large, else a new one, which is kept.

    ``derived(name, arrays, build)`` keeps what is built from kept arrays (views of them) for as long as the
    same arrays are asked for.

    Like ``np.empty``, the contents are whatever the last user left, so callers write before they read.
    An array taken from a workspace is valid until the next ``empty`` call with the same name: results
    that outlive the call (a cache for the backward, a returned view) must not be taken again meanwhile.
    """

    def __init__(self):
        self._arrays = {}
        self._derived = {}  # name -> {ids of the arrays: (the arrays, what was built from them)}, oldest first

    def empty(self, name, shape, dtype):
        shape, dtype = tuple(shape), np.dtype(dtype)
        size, a = math.prod(shape), self._arrays.get(name)
        if a is None or a.dtype != dtype or a.size < size:
            a = self._arrays[name] = np.empty(shape, dtype)
        return a if a.shape == shape else a.reshape(-1)[:size].reshape(shape)

    def empty_like(self, name, prototype, shape=None):
        """``np.empty_like(prototype, shape=shape)`` kept under ``name``: the prototype's dtype and memory
        order (NumPy's order 'K'), so an output laid out like its input keeps that input's views views
        (heads split from (B, T, H*d) are (B, H, T, d) in (B, T, H, d) memory; merging them back is free)."""
        shape = prototype.shape if shape is None else tuple(shape)
        order = np.argsort([-abs(s) for s in prototype.strides], kind="stable")  # axes, slowest first
        kept = self.empty(name, [shape[i] for i in order], prototype.dtype)
        return kept.transpose(np.argsort(order))

    def derived(self, name, arrays, build):
        """``build()``, kept under ``name`` from call to call while it is asked for with the same array objects:
        per-step views of kept arrays (``kernels.lstm`` makes hundreds each call), made once instead of at every
        call. A view of an array reads and writes its memory as it is now, so a kept view is as good as a new
        one. The arrays are kept with the result, so no other array can take one of their ids meanwhile. The
        last DERIVED_KEPT results per name are kept: a loop over batches alternates between the full batch's
        arrays and the last, shorter batch's (the front of the same memory, a new view each call)."""
        kept = self._derived.setdefault(name, {})
        key = tuple(map(id, arrays))
        if key in kept:
            kept[key] = kept.pop(key)  # the most recently used is kept longest
        else:
            if len(kept) >= DERIVED_KEPT:
                del kept[next(iter(kept))]
            kept[key] = (tuple(arrays), build())
        return kept[key][1]

    def release(self, name):
        """Forget the array kept under ``name``: it now belongs to whoever holds it (e.g. it was returned
        to a caller), and the next request for ``name`` gets a new one."""
        self._arrays.pop(name, None)


def as_workspace(workspace):
    """``workspace``, or for None a fresh ``Workspace``: every array new, as ``np.empty`` would give."""
    return Workspace() if workspace is None else workspace
