"""wengert: a deep-learning framework built on computation graphs and automatic differentiation.

    import wengert as wg
    x = wg.tensor(-2.0, requires_grad=True)
    f = (x + 5.0) * -4.0
    f.backward()          # x.grad == -4
"""

from . import autograd, data, func, models, nn, optim, viz
from .compile import CompileError, compile
from .core.backend import (
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    namespace,
    set_default_dtype,
    uint8,
)
from .core.creation import (
    Generator,
    arange,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from .core.errors import BackwardError, OpIndexError, OpTypeError, OpValueError, WengertError
from .core.function import Function, Node
from .core.grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .core.tensor import Tensor
from .explain import explain
from .func import (  # wg.grad is the transform (JAX's); wg.autograd.grad is PyTorch's
    elementwise_grad,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
)
from .gradcheck import GradcheckError, gradcheck
from .graph import Graph, GraphError, tracing
from .lazy import LazyError, LazyTensor, placeholder
from .ops import *  # noqa: F403 - the op library is wengert's namespace
from .ops import __all__ as _ops_all
from .serialization import load, save

__version__ = "0.1.0"
__all__ = [
    # errors
    "BackwardError", "CompileError", "GradcheckError", "GraphError", "OpIndexError", "OpTypeError", "OpValueError",
    "WengertError",
    # the core and its switches
    "Function", "Generator", "Node", "Tensor", "autograd", "detect_anomaly", "enable_grad", "gradcheck",
    "is_grad_enabled", "namespace", "no_grad", "set_grad_enabled",
    # dtypes and making tensors
    "bool_", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "get_default_dtype",
    "set_default_dtype", "arange", "eye", "from_numpy", "full", "full_like", "linspace", "manual_seed", "ones",
    "ones_like", "rand", "rand_like", "randint", "randn", "randn_like", "tensor", "zeros", "zeros_like",
    # function transforms (wengert.func)
    "func", "grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacrev", "jacfwd", "hessian", "hvp",
    "elementwise_grad",
    # the layers above
    "data", "models", "nn", "optim", "load", "save", "Graph", "compile", "explain", "tracing", "viz", "placeholder",
    "LazyTensor", "LazyError",
    *_ops_all,
]
