#!/usr/bin/env bash
# The runs of reports/montgomery-gpu on one GPU: the three seeds' queues in parallel (each its own process and
# output folder), the most wanted runs first; whatever is unfinished at the deadline is stopped, and every finished
# run and cached stage (network weights left out) is packed into RESULTS/runs.tar.gz.
#
#   bash reports/montgomery-gpu/run_device.sh BUNDLE RESULTS [DEADLINE_SECONDS]
#
# BUNDLE is what prepare_device.sh packed. PRESET (gpu) and DEVICE (cuda) may be set in the environment
# (PRESET=smoke DEVICE=cpu tries the script out).
set -u
BUNDLE=$(realpath "${1:?the folder prepare_device.sh wrote}")
RESULTS=${2:?a folder for the results}
DEADLINE=${3:-420}
PRESET=${PRESET:-gpu}
DEVICE=${DEVICE:-cuda}
WORK=$(mktemp -d)
RUNS=$WORK/runs
mkdir -p "$RESULTS" "$RUNS"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$WORK/site" "$BUNDLE"/whl/*.whl || exit 1
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$BUNDLE/inception_fp16.pt.xz" "$WORK/inception_fp16.pt" || exit 1  # no xz binary needed there
export PYTHONPATH=$WORK/site:$(pwd) OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export DATA=$BUNDLE/montgomery_lung WEIGHTS=$WORK/inception_fp16.pt PRESET DEVICE RUNS

python3 -c "import bench.cli, methods.diffuseexpand.method, methods.joint.method, torch, diffusers, monai
print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'monai', monai.__version__,
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" || exit 1

queue() {  # one seed's runs
    local seed=$1
    local run="python3 -m bench run --dataset $DATA --preset $PRESET --seeds $seed --device $DEVICE --no-wandb"
    run="$run --inception-weights $WEIGHTS --out $RUNS/seed$seed"
    for method in diffuseexpand xlsor joint; do
        for augment in xlsor none; do
            $run --train-ratio 0.1 --augment $augment --method $method || return
        done
    done
    for augment in xlsor none; do
        $run --train-ratio 0.3 --augment $augment --method diffuseexpand || return
    done
}

start=$(date +%s)
for seed in 0 1 2; do
    timeout --signal=INT --kill-after=20 "$DEADLINE" bash -c "$(declare -f queue); queue $seed" \
        >"$RUNS/seed$seed.log" 2>&1 &
done
while sleep 30; do  # the GPU's load while the queues run
    jobs -r | grep -q . || break
    echo "$(($(date +%s) - start)) s: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null)"
done
wait
echo "queues ended after $(($(date +%s) - start)) s"
tail -n 3 "$RUNS"/seed*.log
tar -czf "$RESULTS/runs.tar.gz" -C "$WORK" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.bin' \
    --exclude='checkpoint*' runs
ls -la "$RESULTS"
