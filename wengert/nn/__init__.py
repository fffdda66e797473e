"""Neural-network building blocks: modules, layers, losses, initializers (PyTorch's ``torch.nn``)."""

from . import functional, init, utils
from .layers import GELU, Dropout, Embedding, Flatten, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterList, Sequential, StateDictError

__all__ = [
    "GELU", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Embedding", "Flatten", "HuberLoss",
    "Identity", "L1Loss", "LeakyReLU", "Linear", "MSELoss", "Module", "ModuleDict", "ModuleList", "NLLLoss",
    "Parameter", "ParameterList", "ReLU", "Sequential", "Sigmoid", "Softmax", "StateDictError", "Tanh",
    "functional", "init", "utils",
]

from .layers import Conv1d, Conv2d, ConvTranspose2d  # convolutions (issue 10)

__all__ += ["Conv1d", "Conv2d", "ConvTranspose2d"]

# pooling and normalization (issue 10)
from .layers import AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Dropout2d, GroupNorm, LayerNorm, MaxPool2d  # noqa: E402

__all__ += ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout2d", "GroupNorm", "LayerNorm",
            "MaxPool2d"]

from . import parallel  # noqa: E402  DistributedDataParallel (issue 11)

__all__ += ["parallel"]
