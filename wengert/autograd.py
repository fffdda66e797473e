"""Functional autograd, PyTorch's ``torch.autograd`` names: ``backward`` and ``grad``."""

from .core.backward import backward, grad
from .core.function import Function, Node

__all__ = ["Function", "Node", "backward", "grad"]
