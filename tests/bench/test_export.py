"""nnU-Net export: nnU-Net's own integrity check passes, and no fold validates on a generated case."""

import json

import numpy as np
from cli_checks import assert_refused, invoke
from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
from PIL import Image
from synthetic_pairs import disc_folder

from bench.export import synthetic_safe_folds


def test_montgomery_plus_generated_pairs_pass_nnunets_integrity_check_and_folds_validate_on_real_only(
    montgomery, tmp_path
):
    synthetic = disc_folder(tmp_path / "expanded", n=20)
    out = tmp_path / "nnUNet_raw"
    res = invoke("export", "nnunet", "--real", montgomery, "--synthetic", synthetic, "--dataset-id", "501",
                 "--name", "Lungs", "--labels", "lung", "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    folder = out / "Dataset501_Lungs"
    dataset = json.loads((folder / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "lung": 1} and dataset["numTraining"] == 138 + 20
    assert dataset["file_ending"] == ".png" and dataset["channel_names"] == {"0": "image"}
    assert len(list((folder / "imagesTr").glob("*_0000.png"))) == len(list((folder / "labelsTr").glob("*.png")))
    assert set(np.unique(np.asarray(Image.open(folder / "labelsTr" / "real_MCUCXR_0001_0.png"))).tolist()) == {0, 1}
    verify_dataset_integrity(str(folder), 1)  # raises on any problem

    splits = json.loads((folder / "splits_final.json").read_text())
    generated = {f"syn_p{i:02d}" for i in range(20)}
    assert len(splits) == 5
    assert all(not generated & set(fold["val"]) for fold in splits)  # never validated on
    assert all(generated <= set(fold["train"]) for fold in splits)  # always trained on
    validated = [case for fold in splits for case in fold["val"]]
    assert len(validated) == len(set(validated)) == 138  # every real case validated exactly once
    assert "splits_final.json" in res.output and "nnUNet_preprocessed" in res.output


def test_label_masks_keep_their_labels_and_need_a_name_each(tmp_path):
    data = disc_folder(tmp_path / "rings", n=10, labels=3)
    out = tmp_path / "raw"
    assert_refused(
        invoke(
            "export", "nnunet", "--real", data, "--dataset-id", "7", "--name", "R", "--labels", "a,b", "--out", out
        ),
        "--labels names 2 label(s), but the masks hold labels 1..3",
    )
    assert not list(out.glob("*"))  # no partial data set left
    res = invoke("export", "nnunet", "--real", data, "--dataset-id", "7", "--name", "R", "--out", out)
    assert res.exit_code == 0, res.output
    folder = out / "Dataset007_R"
    labels = json.loads((folder / "dataset.json").read_text())["labels"]
    assert labels == {"background": 0, "label_1": 1, "label_2": 2, "label_3": 3}
    seen = set().union(*(np.unique(np.asarray(Image.open(p))).tolist() for p in (folder / "labelsTr").glob("*.png")))
    assert seen == {0, 1, 2, 3}
    verify_dataset_integrity(str(folder), 1)


def test_refusals_name_the_problem_and_leave_nothing(discs, broken_pairs, tmp_path):
    out = tmp_path / "raw"
    base = ("export", "nnunet", "--dataset-id", "12", "--name", "Discs", "--out", out)
    broken = invoke(*base, "--real", broken_pairs)  # the integrity check lists every problem, one per line
    assert broken.exit_code == 2 and "3 problem(s) found by the integrity check" in broken.output
    assert "masks/badvalues.png (values 0, 1, 2, 7): labels are not binary" in broken.output
    assert_refused(invoke(*base[:3], "1000", *base[4:], "--real", discs), "--dataset-id must be in 1..999")
    assert_refused(invoke(*base[:5], "a b", *base[6:], "--real", discs), "--name 'a b'")
    assert not out.exists() or not list(out.iterdir())
    assert invoke(*base, "--real", discs).exit_code == 0
    assert_refused(invoke(*base[:5], "Other", *base[6:], "--real", discs), "id 12 is already used by")
    assert_refused(invoke(*base, "--real", discs), "Dataset012_Discs exists")


def test_folds_split_real_cases_evenly_and_deterministically():
    real = [f"real_{i}" for i in range(12)]
    a, b = synthetic_safe_folds(real, ["syn_0"], 5, seed=3), synthetic_safe_folds(real, ["syn_0"], 5, seed=3)
    assert a == b and sorted(len(f["val"]) for f in a) == [2, 2, 2, 3, 3]
    assert synthetic_safe_folds(real, [], 5, seed=4) != synthetic_safe_folds(real, [], 5, seed=3)
