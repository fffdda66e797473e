"""Optimizers and learning-rate schedules with PyTorch's names, options and numbers.

    opt = wg.optim.Adam(params, lr=1e-3)
    sched = wg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        for batch in data:
            opt.zero_grad()
            loss(batch).backward()
            opt.step()
        sched.step()
"""

from . import lr_scheduler
from .optimizer import Optimizer
from .optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
