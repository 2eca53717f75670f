"""The notebook API on tiny data, and the documented example in docs/notebook.md."""

from __future__ import annotations

import re

import matplotlib
import pytest
from PIL import Image

from conftest import DATASETS, REPO, need
from cyclegan.apps.learn import CycleGAN, prepare_data
from cyclegan.errors import ConfigError

matplotlib.use("Agg")


def test_every_call_on_tiny_data(tiny_data, tmp_path):
    data = prepare_data(tiny_data, batch_size=1, chip_size=32, num_workers=0)
    assert data.show_batch(rows=2).axes  # a figure with both domains
    model = CycleGAN(data, gen_blocks=6, ngf=4, ndf=4, run=tmp_path / "run")
    with pytest.raises(ConfigError, match="not trained yet"):
        model.predict(Image.new("RGB", (20, 20)))
    first = model.fit(2)
    assert first.name == "epoch_0002" and (tmp_path / "run" / "index.html").is_file()
    assert len(model.plot_losses().axes[0].lines) == 6
    assert model.show_results(rows=2).axes
    out = model.predict(Image.new("RGB", (27, 19), "red"), direction="BtoA")
    assert out.size == (27, 19)

    model.fit(1)  # continues from the current weights, new schedule
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().startswith("fit_")
    # the second fit's checkpoint is one of the run's (evaluate --checkpoints all walks
    # list_checkpoints; --keep-checkpoints prunes by it), not only the pointer's target
    from cyclegan.model.run_checkpoints import (
        latest_checkpoint,
        list_checkpoints,
        prune_checkpoints,
    )

    assert latest_checkpoint(tmp_path / "run") in list_checkpoints(tmp_path / "run")
    assert len(list_checkpoints(tmp_path / "run")) == 2
    saved = model.save(tmp_path / "saved")
    with pytest.raises(ConfigError, match="does not overwrite"):
        model.save(tmp_path / "saved")
    again = CycleGAN.from_model(saved, data)
    img = Image.new("RGB", (20, 24), "blue")
    assert again.predict(img).tobytes() == model.predict(img).tobytes()
    prune_checkpoints(tmp_path / "run", keep=1)  # --keep-checkpoints 1 keeps the fit's
    assert list_checkpoints(tmp_path / "run") == [latest_checkpoint(tmp_path / "run")]
    assert latest_checkpoint(tmp_path / "run").name.startswith("fit_")


def test_gen_blocks_are_checked():
    with pytest.raises(ConfigError, match="gen_blocks is 7"):
        CycleGAN(None, gen_blocks=7)


@pytest.mark.slow
def test_documented_notebook_example_runs(tmp_path, monkeypatch):
    need(DATASETS / "horse2zebra")
    text = (REPO / "docs" / "notebook.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    code = code.replace('"runs/', f'"{tmp_path}/')
    monkeypatch.chdir(REPO)  # the example's paths are relative to the repository root
    exec(compile(code, "docs/notebook.md", "exec"), {})
    assert (tmp_path / "notebook_h2z" / "index.html").is_file()
    assert (tmp_path / "notebook_h2z_saved" / "g_ab.safetensors").is_file()
