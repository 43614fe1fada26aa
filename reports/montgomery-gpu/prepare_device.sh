#!/usr/bin/env bash
# Packs into BUNDLE what run_device.sh needs on an offline GPU machine whose Python already has PyTorch,
# torchvision, timm, accelerate, typer and rich: the Montgomery pair set, the wheels of the other dependencies
# (Python 3.12, x86-64) and the FID Inception weights in float16, xz-compressed (39 MB instead of 84; on one of the
# cpu preset's sample sets the FID from them was 304.39 against 304.32 from the float32 weights).
#
#   bash reports/montgomery-gpu/prepare_device.sh MONTGOMERY_FOLDER BUNDLE
#
# Run it where the package is installed (the weights are read as `bench` finds them) and pip can reach an index.
set -eu
DATA=${1:?a Montgomery folder}
BUNDLE=${2:?a folder for the bundle}
mkdir -p "$BUNDLE/whl"
cp -r "$DATA" "$BUNDLE/montgomery_lung" && chmod -R u+w "$BUNDLE/montgomery_lung"
for wheel in diffusers==0.42.1 monai==1.6.1 segmentation-models-pytorch==0.6.0 pytorch-fid==0.3.0; do
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$BUNDLE/whl" "$wheel"
done
python - "$BUNDLE/inception_fp16.pt" <<'PY'
import sys

import torch

from bench.metrics.inception import resolve_weights

state = resolve_weights(None).state_dict
torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, sys.argv[1])
PY
xz -T0 -f "$BUNDLE/inception_fp16.pt"
du -sh "$BUNDLE"
