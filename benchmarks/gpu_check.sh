#!/usr/bin/env bash
# The one GPU check (issue 4), in two parts that each fit one 600-s device call.
# Each step has its own time limit, so a slow or failing step leaves the
# others' results.
#
#   OUT=benchmarks/results/gpu bash benchmarks/gpu_check.sh           # speed
#   OUT=benchmarks/results/gpu bash benchmarks/gpu_check.sh accuracy  # ablations
#   OUT=benchmarks/results/gpu bash benchmarks/gpu_check.sh precision # bf16 vs fp32
#
# speed (limits add up to 570 s): the CUDA checks of gpu_smoke.py (including a
# joblib file to load on a CPU-only machine), bench_throughput.py against the
# bare loop, the ResNet+PCA u-net's training again with cudnn.benchmark, in
# float32/TF32 and with torch.compile, and profile_step.py on the paper's u-net.
# accuracy (560 s): bench_accuracy.py --profile gpu, the paper's four variants
# (results are logged one by one, so a time limit leaves those finished), each
# with and without displacement.
# precision (2 x 270 s): the DU variant of the gpu profile, 3 seeds, trained in
# float32 and in bfloat16 autocast side by side (tight average-mAP is the one
# at risk: bf16 logits of neighbouring frames can tie).
# Logs and files go to $OUT: nine files (speed), three (accuracy), six
# (precision).
set -u
OUT=${OUT:-benchmarks/results/gpu}
PART=${1:-speed}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if [ "$PART" = speed ]; then
  {
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    nproc
    "$PY" -c "import torch, sklearn, skorch; print('torch', torch.__version__, 'sklearn', sklearn.__version__, 'skorch', skorch.__version__)"
    timeout "${SMOKE_S:-120}" "$PY" benchmarks/gpu_smoke.py --out "$OUT"
  } > "$OUT/smoke.log" 2>&1
  tail -n 12 "$OUT/smoke.log"
  timeout "${THROUGHPUT_S:-150}" "$PY" benchmarks/bench_throughput.py --device cuda \
    > "$OUT/throughput.log" 2>&1
  cat "$OUT/throughput.log"
  timeout "${CUDNN_S:-45}" "$PY" benchmarks/bench_throughput.py --device cuda \
    --networks unet-resnet-pca --training-only --cudnn-benchmark \
    > "$OUT/throughput_cudnn_benchmark.log" 2>&1
  tail -n 4 "$OUT/throughput_cudnn_benchmark.log"
  # float32 with TF32 convolutions (PyTorch's cuDNN default), as in the 1.62 s
  timeout "${TF32_S:-45}" "$PY" benchmarks/bench_throughput.py --device cuda \
    --networks unet-resnet-pca --training-only --no-bf16 \
    > "$OUT/throughput_tf32.log" 2>&1
  tail -n 4 "$OUT/throughput_tf32.log"
  timeout "${COMPILE_S:-150}" "$PY" benchmarks/bench_throughput.py --device cuda \
    --networks unet-resnet-pca --training-only --compile \
    > "$OUT/throughput_compile.log" 2>&1
  tail -n 8 "$OUT/throughput_compile.log"
  timeout "${PROFILE_S:-60}" "$PY" benchmarks/profile_step.py --device cuda --paper \
    > "$OUT/profile.log" 2>&1
  head -n 25 "$OUT/profile.log"
elif [ "$PART" = accuracy ]; then
  timeout "${ACCURACY_S:-560}" "$PY" benchmarks/bench_accuracy.py --profile gpu \
    --device cuda --seeds 3 --jobs 3 --out "$OUT" > "$OUT/accuracy.log" 2>&1
  tail -n 30 "$OUT/accuracy.log"
elif [ "$PART" = precision ]; then
  for precision in float32 bfloat16; do
    timeout "${PRECISION_S:-270}" "$PY" benchmarks/bench_accuracy.py --profile gpu \
      --device cuda --variants DU --no-baseline --precision "$precision" \
      --seeds 3 --jobs 3 --out "$OUT" > "$OUT/accuracy_$precision.log" 2>&1
    tail -n 6 "$OUT/accuracy_$precision.log"
  done
else
  echo "usage: gpu_check.sh [speed|accuracy|precision]" >&2
  exit 2
fi
