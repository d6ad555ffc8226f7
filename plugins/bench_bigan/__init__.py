"""anomaly-bench plugin: ``bigan``, BiGAN/EGBAD scored by reconstruction and discriminator (torch)."""

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.2.0"


@hookimpl
def register_detectors(registry):
    registry.add(
        "bigan",
        "bench_bigan.model:BiGANDetector",
        family="adversarial",
        tags=("torch", "images"),
        description=(
            "BiGAN / EGBAD: encoder E and generator G trained jointly against a discriminator on "
            "(x, E(x)) vs (G(z), z); score A(x) = a*||x - G(E(x))||_1 + (1-a)*L_D(x) with L_D the "
            "discriminator's cross-entropy (disc=ce, the default on rows) or feature-matching "
            "distance (disc=fm, the default on images); a=0.9."
            " On images: EGBAD's DCGAN-style MNIST networks (arch=auto|mlp|conv)."
        ),
        citation=(
            "Zenati, Foo, Lecouat, Manek & Chandrasekhar, Efficient GAN-Based Anomaly Detection, "
            "ICLR 2018 workshop; Donahue, Kraehenbuehl & Darrell, Adversarial Feature Learning, "
            "ICLR 2017"
        ),
    )
