"""External test sets: how a name is found, which sets a run takes (its card's by default), the refusal of a set
holding a training image under another name, and the record a set's Dice is stored as."""

import shutil

import pytest
import torch
from synthetic_pairs import disc_folder

from bench.cards import load_cards
from bench.config import ConfigError
from bench.data import fingerprint, read_pairs
from bench.integrity import check
from bench.pairs import DatasetError
from bench.testsets import NONE, ExternalSet, check_names, chosen, load, refuse_seen, resolve, scores


def test_a_folder_is_named_by_its_last_part_and_a_missing_one_is_refused_naming_the_option(tmp_path):
    folder = disc_folder(tmp_path / "elsewhere", n=6)
    assert resolve(str(folder)) == ("elsewhere", folder)
    with pytest.raises(DatasetError, match="--test-set '/nonexistent'"):
        resolve("/nonexistent")
    with pytest.raises(DatasetError, match="--test-set shenzhen: dataset 'shenzhen' not found"):
        resolve("shenzhen")  # a card whose data is not on this machine


def test_none_stands_alone_and_two_sets_of_one_name_are_refused(tmp_path):
    a, b = disc_folder(tmp_path / "a" / "lungs", n=6), disc_folder(tmp_path / "b" / "lungs", n=6)
    check_names((NONE,))
    check_names((str(a),))
    with pytest.raises(ConfigError, match="--test-set none turns every external set off"):
        check_names((NONE, str(a)))
    with pytest.raises(ConfigError, match="both named 'lungs'"):
        check_names((str(a), str(b)))


def test_montgomery_and_shenzhen_name_each_other_as_their_default_sets():
    cards = load_cards()
    assert cards["montgomery"].external == ("shenzhen",) and cards["shenzhen"].external == ("montgomery",)
    assert chosen((), cards["montgomery"]) == (("shenzhen",), False)
    assert chosen(("x",), cards["montgomery"]) == (("x",), True)
    assert chosen((NONE,), cards["montgomery"]) == ((), True)
    assert chosen((), cards["demo"]) == ((), False) and chosen((), None) == ((), False)


def test_a_training_image_under_another_name_is_refused_and_named(tmp_path):
    data = disc_folder(tmp_path / "data", n=8)
    ext = disc_folder(tmp_path / "ext", n=5)
    shutil.copy(data / "images" / "p03.png", ext / "images" / "renamed.png")
    shutil.copy(data / "masks" / "p03.png", ext / "masks" / "renamed.png")
    trained = read_pairs(check(data, image_size=32), 32)
    test_set = load(str(ext), 32, 1, asked=True)
    with pytest.raises(
        ConfigError,
        match=r"--test-set ext: 1 of its 6 images are training images \(same pixels at "
        r"32 x 32: renamed = p03\)",
    ):
        refuse_seen(test_set, trained, "training images")
    refuse_seen(test_set, trained.subset(["p00", "p01"]), "training images")  # p03 is not trained on: accepted


def test_a_set_that_fails_its_integrity_check_is_refused_naming_the_option(tmp_path):
    ext = disc_folder(tmp_path / "ext", n=5)
    (ext / "masks" / "p00.png").unlink()
    with pytest.raises(DatasetError, match="--test-set .*ext: .*integrity check"):
        load(str(ext), 32, 1, asked=True)


def test_scores_are_shaped_as_the_in_domain_dice_figures(tmp_path):
    pairs = read_pairs(check(disc_folder(tmp_path / "e", n=3), image_size=32), 32)
    test_set = ExternalSet("ext", tmp_path, pairs, True)
    record = scores(test_set, torch.tensor([0.5, 1.0, 0.75]))
    assert record == {
        "dice": pytest.approx(0.75),
        "dice_std": pytest.approx(torch.tensor([0.5, 1.0, 0.75]).std(unbiased=False).item()),
        "dice_per_image": {"p00": 0.5, "p01": 1.0, "p02": 0.75},
        "n": 3,
        "fingerprint": fingerprint(pairs),
    }
