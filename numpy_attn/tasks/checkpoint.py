"""The checkpoint file: a model's weights and a JSON meta dict in one ``.npz``, never unpickled.

Layout: one array per parameter under ``state/<name>`` (the state_dict keys), the meta as a JSON string
under ``__meta__`` and the format tag under ``__format__``.
"""

import json
import os
import zipfile
from collections import OrderedDict

import numpy as np

CHECKPOINT_FORMAT = "numpy-attn-checkpoint-v1"
_FORMAT_KEY, _META_KEY, _STATE_PREFIX = "__format__", "__meta__", "state/"


def save_checkpoint(path, model, meta=None):
    """Write a model's weights and a JSON-able ``meta`` dict to ``path`` as .npz (the exact path given).

    model: a module (its ``state_dict()`` is saved) or a state dict. The file holds one array per
    parameter under "state/<name>", the meta as a JSON string and a format tag. It is written to a
    temporary file first and then renamed, so an interrupted save never leaves a half-written checkpoint.
    """
    state = model.state_dict() if hasattr(model, "state_dict") else model
    arrays = {_STATE_PREFIX + name: np.asarray(value) for name, value in state.items()}
    arrays[_FORMAT_KEY] = np.array(CHECKPOINT_FORMAT)
    arrays[_META_KEY] = np.array(json.dumps(meta or {}, default=_json_default))
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``: return (state_dict (OrderedDict), meta (dict)).

    FileNotFoundError when there is no file; ValueError when it is not a readable numpy-attn checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r}: no such file")
    if not zipfile.is_zipfile(path):  # so NumPy never tries (and never advises) to unpickle another file
        raise ValueError(f"checkpoint {path}: not a numpy-attn checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # NumPy's text may suggest unpickling
        raise ValueError(f"checkpoint {path}: not a numpy-attn checkpoint (an .npz it cannot read: "
                         f"{type(err).__name__})") from None
    if _FORMAT_KEY not in arrays or str(arrays[_FORMAT_KEY]) != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path!r}: not a {CHECKPOINT_FORMAT} file (written by save_checkpoint)")
    try:
        meta = json.loads(str(arrays[_META_KEY]))
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"checkpoint {path!r}: its meta is missing or not valid JSON ({err})") from None
    state = OrderedDict(
        (key[len(_STATE_PREFIX) :], value) for key, value in arrays.items() if key.startswith(_STATE_PREFIX)
    )
    return state, meta


def _json_default(value):
    """NumPy scalars and arrays in meta become plain numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"checkpoint meta: {type(value).__name__} is not JSON serializable")
