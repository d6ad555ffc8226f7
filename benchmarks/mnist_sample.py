"""Convolutional generative detectors on MNIST one-vs-rest tasks, against their MLP variants and
the classical detectors on pixels, through the real runner (issue 11's comparison).

The data is a labelled file of MNIST images (the development sample holds the test images of
digits 0-4): ``--one-vs-rest all`` makes one task per digit, that digit normal and the other
digits sampled (fixed seed) to ``--anomaly-share`` of the rows. Each torch detector runs with its
defaults twice: ``arch=auto`` (convolutional on images) and ``arch=mlp`` (flattened pixels);
KNN, OCSVM and IForest see flattened pixels. Cells go to a resumable store; the script prints a
Markdown table (mean AUROC over tasks and seeds, median fit seconds) and writes it with ``-o``.

    python benchmarks/mnist_sample.py --file ../shared/datasets/images/mnist-test-digits-0-4.npz \
        --protocol novelty --seeds 1,2,3 --store results/mnist_sample.sqlite -o results/mnist_sample.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

GENERATIVE = ["ae", "vae", "gan", "bigan", "flow", "diffusion"]
CLASSICAL = ["knn", "ocsvm", "iforest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", required=True, help="labelled image file (.npz with X, y)")
    parser.add_argument("--protocol", default="novelty")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--anomaly-share", type=float, default=0.1)
    parser.add_argument("--store", default="mnist_sample.sqlite")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--detectors", default=",".join(GENERATIVE))
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()

    import pandas as pd

    import bench
    from bench import images

    generative = [d for d in args.detectors.split(",") if d]
    detectors = [*generative, *(f"{d}[arch=mlp]" for d in generative), *CLASSICAL]
    tasks = images.one_vs_rest_specs(args.file, "all", anomaly_share=args.anomaly_share)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    load = os.getloadavg()[0]
    cells = bench.run(detectors, tasks, protocols=[args.protocol], seeds=seeds,
                      store=args.store, jobs=args.jobs, progress=True,
                      command="benchmarks/mnist_sample.py")
    wall = time.perf_counter() - start
    ok = cells[cells["status"] == "ok"]
    table = (ok.groupby("detector")
             .agg(auroc=("auroc", "mean"), auroc_std=("auroc", "std"), cells=("auroc", "size"),
                  fit_s=("fit_s", "median"), score_s=("score_s", "median"))
             .sort_values("auroc", ascending=False))
    per_task = ok.pivot_table(index="detector", columns="dataset", values="auroc", aggfunc="mean")
    failed = cells[cells["status"] != "ok"]
    lines = [
        f"# MNIST one-vs-rest: convolutional vs MLP generative detectors vs pixels ({args.protocol})",
        "",
        f"Command: `python benchmarks/mnist_sample.py --file {Path(args.file).name} --protocol "
        f"{args.protocol} --seeds {args.seeds} --anomaly-share {args.anomaly_share} --jobs "
        f"{args.jobs}`; {len(tasks)} tasks x {len(seeds)} seeds x {len(detectors)} detectors = "
        f"{len(cells)} cells, {len(failed)} not ok; {wall / 60:.1f} min wall on "
        f"{os.cpu_count()} cores (load {load:.1f} at the start), {platform.platform()}, "
        f"anomaly-bench {bench.__version__}.",
        "",
        "Each task: one digit normal, the other digits of the file sampled (fixed seed) to "
        f"{args.anomaly_share:.0%} of its rows; `{args.protocol}` split (70/30, stratified). "
        "`name` is the detector with its defaults (`arch=auto`: convolutional on images), "
        "`name[arch=mlp]` the same detector on flattened pixels; KNN, OCSVM and IForest see "
        "flattened pixels.",
        "",
        "| detector | mean AUROC | std | cells | median fit s | median score s |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in table.iterrows():
        lines.append(f"| {name} | {row.auroc:.3f} | {row.auroc_std:.3f} | {int(row.cells)} | "
                     f"{row.fit_s:.2f} | {row.score_s:.2f} |")
    lines += ["", "Mean AUROC per task (over seeds):", "",
              per_task.round(3).to_markdown() if len(per_task) else "(none)", ""]
    if len(failed):
        lines += ["Cells not ok:", "", pd.DataFrame(failed[["detector", "dataset", "seed",
                                                            "status", "error"]]).to_markdown(
            index=False), ""]
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
