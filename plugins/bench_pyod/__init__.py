"""PyOD detectors: the classical baselines ADBench ran, and PyOD's own deep baselines.

Every factory is a lazy ``"module:attr"`` string, so listing detectors imports neither PyOD nor
torch. Classical detectors are PyOD's classes with PyOD's defaults, as ADBench ran them (the runner
passes ``random_state`` to those that accept it: IForest, PCA, CBLOF). The deep baselines go
through small wrappers in :mod:`bench_pyod.models` that build the PyOD model inside ``fit`` (some
need the number of features up front), seed it, and keep it quiet.
"""

from __future__ import annotations

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.1.0"

_PYOD = "Zhao, Nasrullah, Li. PyOD: A Python Toolbox for Scalable Outlier Detection. JMLR 20(96), 2019."

# name -> (factory, description, citation of the method)
CLASSICAL = {
    "iforest": (
        "pyod.models.iforest:IForest",
        "Isolation Forest: mean path length in random isolation trees",
        "Liu, Ting, Zhou. Isolation Forest. ICDM 2008.",
    ),
    "lof": (
        "pyod.models.lof:LOF",
        "Local Outlier Factor: local density relative to the 20 nearest neighbours",
        "Breunig, Kriegel, Ng, Sander. LOF: Identifying Density-Based Local Outliers. SIGMOD 2000.",
    ),
    "knn": (
        "pyod.models.knn:KNN",
        "k-nearest neighbours: distance to the 5th nearest neighbour",
        "Ramaswamy, Rastogi, Shim. Efficient Algorithms for Mining Outliers from Large Data Sets. "
        "SIGMOD 2000.",
    ),
    "ocsvm": (
        "pyod.models.ocsvm:OCSVM",
        "One-class SVM with an RBF kernel (nu=0.5)",
        "Schoelkopf, Platt, Shawe-Taylor, Smola, Williamson. Estimating the Support of a "
        "High-Dimensional Distribution. Neural Computation 13(7), 2001.",
    ),
    "pca": (
        "bench_pyod.classical:PCA",
        "PCA: weighted distance to the principal subspace of the standardised data",
        "Shyu, Chen, Sarinnapakorn, Chang. A Novel Anomaly Detection Scheme Based on Principal "
        "Component Classifier. ICDM Foundation and New Direction of Data Mining workshop, 2003.",
    ),
    "hbos": (
        "pyod.models.hbos:HBOS",
        "Histogram-based outlier score: per-feature histograms (10 bins), assumed independent",
        "Goldstein, Dengel. Histogram-based Outlier Score (HBOS): A fast Unsupervised Anomaly "
        "Detection Algorithm. KI-2012 Poster and Demo Track.",
    ),
    "copod": (
        "pyod.models.copod:COPOD",
        "Copula-based outlier detection: empirical copula tail probabilities",
        "Li, Zhao, Botta, Ionescu, Hu. COPOD: Copula-Based Outlier Detection. ICDM 2020.",
    ),
    "ecod": (
        "pyod.models.ecod:ECOD",
        "Empirical CDF-based outlier detection: per-feature tail probabilities",
        "Li, Zhao, Hu, Botta, Ionescu, Chen. ECOD: Unsupervised Outlier Detection Using Empirical "
        "Cumulative Distribution Functions. IEEE TKDE 2022.",
    ),
    "cblof": (
        "bench_pyod.classical:CBLOF",
        "Cluster-based local outlier factor: distance to large k-means clusters (8 clusters)",
        "He, Xu, Deng. Discovering Cluster-Based Local Outliers. Pattern Recognition Letters "
        "24(9-10), 2003.",
    ),
}

# name -> (wrapper, family, description, citation of the method)
DEEP = {
    "pyod_autoencoder": (
        "bench_pyod.models:PyODAutoEncoder",
        "reconstruction",
        "PyOD AutoEncoder: reconstruction error of a [64, 32] MLP autoencoder, 10 epochs",
        "Aggarwal. Outlier Analysis, 2nd ed., Springer 2017, chapter 3.",
    ),
    "pyod_vae": (
        "bench_pyod.models:PyODVAE",
        "reconstruction",
        "PyOD VAE: reconstruction error of a variational autoencoder (latent 2), 30 epochs",
        "Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014.",
    ),
    "pyod_alad": (
        "bench_pyod.models:PyODALAD",
        "adversarial",
        "PyOD ALAD: adversarially learned anomaly detection (BiGAN with cycle discriminators), "
        "200 epochs",
        "Zenati, Romain, Foo, Lecouat, Chandrasekhar. Adversarially Learned Anomaly Detection. "
        "ICDM 2018.",
    ),
    "pyod_so_gaal": (
        "bench_pyod.models:PyODSOGAAL",
        "adversarial",
        "PyOD SO-GAAL: discriminator of single-objective generative adversarial active learning",
        "Liu, Li, Zhou, Chen, Yang, Xiong, He. Generative Adversarial Active Learning for "
        "Unsupervised Outlier Detection. IEEE TKDE 2020.",
    ),
    "pyod_anogan": (
        "bench_pyod.models:PyODAnoGAN",
        "adversarial",
        "PyOD AnoGAN: GAN latent search per scored row (500 epochs, 20 query steps per row)",
        "Schlegl, Seeboeck, Waldstein, Schmidt-Erfurth, Langs. Unsupervised Anomaly Detection "
        "with Generative Adversarial Networks to Guide Marker Discovery. IPMI 2017.",
    ),
    "pyod_deepsvdd": (
        "bench_pyod.models:PyODDeepSVDD",
        "one-class",
        "PyOD Deep SVDD: distance to the centre of a learned hypersphere, 100 epochs",
        "Ruff, Vandermeulen, Goernitz, Deecke, Siddiqui, Binder, Mueller, Kloft. Deep One-Class "
        "Classification. ICML 2018.",
    ),
}


@hookimpl
def register_detectors(registry):
    for name, (factory, description, citation) in CLASSICAL.items():
        registry.add(
            name,
            factory,
            family="classical",
            tags=("pyod",),
            description=description,
            citation=f"{citation} Implementation: {_PYOD}",
        )
    for name, (factory, family, description, citation) in DEEP.items():
        registry.add(
            name,
            factory,
            family=family,
            tags=("pyod", "torch", "baseline", "slow"),
            description=description,
            citation=f"{citation} Implementation: {_PYOD}",
        )
