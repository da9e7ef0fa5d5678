"""How many threads the BLAS under NumPy's ``matmul`` may use, for the length of a ``with`` block.

OpenBLAS (NumPy's BLAS) runs a product on several threads once it is large enough, and after it the idle
workers busy-wait for a while before they sleep. Training these models alternates such products with
long runs of small elementwise calls on the main thread, so a worker is almost always spinning, and on a
machine with few cores it takes cycles the main thread needs: a training step runs slower and less
steadily with two BLAS threads than with one (docs/performance.md has the figures). One thread computes
the same products; BLAS may group a sum differently, so float32 results can differ in the last bits (and a
training run, which amplifies such differences, can take another path).
"""

from contextlib import nullcontext

from threadpoolctl import ThreadpoolController

from .._validate import as_int

_blas = None  # threadpoolctl's handle on the BLAS libraries loaded by then (NumPy's among them), found on first use


def limit_blas_threads(n):
    """A context manager: inside it NumPy's BLAS uses at most ``n`` threads; None leaves it as it is."""
    global _blas
    if n is None:
        return nullcontext()
    n = as_int(n, "blas_threads", 1)
    if _blas is None:  # finding the libraries is slower than setting the limit: once
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas.limit(limits=n)
