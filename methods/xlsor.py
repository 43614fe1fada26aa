"""XLSor-style expansion (Tang et al. 2019, "XLSor: a robust and accurate lung segmentor on chest X-rays using
criss-cross attention and customized radiorealistic abnormalities generation", MIDL, arXiv 1904.09229).

Each synthetic pair is a real training pair, transformed:

1. **geometry** (image and mask alike): one MONAI ``Rand2DElastic`` grid, an affine (rotation, isotropic scale,
   translation, shear) composed with an elastic displacement; the image is resampled bilinearly, the mask with
   nearest neighbours so that its labels stay labels. Outside the image both are padded with zeros.
2. **radiorealistic abnormalities** (image only, :func:`simulate_opacities`): smooth, textured opacities inside
   the foreground (the lungs), which make part of the region look like the tissue around it, as a
   consolidation or an effusion does, while the mask still labels it foreground.
3. **intensity** (image only): gamma (MONAI ``AdjustContrast``), contrast and brightness (``ScaleIntensity``,
   ``ShiftIntensity``) and Gaussian noise (``RandGaussianNoise``); then clipped to [0, 1].

Every pair has its own seed; its parameters are drawn from it alone and recorded in its
:class:`~methods.base.PairRecord` ``info`` (and ``records.csv``), so any pair can be regenerated on its own.

Notes:
    XLSor generates its abnormal chest X-rays with an image-to-image translation network (MUNIT) trained on
    normal and abnormal radiographs; nothing here is trained. The opacities are a hand-made stand-in that needs
    no abnormal images: they place what MUNIT learned to place (consolidation-like brightening inside the lung
    field, label unchanged) and test the same hypothesis, that a segmentor which has seen opaque lungs labelled
    as lung segments them better.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from monai.transforms import (
    AdjustContrast,
    GaussianSmooth,
    Rand2DElastic,
    RandGaussianNoise,
    ScaleIntensity,
    ShiftIntensity,
)
from monai.utils import convert_to_tensor

from bench.config import ConfigError
from bench.data import PairSet, fingerprint, load_pairs, save_pairs
from bench.files import write_json
from methods.base import (
    Expansion,
    ExpansionMethod,
    MethodContext,
    PairRecord,
    options_dict,
    pair_seeds,
    register_method,
    synthetic_ids,
    write_records,
)
from methods.gallery import save_gallery
from methods.stages import cached_stage, stage_seed


@dataclass(frozen=True)
class XLSorOptions:
    """Knobs of the XLSor-style expansion; sizes are fractions of the image side, so one default fits every size.

    Each pair draws every parameter uniformly from the range a knob gives (0 turns that transform off).

    Geometry (image and mask):
        rotate_degrees: rotation in [-x, x] degrees (10).
        scale: magnification of the content in [1 - x, 1 + x] (0.1).
        translate: shift of the content per axis in [-x, x] of the image side (0.05).
        shear: shear factor per axis in [-x, x] (0.05).
        elastic_magnitude: elastic displacement of the control points, standard deviation drawn from [0, x] of
            the image side (0.01).
        elastic_spacing: control-point spacing of the elastic grid, fraction of the image side (0.125).
    Abnormalities (image only, ``full`` variant):
        abnormality_prob: probability that a pair gets opacities (0.5).
        max_opacities: opacities per abnormal pair, drawn from 1 .. x (3).
        opacity_radius: radius of an opacity in [x / 2, x] of the image side, per axis (0.12).
        opacity_strength: peak blend towards the surrounding tissue in [x / 2, x] (0.7).
        opacity_texture: depth of the smooth noise texture that modulates an opacity, 0 (flat) .. 1 (0.5).
        opacity_quantile: the tissue an opacity looks like: this quantile of the image's intensities outside the
            foreground (0.75: soft tissue and bone of a chest X-ray, brighter than the air-filled lung).
    Intensity (image only, ``full`` variant):
        gamma: gamma in [1 - x, 1 + x] (0.3).
        contrast: intensity scale in [1 - x, 1 + x] (0.1).
        brightness: intensity shift in [-x, x] (0.05).
        noise_std: Gaussian noise, standard deviation drawn from [0, x] (0.02).
    """

    rotate_degrees: float = 10.0
    scale: float = 0.1
    translate: float = 0.05
    shear: float = 0.05
    elastic_magnitude: float = 0.01
    elastic_spacing: float = 0.125
    abnormality_prob: float = 0.5
    max_opacities: int = 3
    opacity_radius: float = 0.12
    opacity_strength: float = 0.7
    opacity_texture: float = 0.5
    opacity_quantile: float = 0.75
    gamma: float = 0.3
    contrast: float = 0.1
    brightness: float = 0.05
    noise_std: float = 0.02

    def __post_init__(self) -> None:
        problems = []
        for name in ("rotate_degrees", "translate", "shear", "elastic_magnitude", "brightness", "noise_std"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("scale", "gamma", "contrast"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("abnormality_prob", "opacity_strength", "opacity_texture", "opacity_quantile"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.elastic_spacing <= 1:
            problems.append(f"elastic_spacing must be in (0, 1], got {self.elastic_spacing}")
        if not 0 < self.opacity_radius <= 1:
            problems.append(f"opacity_radius must be in (0, 1], got {self.opacity_radius}")
        if self.max_opacities < 1:
            problems.append(f"max_opacities must be >= 1, got {self.max_opacities}")
        if problems:
            raise ConfigError("xlsor options: " + "; ".join(problems))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def warp_pair(
    image: torch.Tensor, mask: torch.Tensor, o: XLSorOptions, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Apply one random affine + elastic warp to an image and its mask alike.

    Args:
        image: float ``C x H x W`` in [0, 1].
        mask: int64 ``H x W`` labels.
        o: the geometry knobs.
        rng: the pair's generator; every parameter and the elastic field's seed come from it.

    Returns:
        The warped image (bilinear, float ``C x H x W``), the warped mask (nearest, int64 ``H x W``, labels
        unchanged) and the drawn parameters: ``rotate`` (degrees), ``zoom`` (magnification of the content),
        ``shift_y`` / ``shift_x`` (displacement of the content, fraction of the side), ``shear_y`` / ``shear_x``
        (MONAI's shear factors of the sampling grid) and ``elastic`` (displacement std, fraction of the side).
    """
    size = image.shape[-1]
    p = {
        "rotate": float(rng.uniform(-o.rotate_degrees, o.rotate_degrees)),
        "zoom": float(rng.uniform(1 - o.scale, 1 + o.scale)),
        "shift_y": float(rng.uniform(-o.translate, o.translate)),
        "shift_x": float(rng.uniform(-o.translate, o.translate)),
        "shear_y": float(rng.uniform(-o.shear, o.shear)),
        "shear_x": float(rng.uniform(-o.shear, o.shear)),
        "elastic": float(rng.uniform(0, o.elastic_magnitude)),
    }
    elastic_seed = _seed(rng)

    def fixed(*values: float) -> tuple[tuple[float, float], ...]:  # a MONAI range that can only draw `values`
        return tuple((v, v) for v in values)

    warp = Rand2DElastic(
        spacing=max(1.0, o.elastic_spacing * size),
        magnitude_range=(p["elastic"] * size, p["elastic"] * size),
        prob=1.0,
        rotate_range=fixed(math.radians(p["rotate"])),
        shear_range=fixed(p["shear_y"], p["shear_x"]),
        # MONAI's grid maps output to input pixels: the inverse of the content's shift and zoom
        translate_range=fixed(-p["shift_y"] * size, -p["shift_x"] * size),
        scale_range=fixed(1 / p["zoom"] - 1, 1 / p["zoom"] - 1),
        padding_mode="zeros",
    ).set_random_state(elastic_seed)
    warped = warp(image.float(), mode="bilinear")
    warped_mask = warp(mask[None].float(), mode="nearest", randomize=False)
    image_out = convert_to_tensor(warped, track_meta=False).float()
    mask_out = convert_to_tensor(warped_mask, track_meta=False)[0].round().long()
    return image_out, mask_out, p


