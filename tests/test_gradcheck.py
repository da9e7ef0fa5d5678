"""The finite-difference checker itself: it passes a right backward and catches wrong ones."""

import numpy as np

from helpers import FD_TOL
from numpy_attn import functional as F
from numpy_attn import nn
from numpy_attn.gradcheck import check_function, check_module, numerical_gradient, relative_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([0.3, -1.2, 2.0])
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x) * x)), x)
    np.testing.assert_allclose(grad, np.cos(x) * x + np.sin(x), rtol=1e-8)
    np.testing.assert_array_equal(x, [0.3, -1.2, 2.0])  # restored after perturbation


def test_catches_a_wrong_backward():
    x = np.random.default_rng(0).standard_normal((3, 4))

    def wrong_backward(g, cache):  # forgets the "- sum(a * g)" term of the softmax VJP
        a, _ = cache
        return a * g

    assert check_function(F.softmax, F.softmax_backward, [x])[0] < FD_TOL
    assert check_function(F.softmax, wrong_backward, [x])[0] > 0.1


def test_catches_a_module_that_forgets_a_parameter_gradient():
    class Broken(nn.Linear):
        def backward(self, grad_out):
            grad_x = super().backward(grad_out)
            self.bias.grad = self.bias.grad * 0.5
            return grad_x

    errors = check_module(Broken(3, 2, dtype=np.float64, rng=0), np.random.default_rng(1).standard_normal((4, 3)))
    assert errors["weight"] < FD_TOL and errors["input 0"] < FD_TOL
    assert errors["bias"] > 0.4


def test_relative_error_definition():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert relative_error([1.0, 4.0], [1.0, 2.0]) == 0.5  # max|a - b| / max(|a|, |b|) = 2 / 4
