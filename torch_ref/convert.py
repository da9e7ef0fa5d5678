"""Move weights between a ``numpy_attn`` module and its PyTorch counterpart, in both directions.

Both sides use the same ``state_dict`` keys and shapes, so the transfer is a plain copy; any missing,
unexpected or misshapen key is refused by the receiving side's ``load_state_dict``.
"""

import torch


def numpy_to_torch(np_module, torch_module):
    """Copy ``np_module``'s state into ``torch_module`` (dtype follows the torch module's parameters)."""
    current = torch_module.state_dict()
    missing = [k for k in np_module.state_dict() if k not in current]
    if missing:
        raise ValueError(f"{type(torch_module).__name__} has no keys {missing}; it has {list(current)}")
    state = {k: torch.as_tensor(v, dtype=current[k].dtype) for k, v in np_module.state_dict().items()}
    torch_module.load_state_dict(state, strict=True)
    return torch_module


def torch_to_numpy(torch_module, np_module):
    """Copy ``torch_module``'s state into ``np_module`` (dtype follows the NumPy module's parameters)."""
    np_module.load_state_dict({k: v.detach().cpu().numpy() for k, v in torch_module.state_dict().items()})
    return np_module


def torch_grads(torch_module):
    """{parameter name: gradient as a NumPy array} for every parameter with a gradient."""
    return {k: p.grad.detach().cpu().numpy() for k, p in torch_module.named_parameters() if p.grad is not None}
