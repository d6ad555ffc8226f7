"""anomaly-bench plugin: ``gan``, a GAN whose discriminator scores rows (torch)."""

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.3.0"


@hookimpl
def register_detectors(registry):
    registry.add(
        "gan",
        "bench_gan.model:GANDetector",
        family="adversarial",
        tags=("torch", "images"),
        description=(
            "GAN (MLP generator, spectral-norm MLP discriminator, instance noise, one-sided label "
            "smoothing, broad reference negatives); score = minus the discriminator's logit, "
            "averaged over snapshots of the discriminator taken in the second half of training."
            " On images: DCGAN-layout networks (arch=auto|mlp|conv)."
        ),
        citation=(
            "Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014; Miyato et al., "
            "Spectral Normalization for GANs, ICLR 2018; Sonderby et al., Amortised MAP "
            "Inference for Image Super-resolution (instance noise), ICLR 2017"
        ),
    )
