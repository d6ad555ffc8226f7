"""anomaly-bench plugin: ``diffusion``, Diffusion Time Estimation and a DDPM variant (torch)."""

from bench import hookimpl

#: part of every cell's key: bumped when the detector's code or defaults change
#: (0.3.0: training runs its full step budget, no early stopping by default; automatic batches
#: of at most 256 rows)
__version__ = "0.3.0"


@hookimpl
def register_detectors(registry):
    registry.add(
        "diffusion",
        "bench_diffusion.model:DiffusionDetector",
        family="diffusion",
        tags=("torch", "images"),
        description=(
            "Diffusion model on the rows. score=dte (default): categorical Diffusion Time "
            "Estimation, an MLP classifies the (binned) diffusion time of noised rows; score = "
            "expected time for the clean row. score=ddpm: a noise-prediction network; score = "
            "error of denoising the row from a fixed noise level."
            " On images: a small U-Net (arch=auto|mlp|conv)."
        ),
        citation=(
            "Livernoche, Jain, Hezaveh & Ravanbakhsh, On Diffusion Modeling for Anomaly "
            "Detection, ICLR 2024; Ho, Jain & Abbeel, Denoising Diffusion Probabilistic Models, "
            "NeurIPS 2020"
        ),
    )
