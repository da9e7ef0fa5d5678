"""Input checks shared by every op and module.

Each check raises a clear error that names the argument, what was expected and what arrived,
so bad input never travels deep into NumPy and never produces a silently wrong answer.
"""

import numpy as np


def as_float_array(x, name, ndim=None, min_ndim=0, finite=True):
    """Return ``x`` as a floating-point ndarray, or raise naming ``name``.

    ndim: an int, a tuple of allowed ints, or None for any; min_ndim: the fewest dimensions allowed.
    finite: refuse NaN and inf.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point array (float32 or float64), got dtype {x.dtype}")
    check_ndim(x, name, ndim)
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got shape {x.shape}")
    if finite:
        check_finite(x, name)
    return x


def as_index_array(x, name, high):
    """Return ``x`` as an integer ndarray with values in [0, high), or raise naming ``name``."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer array of indices, got dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() >= high):
        bad = x[(x < 0) | (x >= high)].flat[0]
        raise IndexError(f"{name}: index {bad} is out of range [0, {high})")
    return x


def check_ndim(x, name, ndim):
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"{name}: expected a {want} array, got shape {x.shape}")


class NonFiniteError(ValueError):
    """An array holds NaN or inf where it may not (``check_finite``, ``check_scores``). A ValueError, so a
    caller that refuses bad input catches it as such; the training loop tells it apart: after its own input
    check, a module that finds one has found it in an activation."""


def check_finite(x, name):
    """Refuse NaN and +-inf in ``x``, naming the first bad index.

    One sum of all entries clears almost every array: a NaN or inf makes the sum NaN or inf, and no later
    addition undoes it (IEEE: NaN + y = NaN, inf + finite = inf, inf + -inf = NaN); einsum's sum makes no
    (x.shape) bool array. A finite sum proves every entry finite; a sum that is not finite (a bad entry,
    or huge finite entries that overflowed) goes on to the entrywise test.
    """
    if np.isfinite(_total(x)):
        return
    _refuse_where(~np.isfinite(x), name, "NaN or inf")


def check_scores(x, name):
    """Refuse NaN and +inf in scores that may hold -inf (a hidden position, weight 0 after a softmax).

    The sum test of ``check_finite`` extended: a NaN or a +inf makes the sum NaN or +inf (+inf + -inf =
    NaN), so a finite sum or a sum of -inf proves there is neither.
    """
    total = _total(x)
    if np.isfinite(total) or total == -np.inf:
        return
    _refuse_where(np.isnan(x) | np.isposinf(x), name, "NaN or +inf")


def _total(x):
    """The sum of every entry of x, as one einsum reduction."""
    return np.einsum(x, list(range(x.ndim)), [])


def _refuse_where(bad, name, what):
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteError(f"{name}: contains {what} (first at index {index})")


def check_last_dim(x, name, size):
    if x.ndim == 0 or x.shape[-1] != size:
        raise ValueError(f"{name}: expected last dimension {size}, got shape {x.shape}")


def check_same_shape(a, a_name, b, b_name):
    if a.shape != b.shape:
        raise ValueError(f"{b_name}: expected shape {a.shape} (the shape of {a_name}), got {b.shape}")


def check_dtype(x, name, dtype):
    if x.dtype != dtype:
        raise TypeError(
            f"{name}: dtype {x.dtype} does not match the module's dtype {np.dtype(dtype)}; "
            f"cast with .astype(np.{np.dtype(dtype)}) or build the module with dtype=np.{x.dtype}"
        )


def as_module_input(x, name, ndim, last_dim, dtype):
    """A module's input: a finite float array with ``ndim`` dimensions (int or tuple), last dimension
    ``last_dim`` and the module's ``dtype``; else a ValueError or TypeError naming ``name``."""
    x = as_float_array(x, name, ndim=ndim)
    check_last_dim(x, name, last_dim)
    check_dtype(x, name, dtype)
    return x


def is_real(value):
    """Whether ``value`` is a real number: a Python or NumPy int or float, not a bool (which is an int)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_int(value):
    """Whether ``value`` is an integer: a Python or NumPy int, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def as_int(value, name, low):
    """A Python int from an int or NumPy integer >= ``low``; bools, floats and smaller values refused."""
    if not is_int(value) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def check_probability(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {p}")


def check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")


def require_cache(cache, who):
    """The cache a backward needs; a clear error when forward has not run (or ran under ``nn.no_grad``)."""
    if cache is None:
        raise RuntimeError(f"{who}.backward() called before forward(), or after a forward under nn.no_grad() "
                           "(which keeps nothing for it): run the forward pass first")
    return cache


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator, an int seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng: expected a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")
