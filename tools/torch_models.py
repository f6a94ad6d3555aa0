#!/usr/bin/python3
"""PyTorch twins of wengert's example models, and a Fashion-MNIST loader.

This module is the PyTorch side of the comparisons between wengert and
PyTorch: each class below has the same layers, in the same order and under
the same attribute names as the corresponding C model, so that a PyTorch
state_dict maps one to one onto wengert's parameter names (``fc1.weight``,
``conv2.bias``, ...). Parameters keep PyTorch's default initialisation.

It is a library, not a program; tools/torch_train.py uses it. From Python
(Debian's interpreter, with python3-torch and python3-numpy):

    import sys; sys.path.insert(0, "tools")
    import torch_models as tm
    model = tm.build("lenet5")
    data = tm.FashionMNIST.load()          # uint8 images, int64 labels
    x = tm.to_float(data.train_images[:64])  # float32 pixel / 255

Models
------
* ``MLP(n_in=784, hidden=128, n_out=10, activation='sigmoid')``:
  fc1, activation (sigmoid | tanh | relu), fc2.
* ``LeNet5(classes=10)``: conv1 (1->6, 5x5, padding 2), tanh, 2x2 max pool,
  conv2 (6->16, 5x5), tanh, 2x2 max pool, fc1 (400->120), tanh,
  fc2 (120->84), tanh, fc3 (84->classes).
* ``Autoencoder(n_in=784, h1=32, h2=32, h3=32)``: fc1..fc4 with relu, relu,
  relu and a sigmoid output.
* ``SoftmaxRegression(n_in=784, classes=10)``: a single layer fc (the
  softmax itself lives in the loss).

Every forward() accepts a flat batch [N, 784] or images [N, 1, 28, 28].

Data
----
``FashionMNIST.load()`` reads Debian's dataset-fashion-mnist files
(/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-
ubyte.gz) with gzip and numpy, checks their IDX magic numbers and sizes,
and keeps the images as uint8; ``to_float`` turns a batch into float32
pixel / 255, exactly what wengert's batcher feeds its models (no mean/std
normalisation).
"""

import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"

# IDX magic numbers: 0x0000 0x08 (unsigned byte) then the number of dimensions.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


# ---------------------------------------------------------------- models


class MLP(nn.Module):
    """One hidden layer perceptron: fc1, activation, fc2 (logits)."""

    ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu}

    def __init__(self, n_in=784, hidden=128, n_out=10, activation="sigmoid"):
        super().__init__()
        if activation not in self.ACTIVATIONS:
            raise ValueError("activation must be one of %s, not %r"
                             % ("|".join(self.ACTIVATIONS), activation))
        self.n_in = n_in
        self.activation = activation
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, n_out)

    def forward(self, x):
        act = self.ACTIVATIONS[self.activation]
        return self.fc2(act(self.fc1(x.reshape(-1, self.n_in))))


class LeNet5(nn.Module):
    """LeNet-5 with tanh activations and max pooling, for 28x28 images."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)   # 28x28 -> 28x28, pool -> 14x14
        self.conv2 = nn.Conv2d(6, 16, 5)             # 14x14 -> 10x10, pool -> 5x5
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


class Autoencoder(nn.Module):
    """A fully connected autoencoder n_in -> h1 -> h2 -> h3 -> n_in.

    The output goes through a sigmoid so that it lies in [0, 1] like the
    pixels it reconstructs; it has the flat shape [N, n_in].
    """

    def __init__(self, n_in=784, h1=32, h2=32, h3=32):
        super().__init__()
        self.n_in = n_in
        self.fc1 = nn.Linear(n_in, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, h3)
        self.fc4 = nn.Linear(h3, n_in)

    def forward(self, x):
        x = x.reshape(-1, self.n_in)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return torch.sigmoid(self.fc4(x))


class SoftmaxRegression(nn.Module):
    """Multinomial logistic regression: one linear layer giving logits."""

    def __init__(self, n_in=784, classes=10):
        super().__init__()
        self.n_in = n_in
        self.fc = nn.Linear(n_in, classes)

    def forward(self, x):
        return self.fc(x.reshape(-1, self.n_in))


MODELS = {
    "mlp": MLP,
    "lenet5": LeNet5,
    "autoencoder": Autoencoder,
    "softmax": SoftmaxRegression,
}

# Which models reconstruct their input (MSE loss, PSNR) rather than classify.
RECONSTRUCTION_MODELS = {"autoencoder"}


def build(kind, **hyper):
    """A new model of `kind` ("mlp", "lenet5", "autoencoder", "softmax").

    Keyword arguments go to the model's constructor, e.g.
    ``build("mlp", hidden=256, activation="relu")``.
    """
    try:
        cls = MODELS[kind]
    except KeyError:
        raise ValueError("unknown model %r (expected one of: %s)"
                         % (kind, ", ".join(MODELS))) from None
    return cls(**hyper)


# ---------------------------------------------------------------- data


def _read_idx(path, magic, ndim_rest):
    """The array stored in a gzipped IDX file of unsigned bytes.

    `magic` is the expected magic number and `ndim_rest` the number of
    dimensions after the first (0 for labels, 2 for images).
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    header_len = 4 * (2 + ndim_rest)
    if len(raw) < header_len:
        raise ValueError("%s: too short for an IDX header" % path)
    header = np.frombuffer(raw, dtype=">u4", count=2 + ndim_rest)
    if int(header[0]) != magic:
        raise ValueError("%s: bad IDX magic number 0x%08x (expected 0x%08x)"
                         % (path, int(header[0]), magic))
    shape = tuple(int(v) for v in header[1:])
    expected = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_len)
    if data.size != expected:
        raise ValueError("%s: %d bytes of data, header says %d"
                         % (path, data.size, expected))
    # a writable copy: torch.from_numpy warns about read-only buffers
    return data.reshape(shape).copy()


class FashionMNIST:
    """Fashion-MNIST (or any MNIST-format directory) held as uint8.

    Attributes: train_images [60000, 28, 28] uint8, train_labels [60000]
    int64, test_images [10000, 28, 28] uint8, test_labels [10000] int64.
    """

    def __init__(self, train_images, train_labels, test_images, test_labels):
        self.train_images = train_images
        self.train_labels = train_labels
        self.test_images = test_images
        self.test_labels = test_labels

    @classmethod
    def load(cls, data_dir=DEFAULT_DATA_DIR):
        def part(prefix):
            images = _read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"),
                               IDX_IMAGES_MAGIC, 2)
            labels = _read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"),
                               IDX_LABELS_MAGIC, 0)
            if images.shape[0] != labels.shape[0]:
                raise ValueError("%s/%s: %d images but %d labels"
                                 % (data_dir, prefix, images.shape[0], labels.shape[0]))
            return images, labels.astype(np.int64)

        train = part("train")
        test = part("t10k")
        return cls(train[0], train[1], test[0], test[1])


def to_float(images_u8):
    """A batch of uint8 images [N, 28, 28] as a float32 tensor [N, 1, 28, 28]
    of pixel / 255 (no other normalisation)."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).to(torch.float32).div_(255.0)
    return x.unsqueeze(1)


def split_train_val(n_train, n_val, seed):
    """Indices (train, val) after a seeded shuffle of range(n_train): the
    last n_val shuffled images are held out for validation."""
    if not 0 <= n_val <= n_train:
        raise ValueError("validation size %d not in [0, %d]" % (n_val, n_train))
    perm = np.random.RandomState(seed).permutation(n_train)
    return perm[:n_train - n_val], perm[n_train - n_val:]