def simulate_opacities(
    image: torch.Tensor, mask: torch.Tensor, o: XLSorOptions, rng: np.random.Generator
) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Add 1 .. ``o.max_opacities`` smooth, textured opacities inside the foreground of ``mask``; the mask stays.

    Each opacity is an elliptical Gaussian profile centred on a random foreground pixel, its radii drawn per axis,
    modulated by smoothed Gaussian noise (the texture), scaled by its strength α and cut to the foreground. The
    image is blended towards the surrounding tissue t (``o.opacity_quantile`` of the intensities outside the
    foreground, per channel): x' = x + O · (t − x), with O the pixelwise maximum over the opacities.

    Args:
        image: float ``C x H x W`` in [0, 1].
        mask: int64 ``H x W``; every label > 0 is foreground. Not modified.
        o: the opacity knobs.
        rng: the pair's generator.

    Returns:
        The image (float ``C x H x W``, unchanged outside the foreground) and one parameter dict per opacity
        (centre and radii as fractions of the side, strength); no opacities when the mask is empty.
    """
    foreground = mask > 0
    inside = foreground.nonzero()
    if len(inside) == 0:
        return image, []
    size = image.shape[-1]
    outside = image[:, ~foreground]
    pool = outside if outside.shape[1] else image.flatten(1)
    target = torch.quantile(pool.float(), o.opacity_quantile, dim=1)[:, None, None]
    yy, xx = torch.meshgrid(torch.arange(image.shape[-2]), torch.arange(size), indexing="ij")
    opacity = torch.zeros(image.shape[-2:])
    params = []
    for _ in range(int(rng.integers(1, o.max_opacities + 1))):
        cy, cx = inside[int(rng.integers(len(inside)))].tolist()
        ry, rx = (float(rng.uniform(o.opacity_radius / 2, o.opacity_radius)) * size for _ in range(2))
        alpha = float(rng.uniform(o.opacity_strength / 2, o.opacity_strength))
        profile = torch.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) / 2)
        noise = torch.from_numpy(rng.standard_normal((1, *image.shape[-2:])).astype(np.float32))
        texture = convert_to_tensor(GaussianSmooth(sigma=max(1.0, min(ry, rx) / 3))(noise), track_meta=False)[0]
        texture = (texture - texture.min()) / (texture.max() - texture.min()).clamp_min(1e-6)
        opacity = torch.maximum(opacity, alpha * profile * (1 - o.opacity_texture + o.opacity_texture * texture))
        params.append({"cy": cy / size, "cx": cx / size, "ry": ry / size, "rx": rx / size, "strength": alpha})
    opacity = opacity * foreground
    return image + opacity * (target - image), params


def adjust_intensity(image: torch.Tensor, o: XLSorOptions, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
    """Gamma, contrast, brightness and Gaussian noise (MONAI transforms), then clip to [0, 1].

    Args:
        image: float ``C x H x W`` in [0, 1].

    Returns:
        The image (float ``C x H x W`` in [0, 1]) and the drawn ``gamma``, ``contrast``, ``brightness``,
        ``noise_std``.
    """
    p = {
        "gamma": float(rng.uniform(1 - o.gamma, 1 + o.gamma)),
        "contrast": float(rng.uniform(1 - o.contrast, 1 + o.contrast)),
        "brightness": float(rng.uniform(-o.brightness, o.brightness)),
        "noise_std": float(rng.uniform(0, o.noise_std)),
    }
    x = AdjustContrast(p["gamma"])(image)
    x = ShiftIntensity(p["brightness"])(ScaleIntensity(minv=None, maxv=None, factor=p["contrast"] - 1)(x))
    noise = RandGaussianNoise(prob=1.0, std=p["noise_std"], sample_std=False).set_random_state(_seed(rng))
    return convert_to_tensor(noise(x), track_meta=False).float().clamp(0, 1), p


def transform_pair(
    image: torch.Tensor, mask: torch.Tensor, o: XLSorOptions, seed: int, abnormal: bool = True
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """One synthetic pair from one real pair: warp both, then (``abnormal``) opacities and intensity on the image.

    Args:
        image: float ``C x H x W`` in [0, 1].
        mask: int64 ``H x W`` labels.
        o: the options.
        seed: the pair's seed; the same seed gives the same pair.
        abnormal: False for the ``geometric`` variant (warp only).

    Returns:
        image float ``C x H x W`` in [0, 1], mask int64 ``H x W`` (the source's labels), and the drawn
        parameters (``opacities``: their count, ``opacity_params``: JSON list of centre, radii, strength).
    """
    rng = np.random.default_rng(seed)
    image, mask, params = warp_pair(image, mask, o, rng)
    if abnormal:
        spots: list[dict[str, float]] = []
        if rng.uniform() < o.abnormality_prob:
            image, spots = simulate_opacities(image, mask, o, rng)
        params["opacities"] = len(spots)
        params["opacity_params"] = json.dumps([{k: round(v, 4) for k, v in s.items()} for s in spots])
        image, intensity = adjust_intensity(image, o, rng)
        params.update(intensity)
    params = {k: round(v, 6) if isinstance(v, float) else v for k, v in params.items()}
    return image.clamp(0, 1), mask, params


@register_method("xlsor")
class XLSor(ExpansionMethod):
    """XLSor-style expansion (Tang et al. 2019): real pairs warped jointly, with simulated opacities in the image.

    Variants: ``full`` (geometry + abnormalities + intensity) and ``geometric`` (the joint warps alone: isolates
    what the abnormality simulation contributes).

    After :meth:`expand`, ``self.stats`` holds ``{"variant", "seconds": {"samples"}, "counts", "cached",
    "abnormal_fraction"}``.
    """

    Options = XLSorOptions
    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, variant: str | None = None, options: XLSorOptions | None = None) -> None:
        super().__init__(variant, options)
        self._train: PairSet | None = None

    def fit(self, train: PairSet, ctx: MethodContext) -> None:
        """Keep the real training pairs; nothing is trained.

        Raises:
            ValueError: for an empty set.
        """
        if len(train) == 0:
            raise ValueError(f"{train.name}: no training pairs")
        self._train = train

    def expand(self, n: int, ctx: MethodContext) -> Expansion:
        """Transform ``n`` pairs, cycling over the training pairs in order (pair i comes from pair i mod N).

        Writes the cached stage ``samples/<hash>/``: the pairs (``images/``, ``masks/``), ``records.csv`` and
        ``records.json`` (seed, source id and drawn parameters of each pair) and ``gallery.png``.

        Returns:
            Expansion of ``n`` pairs (ids ``syn_00000`` ...; images float in [0, 1] quantised to 8 bits as
            stored, masks int64 with the training labels), every record ``kept``.

        Raises:
            RuntimeError: before :meth:`fit`. ValueError: for ``n < 1``.
        """
        if self._train is None:
            raise RuntimeError("XLSor.expand called before fit")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        train, o = self._train, self.options
        channels, size = int(train.images.shape[1]), int(train.images.shape[-1])

        def generate(folder):
            start = time.perf_counter()
            seeds = pair_seeds(stage_seed(ctx.seed, "samples"), n)
            ids = synthetic_ids(n)
            images, masks, records = [], [], []
            for i, (key, seed) in enumerate(zip(ids, seeds)):
                j = i % len(train)
                image, mask, params = transform_pair(
                    train.images[j], train.masks[j], o, seed, abnormal=self.variant == "full"
                )
                images.append(image)
                masks.append(mask)
                records.append(PairRecord(key, seed, "kept", {"source": train.ids[j], **params}))
            # 8-bit images, as stored, so that fresh and cached expansions are identical
            pairs = PairSet(ids, (torch.stack(images) * 255).round() / 255, torch.stack(masks), "xlsor", True)
            save_pairs(pairs, folder)
            write_records(records, folder / "records.csv")
            write_json(folder / "records.json", [dataclasses.asdict(r) for r in records], sort_keys=False)
            save_gallery(folder / "gallery.png", pairs.images, (pairs.masks > 0).long())
            return {"seconds": time.perf_counter() - start, "n": n}

        data = {"fingerprint": fingerprint(train), "pairs": len(train), "size": size, "channels": channels}
        key = {"role": "samples", "version": self.version, "variant": self.variant, "data": data}
        stage = cached_stage(ctx, {**key, "options": options_dict(o), "n": n, "seed": ctx.seed}, generate)
        pairs = load_pairs(stage.folder, size, channels, name="xlsor", synthetic=True)
        records = [PairRecord(**r) for r in json.loads((stage.folder / "records.json").read_text())]
        expansion = Expansion(pairs, records)
        self.stats = {
            "variant": self.variant,
            "seconds": {"samples": stage.done["seconds"]},
            "counts": expansion.counts(),
            "cached": ["samples"] if stage.reused else [],
            "abnormal_fraction": sum(r.info.get("opacities", 0) > 0 for r in records) / n,
        }
        return expansion
