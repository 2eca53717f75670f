"""A short notebook workflow, in the style of arcgis.learn's CycleGAN:

    from cyclegan.apps.learn import prepare_data, CycleGAN

    data = prepare_data("datasets/horse2zebra", batch_size=1, chip_size=256)
    data.show_batch()
    model = CycleGAN(data, gen_blocks=9)
    model.fit(10, lr=2e-4)
    model.plot_losses()
    model.show_results(rows=4)
    zebra = model.predict("horse.jpg", direction="AtoB")
    model.save("models/h2z")
    model = CycleGAN.from_model("models/h2z", data)
    model.compute_metrics()

**Direction names.** Here ``AtoB`` means *from domain A to domain B*, done by
the generator ``g_ab`` (the reference's ``G_A``); ``BtoA`` is ``g_ba``. arcgis.learn
names its generators the other way round (its ``G_A`` makes A images from B),
so a notebook ported from arcgis.learn must swap the names, not the folders.

Everything here is a thin layer over ``train``, ``load_translator`` and
``evaluate_model``: a model is a run folder, ``fit`` writes checkpoints, the
sample grids, curves and ``index.html`` there as ``cyclegan train`` does.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cyclegan import directions
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.data.datasets import DomainFolders, find_domains, list_images
from cyclegan.data.domain import preview
from cyclegan.data.imageio import resize
from cyclegan.errors import ConfigError
from cyclegan.model.checkpoint import load_network_config
from cyclegan.model.losses import HEADLINE_LOSSES
from cyclegan.model.run_checkpoints import (
    adopt_checkpoint,
    copy_checkpoint,
    latest_checkpoint,
    resolve_checkpoint,
)
from cyclegan.training import losslog


@dataclass
class Data:
    """The two domains of a dataset folder and how to feed them."""

    path: Path
    folders: DomainFolders
    batch_size: int = 1
    chip_size: int = 256
    options: dict = field(default_factory=dict)

    def show_batch(self, rows: int = 2):
        """A matplotlib figure of ``rows`` training images of each domain (A left, B right)."""
        import matplotlib.pyplot as plt

        files_a, files_b = list_images(self.folders.train_a), list_images(self.folders.train_b)
        rng = np.random.default_rng()
        fig, axes = plt.subplots(rows, 2, figsize=(6, 3 * rows), squeeze=False)
        for r in range(rows):
            for c, (files, label) in enumerate(((files_a, "A"), (files_b, "B"))):
                path = files[int(rng.integers(len(files)))]
                axes[r, c].imshow(resize(preview(path), self.chip_size, self.chip_size))
                axes[r, c].set_title(f"{label}: {path.name}", fontsize=8)
                axes[r, c].axis("off")
        fig.tight_layout()
        return fig


def prepare_data(path: str | Path, batch_size: int = 1, chip_size: int = 256, **options) -> Data:
    """Find the domains (``trainA/trainB``, ``train_a/train_b`` or ``A/images``, ``B/images``).

    ``chip_size`` is the training crop (images are first scaled to 286/256 of it,
    as the reference does); other keyword options go to ``TrainConfig``.
    """
    return Data(Path(path), find_domains(Path(path)), batch_size, chip_size, options)


class CycleGAN:
    """A CycleGAN bound to a dataset and a run folder."""

    def __init__(
        self,
        data: Data | None,
        gen_blocks: int = 9,
        ngf: int = 64,
        ndf: int = 64,
        lambda_identity: float = 0.5,
        run: str | Path | None = None,
        network: NetworkConfig | None = None,
    ):
        if gen_blocks not in (6, 9):
            raise ConfigError(f"gen_blocks is {gen_blocks}; allowed: 6, 9")
        self.data = data
        self.network = network or NetworkConfig(
            net_g=f"resnet_{gen_blocks}blocks", ngf=ngf, ndf=ndf
        )
        self.lambda_identity = lambda_identity
        self.run = Path(run) if run else Path(tempfile.mkdtemp(prefix="cyclegan_"))
        self._translator = None

    def _checkpoint(self) -> Path:
        folder = latest_checkpoint(self.run) if self.run.is_dir() else None
        if folder is None:
            raise ConfigError("the model is not trained yet: call fit() or from_model()")
        return folder

    def fit(self, epochs: int, lr: float = 2e-4, **options) -> Path:
        """Train ``epochs`` epochs: the first half at ``lr``, then a linear decay to zero.

        Calling ``fit`` again continues from the current weights with a new schedule
        (in a sub-run of the run folder). Returns the final checkpoint folder.
        """
        from cyclegan.training.trainer import train

        if self.data is None:
            raise ConfigError("fit() needs data: CycleGAN(prepare_data(path), ...)")
        chip = self.data.chip_size
        previous = latest_checkpoint(self.run) if self.run.is_dir() else None
        run = self.run if previous is None else self.run / f"fit_{time.strftime('%H%M%S')}"
        values = dict(
            data=str(self.data.path),
            run=str(run),
            network=self.network,
            lr=lr,
            batch_size=self.data.batch_size,
            crop_size=chip,
            load_size=max(chip, chip * 286 // 256),
            lambda_identity=self.lambda_identity,
            n_epochs=(epochs + 1) // 2,
            n_epochs_decay=epochs // 2,
            save_epoch_freq=max(1, epochs),
            init_from=str(previous) if previous else "",
        )
        values.update(self.data.options)
        values.update(options)
        final = train(TrainConfig(**values))
        if run != self.run:  # the newest checkpoint of the model lives at the top level
            adopt_checkpoint(self.run, final, f"{run.name}_{final.name}")
        self._translator = None
        return final

    @property
    def translator(self):
        from cyclegan.inference.translate import load_translator

        if self._translator is None:
            self._translator = load_translator(self._checkpoint(), device="auto")
        return self._translator

    def predict(self, image, direction: str = "AtoB", tile: int | None = None):
        """Translate a path, PIL image, array or tensor (``AtoB``: domain A -> domain B);
        ``tile`` translates a large image in blended tiles of that size."""
        return self.translator.translate(image, direction, tile=tile)

    def plot_losses(self):
        """Loss curves of the (last) fit as a matplotlib figure."""
        import matplotlib.pyplot as plt

        runs = sorted(self.run.glob("fit_*"))
        rows = losslog.read(runs[-1] if runs else self.run)
        fig, ax = plt.subplots(figsize=(8, 4))
        if rows:
            steps = [r["step"] for r in rows]
            for key in HEADLINE_LOSSES:
                ax.plot(steps, [r[key] for r in rows], label=key)
            ax.set_xlabel("step")
            ax.legend(ncol=3)
        return fig

    def show_results(self, rows: int = 4):
        """Test images (train images when there are none): input | translation, both ways."""
        import matplotlib.pyplot as plt

        if self.data is None:
            raise ConfigError("show_results() needs data")
        f = self.data.folders
        sets = (("AtoB", f.test_a or f.train_a), ("BtoA", f.test_b or f.train_b))
        fig, axes = plt.subplots(rows, 4, figsize=(12, 3 * rows), squeeze=False)
        domains = self.translator.domains
        for c, (direction, folder) in enumerate(sets):
            source, target = (domains[d] for d in directions.labels(direction))
            for r, path in enumerate(list_images(folder)[:rows]):
                x = source.load(path)  # rasters: scaled by the model's band statistics
                axes[r, 2 * c].imshow(source.display(x))
                axes[r, 2 * c + 1].imshow(target.display(self.predict(x, direction)))
                axes[r, 2 * c].set_title(f"{directions.source(direction)}: {path.name}", fontsize=8)
                axes[r, 2 * c + 1].set_title(direction, fontsize=8)
        for ax in axes.flat:
            ax.axis("off")
        fig.tight_layout()
        return fig

    def save(self, path: str | Path) -> Path:
        """Copy the latest checkpoint (weights, configuration, training state) to ``path``."""
        path = Path(path)
        if path.exists():
            raise ConfigError(f"{path} exists; save() does not overwrite")
        return copy_checkpoint(self._checkpoint(), path)

    @classmethod
    def from_model(cls, path: str | Path, data: Data | None = None) -> CycleGAN:
        """Load a checkpoint folder (from ``save``) or a run folder."""
        folder = resolve_checkpoint(Path(path))
        model = cls(
            data, network=load_network_config(folder), run=tempfile.mkdtemp(prefix="cyclegan_")
        )
        adopt_checkpoint(model.run, folder, folder.name)
        return model

    def compute_metrics(self, **options) -> dict:
        """FID/KID, cycle and paired metrics on the data's test folders (``cyclegan evaluate``)."""
        from cyclegan.apps.evaluate import evaluate_model

        if self.data is None:
            raise ConfigError("compute_metrics() needs data with testA/testB folders")
        return evaluate_model(self._checkpoint(), self.data.path, **options)
