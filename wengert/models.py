"""Convolutional models from the lectures' figures: LeNet-5 (seed 001) and a small ResNet (seed 004).

Both take images (N, C, H, W), or rows of flattened square images (N, H * W) as the datasets
give them (``load_dataset("mnist")``: 784 features, ``"digits"``: 64), which they reshape first.

    model = wg.models.LeNet5(image_size=28)      # or 8, for scikit-learn's digits
    print(model)                                  # the layers, then the parameter count
    wg.models.count_parameters(model)
"""

from __future__ import annotations

import math
from typing import Any

from .core.errors import OpValueError, call_site
from .core.tensor import Tensor
from .nn import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
)


class Images(Module):
    """Rows of flattened square images (N, C * S * S) as images (N, C, S, S); images pass as they are."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.channels, self.size = channels, size

    def forward(self, x: Any) -> Tensor:
        if x.ndim == 4:
            return x
        if x.ndim != 2 or x.shape[1] != self.channels * self.size * self.size:
            raise OpValueError(f"{type(self).__name__}: expected images ({self.channels}, {self.size}, {self.size}) or "
                               f"rows of {self.channels * self.size ** 2} pixels, got shape {tuple(x.shape)} "
                               f"(at {call_site()})")
        return x.reshape(-1, self.channels, self.size, self.size)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}"


class _Counted:
    """Prints its parameter count after the layers."""

    def __repr__(self) -> str:
        return f"{super().__repr__()}\n({count_parameters(self):,} parameters)"


def count_parameters(model: Module) -> int:
    """The number of trainable numbers in ``model``."""
    return sum(p.size for p in model.parameters() if p.requires_grad)


class LeNet5(_Counted, Sequential):
    """Seed 001's LeNet-5: conv 5x5 (6) -> max-pool 2 -> conv 5x5 (16) -> max-pool 2 -> 120 -> 84 ->
    classes, ReLU between. The first conv pads by 2, as LeCun's 32x32 input did for 28x28 digits;
    for small images (8x8) the second pads by 2 too, so that each pool still has a 2x2 window."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, in_channels: int = 1) -> None:
        second_padding = 0 if image_size >= 16 else 2
        side = (image_size // 2 + 2 * second_padding - 4) // 2  # after conv1 (same size), pool, conv2, pool
        if side < 1:
            raise OpValueError(f"LeNet5: images of {image_size}x{image_size} are too small (at least 4x4)")
        super().__init__(
            Images(in_channels, image_size),
            Conv2d(in_channels, 6, 5, padding=2), ReLU(), MaxPool2d(2),
            Conv2d(6, 16, 5, padding=second_padding), ReLU(), MaxPool2d(2),
            Flatten(),
            Linear(16 * side * side, 120), ReLU(),
            Linear(120, 84), ReLU(),
            Linear(84, num_classes),
        )


class BasicBlock(Module):
    """Two 3x3 convolutions with batch norm, added to a shortcut (seed 004's residual block):
    relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); the shortcut projects (1x1 conv + batch norm)
    where the block changes the channels or the resolution, and is the identity elsewhere."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        self.relu = ReLU()
        projects = stride != 1 or in_channels != out_channels
        self.shortcut = Sequential(Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   BatchNorm2d(out_channels)) if projects else Identity()

    def forward(self, x: Any) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(_Counted, Sequential):
    """A small residual network: a 3x3 stem, then one stage of ``blocks`` BasicBlocks per width in
    ``widths`` (each stage after the first halves the resolution), global average pooling and a
    linear classifier."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, in_channels: int = 1,
                 widths: tuple[int, ...] = (16, 32, 64), blocks: int = 1) -> None:
        stages: list[Module] = []
        channels = widths[0]
        for index, width in enumerate(widths):
            for number in range(blocks):
                stages.append(BasicBlock(channels, width, stride=2 if index and not number else 1))
                channels = width
        super().__init__(
            Images(in_channels, image_size),
            Conv2d(in_channels, widths[0], 3, padding=1, bias=False), BatchNorm2d(widths[0]), ReLU(),
            *stages,
            AdaptiveAvgPool2d(1), Flatten(),
            Linear(channels, num_classes),
        )


MODELS = {"lenet5": LeNet5, "resnet": ResNet}


def image_model(name: str, num_features: int, num_classes: int) -> Module:
    """The model ``name`` for rows of ``num_features`` pixels of one-channel square images."""
    size = math.isqrt(num_features)
    if size * size != num_features:
        raise OpValueError(f"{name}: the dataset's {num_features} features are not a square image")
    return MODELS[name](num_classes=num_classes, image_size=size)
