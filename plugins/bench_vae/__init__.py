"""anomaly-bench plugin: ``vae``, a variational autoencoder scored by -ELBO / IWAE (torch)."""

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.2.0"


@hookimpl
def register_detectors(registry):
    registry.add(
        "vae",
        "bench_vae.model:VAEDetector",
        family="likelihood",
        tags=("torch", "images"),
        description=(
            "Variational autoencoder with a Gaussian latent and a Gaussian decoder with learned "
            "per-feature variance; score = negative ELBO (score=elbo, default), importance-"
            "weighted -log p(x) (score=iwae, n_samples=K) or the reconstruction term (score=recon)."
            " On images: convolutional VAEs (arch=auto|mlp|conv)."
        ),
        citation=(
            "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014; "
            "Burda et al., Importance Weighted Autoencoders, ICLR 2016; "
            "An & Cho, Variational autoencoder based anomaly detection using reconstruction "
            "probability, 2015"
        ),
    )
