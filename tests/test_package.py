"""numpy_attn is pure NumPy: importing all of it (and training with the NumPy backend) loads no autograd library."""

import subprocess
import sys

CODE = """
import sys
import numpy_attn, numpy_attn.nn, numpy_attn.functional, numpy_attn.optim, numpy_attn.models
import numpy_attn.tasks.anomaly, numpy_attn.tasks.cli, numpy_attn.gradcheck, numpy_attn.tasks.plots
import numpy_attn.tasks.text, numpy_attn.tasks.kernel_regression
from numpy_attn.tasks.cli import main
assert main(["train", "--samples", "60", "--length", "20", "--epochs", "1", "--out", sys.argv[1]]) == 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "jax", "tensorflow", "autograd"))
print(loaded)
"""


def test_numpy_attn_loads_no_autograd_library(tmp_path):
    result = subprocess.run([sys.executable, "-c", CODE, str(tmp_path)], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
