"""anomaly-bench plugin: ``ae``, an autoencoder scored by reconstruction error (torch)."""

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.4.0"


@hookimpl
def register_detectors(registry):
    registry.add(
        "ae",
        "bench_ae.model:AutoEncoderDetector",
        family="reconstruction",
        tags=("torch", "images"),
        description=(
            "Autoencoder (MLP of PyOD AutoEncoder's widths with batch norm) trained by least "
            "trimmed squares (each step leaves out the worst-reconstructed trim=0.2 of its "
            "batch); score = "
            "per-row reconstruction error. Option denoising=<noise std>."
            " On images (n, C, H, W): convolutional autoencoders (arch=auto|mlp|conv)."
        ),
        citation=(
            "Sakurada & Yairi, Anomaly detection using autoencoders with nonlinear dimensionality "
            "reduction, MLSDA 2014; Rousseeuw, Least median of squares regression, JASA 1984"
        ),
    )
