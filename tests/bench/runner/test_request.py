"""The device check that needs no torch; a checked request planned only as it was when checked."""

import pytest

from bench.config import ConfigError
from bench.runner import request
from bench.runner.planning import plan


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


def test_a_request_changed_after_its_checks_is_planned_as_it_is_now():
    req = request.Request(method="synthmed", preset="smoke")
    checked = request.checked_request(req)
    assert checked.resolved is not None and plan(req, checked).n_synthetic == checked.resolved[2]
    req.n_synthetic = 77
    assert plan(req, checked).n_synthetic == plan(req).n_synthetic == 77
    req.method_options["bogus"] = 1
    with pytest.raises(ConfigError, match="bogus"):
        plan(req, checked)
    assert checked.request.n_synthetic is None and checked.request.method_options == {}
    del req.method_options["bogus"]
    resolved = request.resolved_request(req)
    req.seeds = (3,)
    assert resolved.request.seeds == (0,) and resolved.request != req
