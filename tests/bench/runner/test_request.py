"""The device check that needs no torch."""

import pytest

from bench.config import ConfigError
from bench.runner import request


def test_cuda_on_a_linux_machine_without_a_gpu_driver_is_refused_without_torch(monkeypatch):
    monkeypatch.setattr(request, "gpu_driver_found", lambda: False)
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=f"--device {name}: CUDA is not available on this machine"):
            request.check_device_name(name)
    request.check_device_name("cpu")
    request.check_device_name(None)


def test_with_a_driver_torch_decides(monkeypatch):
    monkeypatch.setattr(request, "gpu_driver_found", lambda: True)
    request.check_device_name("cuda:0")
    with pytest.raises(ConfigError, match="only cpu, cuda and cuda:N"):
        request.check_device_name("mps")


def test_a_driver_is_any_of_the_files_linux_shows_one_by(monkeypatch, tmp_path):
    monkeypatch.setattr(request.sys, "platform", "linux")
    monkeypatch.setattr(request, "DRIVER_FILES", (str(tmp_path / "nvidia"), str(tmp_path / "dxg")))
    assert request.gpu_driver_found() is False
    (tmp_path / "dxg").touch()
    assert request.gpu_driver_found() is True
    monkeypatch.setattr(request.sys, "platform", "darwin")
    (tmp_path / "dxg").unlink()
    assert request.gpu_driver_found() is True
