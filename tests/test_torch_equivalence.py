"""Modules, losses and optimizers against PyTorch: the same MLP, initial weights and batches
give the same loss at every step (float32, as people train)."""

import itertools

import numpy as np
import pytest
import torch

import wengert as wg
from wengert import data, nn, optim

STEPS = 50


def torch_mlp(sizes):
    layers = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers += [torch.nn.Linear(fan_in, fan_out)] + ([torch.nn.ReLU()] if index < len(sizes) - 2 else [])
    return torch.nn.Sequential(*layers).float()


def wengert_mlp(sizes):
    layers = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers += [nn.Linear(fan_in, fan_out)] + ([nn.ReLU()] if index < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


@pytest.mark.parametrize("make_optimizers", [
    pytest.param(lambda ours, theirs: (optim.SGD(ours, lr=0.05, momentum=0.9),
                                       torch.optim.SGD(theirs, lr=0.05, momentum=0.9)), id="sgd-momentum"),
    pytest.param(lambda ours, theirs: (optim.SGD(ours, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                       torch.optim.SGD(theirs, lr=0.05, momentum=0.9, nesterov=True,
                                                       weight_decay=1e-3)), id="sgd-nesterov-decay"),
    pytest.param(lambda ours, theirs: (optim.Adam(ours, lr=3e-3), torch.optim.Adam(theirs, lr=3e-3)), id="adam"),
    pytest.param(lambda ours, theirs: (optim.AdamW(ours, lr=3e-3), torch.optim.AdamW(theirs, lr=3e-3)), id="adamw"),
])
def test_mlp_training_matches_pytorch_step_by_step(make_optimizers):
    splits = data.load_dataset("digits")
    sizes = [splits.num_features, 64, 32, splits.num_classes]
    # A fixed start: from some starts a ReLU unit near 0 flips sign on a float32 rounding difference
    # (BLAS libraries sum in different orders) and the two runs part by more than rounding.
    torch.manual_seed(0)
    theirs = torch_mlp(sizes)
    ours = wengert_mlp(sizes)
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    our_optimizer, their_optimizer = make_optimizers(list(ours.parameters()), list(theirs.parameters()))
    loader = data.DataLoader(splits.train, batch_size=32, shuffle=True, generator=wg.Generator(0))
    batches = [batch for _ in range(2) for batch in loader][:STEPS]  # 40 batches an epoch
    losses = []
    for features, labels in batches:
        loss = nn.functional.cross_entropy(ours(features), labels)
        our_optimizer.zero_grad()
        loss.backward()
        our_optimizer.step()
        reference = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(features.numpy())),
                                                      torch.from_numpy(labels.numpy()))
        their_optimizer.zero_grad()
        reference.backward()
        their_optimizer.step()
        losses.append((loss.item(), reference.item()))
    ours_losses, their_losses = np.array(losses).T
    np.testing.assert_allclose(ours_losses, their_losses, rtol=1e-4)
    assert their_losses[-1] < 0.5 * their_losses[0]  # it learned: the comparison is not of a stuck model
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-3, atol=1e-5)
