"""Configuration: validation messages, round trips, and the CLI's option mapping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyclegan.cli.main import build_parser
from cyclegan.cli.options import config_from_args
from cyclegan.config import GENERATORS, NORMS, NetworkConfig, TrainConfig
from cyclegan.errors import ConfigError


def test_bad_choice_names_option_value_and_allowed():
    with pytest.raises(ConfigError, match=r"'net_g' is 'resnet_12'.*resnet_9blocks"):
        NetworkConfig(net_g="resnet_12")


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"lr": 0.0}, "'lr' must be > 0"),
        ({"batch_size": 0}, "'batch_size' must be > 0"),
        ({"n_epochs": 0, "n_epochs_decay": 0}, "nothing to train"),
        ({"load_size": 100, "crop_size": 128}, "'crop_size' (128) is larger"),
        ({"lambda_identity": -1.0}, "'lambda_identity' must be >= 0"),
    ],
)
def test_invalid_training_options(kwargs, needle):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**kwargs)
    assert needle in str(err.value)


@given(
    net_g=st.sampled_from(GENERATORS),
    norm=st.sampled_from(NORMS),
    ngf=st.integers(1, 128),
    lr=st.floats(1e-6, 1.0),
    seed=st.integers(0, 2**31),
    flip=st.booleans(),
)
def test_config_round_trips_through_dict(net_g, norm, ngf, lr, seed, flip):
    cfg = TrainConfig(
        network=NetworkConfig(net_g=net_g, norm=norm, ngf=ngf), lr=lr, seed=seed, flip=flip
    )
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_identity_is_off_when_channel_counts_differ():
    cfg = TrainConfig(network=NetworkConfig(input_nc=1, output_nc=3))
    assert cfg.lambda_identity == 0.5 and not cfg.identity_active


def test_cli_accepts_reference_and_kebab_spellings():
    parser = build_parser()
    ref = parser.parse_args(
        [
            "train",
            "--data",
            "d",
            "--run",
            "r",
            "--netG",
            "unet_256",
            "--n_epochs_decay",
            "7",
            "--no_flip",
            "--lambda_A",
            "5",
            "--n_layers_D",
            "4",
        ]
    )
    ours = parser.parse_args(
        [
            "train",
            "--data",
            "d",
            "--run",
            "r",
            "--net-g",
            "unet_256",
            "--n-epochs-decay",
            "7",
            "--no-flip",
            "--lambda-a",
            "5",
            "--n-layers-d",
            "4",
        ]
    )
    for args in (ref, ours):
        cfg = config_from_args(args)
        assert cfg.network.net_g == "unet_256" and cfg.n_epochs_decay == 7
        assert cfg.flip is False and cfg.lambda_a == 5.0 and cfg.network.n_layers_d == 4
        assert cfg.lr == TrainConfig().lr  # untouched options keep the dataclass default


def test_cli_rejects_unknown_choice(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", "--gan-mode", "hinge"])
    assert exit_.value.code == 2
    assert "hinge" in capsys.readouterr().err


def test_directions_and_domain_options_decode_as_documented():
    """What ``directions.py`` and ``TrainConfig.domain_options`` give (the code asks them
    alone: test_code_rules.py)."""
    from cyclegan import directions

    assert [directions.labels(d) for d in directions.DIRECTIONS] == [("A", "B"), ("B", "A")]
    assert directions.back("AtoB") == "BtoA"
    cfg = TrainConfig(bands_b="4,3,2", nodata_b="nan", rgb_b="3,2,1", stats_a="s.json")
    b = cfg.domain_options["B"]
    assert b.bands == (4, 3, 2) and math.isnan(b.nodata) and b.rgb == (3, 2, 1)
    assert cfg.domain_options["A"].stats_file == "s.json"
    with pytest.raises(ConfigError, match="rgb_a"):
        TrainConfig(rgb_a="1,2")


def test_train_help_shows_the_raster_options_as_their_own_group(capsys):
    from cyclegan.cli.main import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    lines = text[text.index("raster domains (") :].splitlines()
    rest = [i for i, line in enumerate(lines[1:], 1) if line and not line[0].isspace()]
    group = "\n".join(lines[: rest[0] if rest else None])
    for option in ("--band-stats", "--bands-a", "--nodata-b", "--stats-a", "--rgb-b"):
        assert option in group, option


@pytest.mark.parametrize("value", [[], "2", 1.5, True, float("nan")])
def test_an_option_decided_later_still_gets_a_number(value):
    """num_workers is None until the device decides it; a saved or given value that is
    not a whole number is refused like any number's (found by the checkpoint fuzzer)."""
    with pytest.raises(ConfigError, match="option 'num_workers'"):
        TrainConfig(num_workers=value)
    assert TrainConfig(num_workers=None).num_workers is None
