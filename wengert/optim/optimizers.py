"""The update rules, side by side: SGD, Adam, AdamW, RMSprop, Adagrad (PyTorch's formulas and options).

Each ``update`` reads as its math, one line per formula (the comment), written in place:
``m *= beta1`` rather than ``m = beta1 * m``, and products go into the scratch array ``tmp``.
``g`` is the gradient after ``maximize`` and (L2) ``weight_decay``; it is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.backend import namespace
from .optimizer import Optimizer, add_scaled, check_at_least


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (heavy-ball or Nesterov), as ``torch.optim.SGD``."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _check_options(self, group: dict[str, Any]) -> None:
        check_at_least(group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        g = self.gradient(p, g, group["maximize"], group["weight_decay"])
        tmp = self.scratch(p)
        if momentum:
            b = state.get("momentum_buffer")
            if b is None:  # b = g on the first step
                b = state["momentum_buffer"] = g.copy()
            else:  # b = momentum b + (1 - dampening) g
                b *= momentum
                add_scaled(b, 1 - dampening, g, tmp)
            if group["nesterov"]:  # g = g + momentum b
                namespace(p).multiply(b, momentum, out=tmp)
                tmp += g
                g = tmp
            else:  # g = b
                g = b
        add_scaled(p, -lr, g, tmp)  # p = p - lr g


class Adam(Optimizer):
    """Adam (Kingma & Ba): steps scaled by running averages of the gradient and of its square,
    with ``amsgrad`` (the largest average of the square so far), as ``torch.optim.Adam``."""

    decoupled_weight_decay = False  # AdamW's one difference

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _check_options(self, group: dict[str, Any]) -> None:
        check_at_least(group, "lr", "eps", "weight_decay")
        if len(group["betas"]) != 2 or not all(0 <= beta < 1 for beta in group["betas"]):
            raise ValueError(f"invalid betas: {group['betas']} (two numbers, each in [0, 1))")

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        xp = namespace(p)
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(p), xp.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] = t = state["step"] + 1
        if self.decoupled_weight_decay:
            if weight_decay:  # p = p (1 - lr wd): decay p itself, outside the adaptive scaling
                p *= 1 - lr * weight_decay
            weight_decay = 0
        g = self.gradient(p, g, group["maximize"], weight_decay)
        m, v, tmp = state["exp_avg"], state["exp_avg_sq"], self.scratch(p)
        m *= beta1  # m = beta1 m + (1 - beta1) g
        add_scaled(m, 1 - beta1, g, tmp)
        v *= beta2  # v = beta2 v + (1 - beta2) g²
        xp.multiply(g, g, out=tmp)
        add_scaled(v, 1 - beta2, tmp, tmp)
        if group["amsgrad"]:  # v = the largest v so far
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        xp.sqrt(v, out=tmp)  # p = p - lr / (1 - beta1^t) m / (sqrt(v / (1 - beta2^t)) + eps)
        tmp /= (1 - beta2**t) ** 0.5
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        add_scaled(p, -lr / (1 - beta1**t), tmp, tmp)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p`` shrinks by ``lr * weight_decay``
    each step instead of the decay joining the gradient, as ``torch.optim.AdamW``."""

    decoupled_weight_decay = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class RMSprop(Optimizer):
    """RMSprop (Hinton): steps divided by a running root mean square of the gradient; ``centered``
    divides by an estimate of its standard deviation instead. As ``torch.optim.RMSprop``."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _check_options(self, group: dict[str, Any]) -> None:
        check_at_least(group, "lr", "alpha", "eps", "weight_decay", "momentum")

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        xp = namespace(p)
        if "step" not in state:
            state["step"], state["square_avg"] = 0, xp.zeros_like(p)
        # made when first needed: momentum or centering may be switched on later (say, on resume)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1
        g = self.gradient(p, g, group["maximize"], group["weight_decay"])
        s, tmp = state["square_avg"], self.scratch(p)
        s *= alpha  # s = alpha s + (1 - alpha) g²
        xp.multiply(g, g, out=tmp)
        add_scaled(s, 1 - alpha, tmp, tmp)
        if group["centered"]:  # mean = alpha mean + (1 - alpha) g;  tmp = sqrt(s - mean²)
            mean = state["grad_avg"]
            mean *= alpha
            add_scaled(mean, 1 - alpha, g, tmp)
            xp.multiply(mean, mean, out=tmp)
            xp.subtract(s, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:  # tmp = sqrt(s)
            xp.sqrt(s, out=tmp)
        tmp += eps
        xp.divide(g, tmp, out=tmp)  # tmp = g / (sqrt(...) + eps)
        if momentum > 0:  # b = momentum b + tmp;  p = p - lr b
            b = state["momentum_buffer"]
            b *= momentum
            b += tmp
            add_scaled(p, -lr, b, tmp)
        else:  # p = p - lr tmp
            add_scaled(p, -lr, tmp, tmp)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.): steps divided by the root of the sum of all squared gradients so far,
    with the learning rate decayed as ``lr / (1 + (t - 1) lr_decay)``. As ``torch.optim.Adagrad``."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _check_options(self, group: dict[str, Any]) -> None:
        check_at_least(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = namespace(p)
        if "step" not in state:
            state["step"], state["sum"] = 0, xp.full_like(p, group["initial_accumulator_value"])
        state["step"] = t = state["step"] + 1
        g = self.gradient(p, g, group["maximize"], group["weight_decay"])
        total, tmp = state["sum"], self.scratch(p)
        xp.multiply(g, g, out=tmp)  # sum = sum + g²
        total += tmp
        xp.sqrt(total, out=tmp)  # p = p - lr / (1 + (t - 1) lr_decay) g / (sqrt(sum) + eps)
        tmp += group["eps"]
        xp.divide(g, tmp, out=tmp)
        add_scaled(p, -group["lr"] / (1 + (t - 1) * group["lr_decay"]), tmp, tmp)
