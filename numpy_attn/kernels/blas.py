"""How many threads the BLAS under NumPy's ``matmul`` may use, for the length of a ``with`` block.

OpenBLAS (NumPy's BLAS) runs a product on several threads once m * n * k passes about 2.6e5, and
after it the idle workers busy-wait for about 0.1 s before they sleep. Training these models
alternates such products with long runs of small elementwise calls on the main thread, so a worker
is almost always spinning, and on a 2-core machine it takes cycles the main thread needs: a BiLSTM
training step measured 44-78 ms with two BLAS threads (bimodal, the CPU 1.95 cores busy) and 47-57 ms
with one (0.97 cores busy); a Transformer step 570-810 ms against 567-617 ms. One thread computes the
same products; BLAS may group a sum differently, so float32 results can differ in the last bits (and a
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
    if _blas is None:  # finding the libraries takes about 0.3 ms, the limit itself about 8 us
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas.limit(limits=n)
