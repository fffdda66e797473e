"""The convolutional models: LeNet-5 and the ResNet as the lectures draw them, trained from the
command line's code, and step for step equal to the same networks in PyTorch."""

import numpy as np
import pytest
import torch

import wengert as wg
import wengert.nn.functional as F
from wengert import optim
from wengert.training import Config, train


def test_lenet5_is_the_lectures_network_with_its_parameter_count():
    model = wg.models.LeNet5()
    # conv 5x5 (1 -> 6), conv 5x5 (6 -> 16), 400 -> 120 -> 84 -> 10, each with its biases
    count = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert wg.models.count_parameters(model) == count
    text = repr(model)
    assert "Conv2d(1, 6, kernel_size=(5, 5)" in text and "MaxPool2d(kernel_size=2" in text
    assert text.endswith(f"({count:,} parameters)")
    for size, pixels in ((28, 784), (8, 64)):  # the MNIST subset's images and scikit-learn's digits
        rows = wg.tensor(np.zeros((3, pixels), np.float32))
        assert wg.models.LeNet5(image_size=size)(rows).shape == (3, 10)
    with pytest.raises(wg.core.errors.OpValueError, match="rows of 784 pixels, got shape"):
        model(wg.tensor(np.zeros((3, 100), np.float32)))


def test_the_resnet_has_residual_blocks_with_projected_shortcuts():
    model = wg.models.ResNet()
    blocks = [module for module in model.modules() if isinstance(module, wg.models.BasicBlock)]
    assert len(blocks) == 3
    projections = [isinstance(block.shortcut, wg.nn.Identity) for block in blocks]
    assert projections == [True, False, False]  # 16 -> 16 keeps the identity; 16 -> 32 and 32 -> 64 project
    assert model(wg.tensor(np.zeros((2, 784), np.float32))).shape == (2, 10)


def torch_lenet5(model):
    twin = torch.nn.Sequential(
        torch.nn.Identity(), torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10))
    twin.load_state_dict({key: torch.from_numpy(value.numpy().copy()) for key, value in model.state_dict().items()})
    return twin.float()  # the tests' default dtype is float64; these twins run in float32


class TorchBlock(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.relu = torch.nn.ReLU()
        self.shortcut = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            torch.nn.BatchNorm2d(cout)) if stride != 1 or cin != cout \
            else torch.nn.Identity()

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


def torch_resnet(model):
    twin = torch.nn.Sequential(
        torch.nn.Identity(), torch.nn.Conv2d(1, 4, 3, 1, 1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        TorchBlock(4, 4, 1), TorchBlock(4, 8, 2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(8, 10))
    twin.load_state_dict({key: torch.from_numpy(value.numpy().copy()) for key, value in model.state_dict().items()})
    return twin.float()  # the tests' default dtype is float64; these twins run in float32


@pytest.mark.parametrize("name", ["lenet5", "resnet"])
def test_twenty_sgd_momentum_steps_equal_pytorchs(name):
    wg.manual_seed(0)
    if name == "lenet5":
        model, size, steps = wg.models.LeNet5().float(), 28, 20  # float32, as the issue asks
        twin = torch_lenet5(model)
    else:  # a narrow ResNet on small images: the same blocks, quicker
        model, size, steps = wg.models.ResNet(image_size=12, widths=(4, 8)).float(), 12, 20
        twin = torch_resnet(model)
    ours, theirs = optim.SGD(model.parameters(), lr=0.05, momentum=0.9), torch.optim.SGD(
        twin.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    for step in range(steps):
        x = rng.standard_normal((16, 1, size, size)).astype(np.float32)
        y = rng.integers(0, 10, 16)
        loss = F.cross_entropy(model(wg.tensor(x)), wg.tensor(y))
        ours.zero_grad()
        loss.backward()
        ours.step()
        expected = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
        theirs.zero_grad()
        expected.backward()
        theirs.step()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-4), f"step {step}"
    for key, value in twin.state_dict().items():  # weights, and BatchNorm's running statistics
        np.testing.assert_allclose(model.state_dict()[key].numpy(), value.numpy(), rtol=2e-3, atol=2e-5,
                                   err_msg=key)


def test_lenet5_trains_on_the_mnist_subset_to_097_from_the_command_lines_code(tmp_path):
    summary = train(Config(dataset="mnist", model="lenet5", epochs=12), tmp_path, progress=False)
    assert summary["test_accuracy"] >= 0.97, summary
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resumed = train(Config(dataset="mnist", model="lenet5"), tmp_path / "more", resume_from=tmp_path,
                    overrides={"epochs": 13}, progress=False)
    assert resumed["resumed_from"] is not None and resumed["epochs"] == 13


def test_a_model_needing_images_refuses_other_datasets(tmp_path):
    with pytest.raises(wg.WengertError, match="--model lenet5: LeNet5: images of 2x2 are too small"):
        train(Config(dataset="iris", model="lenet5", epochs=1), tmp_path, progress=False)  # 4 features: 2x2
    with pytest.raises(wg.WengertError, match="10 features are not a square image"):
        wg.models.image_model("resnet", 10, 3)


def test_a_small_cnn_trains_on_digits_to_098():
    from wengert import nn
    from wengert.data import DataLoader, load_dataset

    wg.manual_seed(0)
    splits = load_dataset("digits", dtype=wg.float32)
    model = nn.Sequential(wg.models.Images(1, 8), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(10):
        for x, y in DataLoader(splits.train, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    (x, y), = DataLoader(splits.test, batch_size=len(splits.test))
    with wg.no_grad():
        predicted = model(x).numpy().argmax(axis=1)
    assert (predicted == y.numpy()).mean() >= 0.98


def test_the_resnet_trains_on_the_mnist_subset_to_097(tmp_path):
    # the slowest test of the suite (about 2.5 minutes on two cores): eight epochs of the residual network.
    # At a constant rate the last epochs' test accuracy swings between 0.95 and 0.97 with the machine's
    # rounding (batch norm's running statistics chase weights still taking large steps); annealed, seeds 0
    # and 1 gave 0.983 and 0.979 where the constant rate gave 0.953 and 0.965 on the same machine
    summary = train(Config(dataset="mnist", model="resnet", epochs=8, schedule="cosine"), tmp_path, progress=False)
    assert summary["test_accuracy"] >= 0.97, summary


def test_a_linear_after_a_flatten_with_the_wrong_feature_count_names_the_count_it_needs():
    from wengert import nn

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(100, 10))  # 4 x 6 x 6 = 144 features
    with pytest.raises(wg.core.errors.OpValueError,
                       match=r"Linear\(in_features=100.*input of shape \(2, 144\) has 144 features, expected 100; "
                             r"this input needs Linear\(144, 10\)"):
        model(wg.tensor(np.zeros((2, 1, 8, 8), np.float32)))
