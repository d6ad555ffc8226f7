"""Conv vs MLP generative detectors and KNN on one MNIST one-vs-rest task (a quick check).

Normal class = one digit of the shared MNIST test sample (../shared/datasets/images), the first
``--n-train`` (1,000) of its images for training (scaled /255), its remaining images and 400 random images of the
other digits (seeded) for testing. Each torch detector runs with its defaults and seed 1, once
with ``arch="conv"`` on (n, 1, 28, 28) and once with ``arch="mlp"`` on flattened pixels; KNN
(PyOD defaults) on flattened pixels. Prints fit+score seconds (wall, and this process's CPU
seconds: on a busy machine CPU / threads estimates the wall time of a quiet one) and test AUROC.

    python benchmarks/conv_detectors_mnist.py [--digit 1] [--threads 2] [--only ae,vae]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "images"


def task(digit: int, n_train: int = 1000, n_other: int = 400, seed: int = 1):
    d = np.load(DATA / "mnist-test-digits-0-4.npz")
    X, y = d["X"].astype(np.float64) / 255.0, d["y"]
    normal, other = X[y == digit], X[y != digit]
    rng = np.random.default_rng(seed)
    other = other[rng.choice(len(other), n_other, replace=False)]
    X_test = np.concatenate([normal[n_train:], other])[:, None]
    y_test = np.r_[np.zeros(len(normal) - n_train), np.ones(n_other)]
    return normal[:n_train][:, None], X_test, y_test


def main() -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser()
    parser.add_argument("--digit", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="ae,vae,gan,bigan,flow,diffusion")
    parser.add_argument("--archs", default="conv,mlp")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X_train, X_test, y_test = task(args.digit, args.n_train)
    print(f"digit {args.digit}: train {X_train.shape}, test {X_test.shape} "
          f"({int(y_test.sum())} anomalies), {args.threads} threads, {args.device}")
    from bench import plugins

    registry = plugins.get_detectors()
    from pyod.models.knn import KNN

    t = time.perf_counter()
    knn = KNN().fit(X_train.reshape(len(X_train), -1))
    s = knn.decision_function(X_test.reshape(len(X_test), -1))
    print(f"{'knn':10s} {'pixels':5s} {time.perf_counter() - t:7.1f} s wall  "
          f"AUROC {roc_auc_score(y_test, s):.3f}")
    for name in args.only.split(","):
        for arch in args.archs.split(","):
            det = registry.get(name).build(random_state=1)
            det.set_params(arch=arch, n_threads=args.threads, device=args.device)
            t, cpu = time.perf_counter(), time.process_time()
            det.fit(X_train)
            s = det.decision_function(X_test)
            took, cpu = time.perf_counter() - t, time.process_time() - cpu
            print(f"{name:10s} {arch:5s} {took:7.1f} s wall {cpu:7.1f} s cpu  "
                  f"AUROC {roc_auc_score(y_test, s):.3f}  steps {det.n_steps_}, "
                  f"epochs {len(det.history_)}, batch {det.batch_size_}", flush=True)


if __name__ == "__main__":
    main()
