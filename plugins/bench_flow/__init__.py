"""anomaly-bench plugin: ``flow``, a RealNVP normalizing flow scored by -log p(x) (torch)."""

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.1.0"


@hookimpl
def register_detectors(registry):
    registry.add(
        "flow",
        "bench_flow.model:FlowDetector",
        family="likelihood",
        tags=("torch", "images"),
        description=(
            "RealNVP normalizing flow (affine couplings with tanh-bounded log-scales, random "
            "feature masks, Gaussian dequantization noise in training); exact density, "
            "score = -log p(x)."
            " On images: multi-scale RealNVP with checkerboard and channel masks, logit dequantization, -log p in nats (arch=auto|mlp|conv)."
        ),
        citation="Dinh, Sohl-Dickstein & Bengio, Density estimation using Real NVP, ICLR 2017",
    )
