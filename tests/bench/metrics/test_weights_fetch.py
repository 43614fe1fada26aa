"""``bench weights fetch``: the download lands in the torch hub cache only when its hash matches, and with it IS is
reported. Served from ``file://`` URLs, since nothing here reaches the internet."""

import hashlib
import json

import numpy as np
import pytest
import torch
from cli_checks import assert_refused, invoke
from PIL import Image

from bench.metrics import inception as inc


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def _named_by_hash(monkeypatch, source):
    """Make the expected cache file name carry ``source``'s SHA-256 prefix, as the official file's name does."""
    prefix = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    name = f"pt_inception-2015-12-05-{prefix}.pth"
    monkeypatch.setattr(inc, "hub_cache_file", lambda: inc.Path(torch.hub.get_dir()) / "checkpoints" / name)
    return name


def test_the_default_destination_is_pytorch_fids_own_file(hub):
    assert inc.hub_cache_file() == hub / "pt_inception-2015-12-05-6726825d.pth"


def test_a_file_whose_hash_does_not_match_its_name_is_refused_and_not_kept(hub, tmp_path):
    wrong = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    wrong.write_bytes(b"not the weights")
    res = invoke("weights", "fetch", "--url", wrong.as_uri())
    assert_refused(res, "--url", "invalid hash value", "nothing was written")
    assert not hub.exists() or not any(hub.iterdir())


def test_an_unreadable_url_names_it(hub, tmp_path):
    res = invoke("weights", "fetch", "--url", (tmp_path / "absent.pth").as_uri())
    assert_refused(res, "--url", "cannot download")


def test_fetched_weights_are_found_by_the_metrics_and_give_is(hub, monkeypatch, tmp_path, weights_with_head):
    name = _named_by_hash(monkeypatch, weights_with_head)
    assert not inc.load_inception(None, "cpu").weights.has_classifier  # built before the fetch, not reused after it
    res = invoke("weights", "fetch", "--url", weights_with_head.as_uri())
    assert res.exit_code == 0, res.output
    assert f"downloaded: {hub / name}" in res.output and "IS is available" in res.output
    assert (hub / name).read_bytes() == weights_with_head.read_bytes()
    again = invoke("weights", "fetch", "--url", weights_with_head.as_uri())
    assert again.exit_code == 0 and "already there" in again.output

    rng = np.random.default_rng(0)
    for folder in ("real", "generated"):
        (tmp_path / folder).mkdir()
        for i in range(6):
            pixels = rng.integers(0, 256, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / f"{i}.png")
    res = invoke(
        "metrics",
        "--real",
        tmp_path / "real",
        "--generated",
        tmp_path / "generated",
        "--image-size",
        "32",
        "--json",
        "--device",
        "cpu",
    )
    assert res.exit_code == 0, res.output
    figures = json.loads(res.output[res.output.index("{") :])
    assert figures["is"] is not None and figures["is"] >= 1.0 and "is" not in figures["unavailable"]
