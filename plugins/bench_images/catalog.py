"""The image collections: their files (public addresses, sizes, sha256) and classes.

Pure data, imported when the plugin registers its datasets: nothing heavy.

Checksums: the sha256 of each file as published, the same in TensorFlow Datasets' and Keras's
download code and in many independent projects; the md5 sums in the comments are the ones the
collections' authors publish (and torchvision checks).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from bench.images import RemoteFile


@dataclass(frozen=True)
class Collection:
    """An image collection with an official train/test split, registered one task per class."""

    key: str
    title: str
    #: "idx": four IDX files (train images, train labels, test images, test labels);
    #: "cifar10": the CIFAR-10 python archive
    reader: str
    files: tuple[RemoteFile, ...]
    classes: tuple[str, ...]
    #: images per class in the official training and test parts (checked on load)
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    image_shape: tuple[int, ...]
    license: str
    citation: str
    homepage: str

    @property
    def n_train(self) -> int:
        return sum(self.train_counts)

    @property
    def n_samples(self) -> int:
        return self.n_train + sum(self.test_counts)

    @property
    def n_features(self) -> int:
        return math.prod(self.image_shape)

    @property
    def version(self) -> str:
        """The collection's version in cell keys: a sha256 over its files' sha256."""
        text = "|".join(f"{f.filename}:{f.sha256}" for f in self.files)
        return hashlib.sha256(f"{self.key}|{text}".encode()).hexdigest()


def _idx_files(mirrors: tuple[str, ...], sums: dict[str, tuple[int, str]]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(name, tuple(m + name for m in mirrors), sha, size) for name, (size, sha) in sums.items()
    )


_RUFF = (
    "One-vs-rest protocol: Ruff et al. Deep One-Class Classification. ICML 2018."
)

MNIST = Collection(
    key="mnist",
    title="MNIST handwritten digits",
    reader="idx",
    files=_idx_files(
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {
            # md5 f68b3c2dcbeaaa9fbdd348bbdeb94873
            "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            # md5 d53e105ee54ea40749a09fcbcd1e9432
            "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            # md5 9fb629c4189551a2d022fa330f9573f3
            "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            # md5 ec29112dd5afa0611ce80d1b7f02629c
            "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        },
    ),
    classes=tuple(str(d) for d in range(10)),
    train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    image_shape=(28, 28),
    license="CC BY-SA 3.0 (copyright Yann LeCun and Corinna Cortes)",
    citation=(
        "LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document recognition. "
        f"Proc. IEEE 86(11), 1998. {_RUFF}"
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = Collection(
    key="fashion_mnist",
    title="Fashion-MNIST (Zalando article images)",
    reader="idx",
    files=_idx_files(
        (
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        {
            # md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d
            "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            # md5 25c81989df183df01b3e8a0aad5dffbe
            "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            # md5 bef4ecab320f06d8554ea6380940ec79
            "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            # md5 bb300cfdad3c16e7a12a480ee83cd310
            "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        },
    ),
    classes=("tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
             "ankle_boot"),
    train_counts=(6000,) * 10,
    test_counts=(1000,) * 10,
    image_shape=(28, 28),
    license="MIT",
    citation=(
        "Xiao, Rasul, Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
        f"Learning Algorithms. arXiv:1708.07747, 2017. {_RUFF}"
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

CIFAR10 = Collection(
    key="cifar10",
    title="CIFAR-10 tiny images",
    reader="cifar10",
    files=(
        RemoteFile(
            "cifar-10-python.tar.gz",
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            # md5 c58f30108f718f92721af3b95e74349a
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            170498071,
        ),
    ),
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    train_counts=(5000,) * 10,
    test_counts=(1000,) * 10,
    image_shape=(3, 32, 32),
    license="no license stated by the authors; see https://www.cs.toronto.edu/~kriz/cifar.html",
    citation=(
        "Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Technical report, "
        f"University of Toronto, 2009. {_RUFF}"
    ),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)

COLLECTIONS = (MNIST, FASHION_MNIST, CIFAR10)
