#!/usr/bin/env bash
# The GPU checks of issue 11 in one script: on a machine with one GPU and 16 cores, at most
# 9 minutes (GMCNN_GPU_SECONDS, default 540) from start to summary.
#
#   bash benchmarks/gpu.sh                     # results in $OUT, else runs/gpu-<date>
#   GMCNN_GPU_SCRIPT_CPU=1 bash benchmarks/gpu.sh   # every stage tiny, on the CPU (a check)
#
# Stages (each under `timeout`, so the whole fits; a stage that fails or times out is
# recorded and the next one runs):
#   env      0:00  python, torch, CUDA device, packages                         ≤ 20 s
#   data     0:00  gmcnn data prepare plumes-rotation --workers 14, in the background on
#                  the CPU (JAX_PLATFORMS=cpu), while the GPU stages run          ≤ 240 s
#   tests    0:00  the layer and model tests on CUDA (tests/nn/test_devices.py:
#                  every layer and path, and the paper models, against the CPU)  ≤ 90 s
#   bench    1:30  benchmarks/run.py --device cuda --budget 0.5 --no-memory, one
#                  configuration at a time (a partial table if time runs out)   ≤ 120 s
#   train    ~4:00 plumes-rotation/gm and plumes-rotation/rsteer at the full paper
#                  protocol, side by side on the GPU, each with --budget = the time left
#                  less 75 s for start-up and evaluation                      until 8:50
#
# Results, in one folder: summary.txt (stage, status, seconds), env.txt, one log per stage,
# bench.md (the layer table), runs/gm and runs/rsteer (config, metrics.csv, summary.json,
# checkpoints). The plume data goes to $GMCNN_DATA (default ~/.cache/gmcnn; 350 MB).
#
# Python: $PYTHON, else .venv/bin/python, else python3; the package is read from src/
# (PYTHONPATH), so nothing needs installing. Packages the GPU image may lack (phiflow, phiml,
# e2cnn; pure Python) are installed from wheels in .whl/ if that folder exists:
#   pip download --no-deps phiflow==3.4.0 phiml==1.16.1 e2cnn==0.2.3 -d .whl
set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO=$PWD
CPU_MODE=${GMCNN_GPU_SCRIPT_CPU:-0}
TOTAL=${GMCNN_GPU_SECONDS:-540}
START=$(date +%s)
OUT=${OUT:-$REPO/runs/gpu-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/runs" || exit 1
OUT=$(cd "$OUT" && pwd)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x "$REPO/.venv/bin/python" ]; then
  PY=$REPO/.venv/bin/python
else
  PY=python3
fi
if compgen -G "$REPO/.whl/*.whl" >/dev/null; then # packages carried as wheels
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gmcnn-site "$REPO"/.whl/*.whl && export PYTHONPATH=/tmp/gmcnn-site
fi
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export GMCNN_RUNS=$OUT/runs

if [ "$CPU_MODE" = 1 ]; then
  DEVICE=cpu
  export GMCNN_DATA=${GMCNN_DATA:-$OUT/data}
  WORKERS=2
  THREADS=1
  PREPARE=(--resolution 32 --steps 40 --simulations 2)
  BENCH_BUDGET=0.05
  TIMES='data.options={times: {train: [0, 4], valid: [4, 6], test-future: [6, 8], test-domain: [0, 4]}}'
  TINY=("$TIMES" data.batch_size=4 data.eval_batch_size=8 trainer.max_epochs=1
    evaluation.equivariance_examples=2 evaluation.equivariance_elements=2)
  GM_TINY=('model.groups=[C32,C32]' model.hidden_channels=8)
  RSTEER_TINY=(model.hidden_fields=2)
  OVERHEAD=45
else
  DEVICE=cuda
  WORKERS=14 # two cores stay free for the GPU stages that run meanwhile
  THREADS=8  # two trainings share 16 cores
  PREPARE=()
  BENCH_BUDGET=0.5
  TINY=()
  GM_TINY=()
  RSTEER_TINY=()
  OVERHEAD=75
fi

left() { echo $((START + TOTAL - $(date +%s))); }

record() { # record NAME EXIT-STATUS SECONDS LIMIT
  local status
  case $2 in
  0) status=ok ;;
  124 | 137) status="timed out after $4 s" ;;
  *) status="failed (exit $2)" ;;
  esac
  printf '%-8s %-26s %5s s\n' "$1" "$status" "$3" >>"$SUMMARY"
}

stage() { # stage NAME LIMIT COMMAND...: run under timeout, log to NAME.log, record status
  local name=$1 limit=$2 t0 rc
  shift 2
  if ((limit > $(left) - 5)); then limit=$(($(left) - 5)); fi
  if ((limit < 5)); then
    printf '%-8s %-26s\n' "$name" "skipped (no time left)" >>"$SUMMARY"
    return 0
  fi
  t0=$(date +%s)
  timeout --signal=INT --kill-after=15 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  record "$name" "$rc" $(($(date +%s) - t0)) "$limit"
}

# --- env ----------------------------------------------------------------------------------
stage env 20 "$PY" - "$DEVICE" <<'EOF'
import importlib.util, os, platform, sys
import torch
device = sys.argv[1]
print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(), torch.cuda.device_count(), "device(s)")
print("cpus", os.cpu_count(), "machine", platform.machine())
for name in ("lightning", "phi", "phiml", "jax", "e2cnn", "pytest", "hypothesis"):
    print("package", name, "yes" if importlib.util.find_spec(name) else "MISSING")
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("no CUDA device: the GPU stages cannot run")
EOF
cp "$OUT/env.log" "$OUT/env.txt"
command -v nvidia-smi >/dev/null && nvidia-smi >>"$OUT/env.txt" 2>&1

# --- data, in the background on the CPU ------------------------------------------------------
DATA_START=$(date +%s)
(
  export JAX_PLATFORMS=cpu XLA_PYTHON_CLIENT_PREALLOCATE=false
  timeout --signal=INT --kill-after=15 240 \
    "$PY" -m gmcnn data prepare plumes-rotation --workers "$WORKERS" --quiet "${PREPARE[@]}" \
    >"$OUT/data.log" 2>&1
  echo $? >"$OUT/data.status"
) &
DATA_PID=$!

# --- tests on the device ---------------------------------------------------------------------
stage tests 90 env GMCNN_TEST_DEVICE="$DEVICE" OMP_NUM_THREADS=2 \
  "$PY" -m pytest -q -p no:cacheprovider tests/nn/test_devices.py

# --- layer benchmark, one configuration at a time ---------------------------------------------
bench_all() {
  local case
  "$PY" -c 'import sys; sys.path.insert(0, "benchmarks"); from cases import CASES
print("\n".join(c.name for c in CASES))' >"$OUT/bench-cases.txt" || return 1
  if [ "$CPU_MODE" = 1 ]; then grep -F 'S5×C8 r1 shared' "$OUT/bench-cases.txt" >"$OUT/bench-only.txt"; else cp "$OUT/bench-cases.txt" "$OUT/bench-only.txt"; fi
  while IFS= read -r case; do
    OMP_NUM_THREADS=2 "$PY" benchmarks/run.py --device "$DEVICE" --budget "$BENCH_BUDGET" \
      --no-memory --only "$case" >>"$OUT/bench.md" || return 1
  done <"$OUT/bench-only.txt"
}
export -f bench_all
export PY DEVICE BENCH_BUDGET OUT CPU_MODE
: >"$OUT/bench.md"
stage bench 120 bash -c bench_all

# --- wait for the data ------------------------------------------------------------------------
wait "$DATA_PID"
record data "$(cat "$OUT/data.status" 2>/dev/null || echo 1)" $(($(date +%s) - DATA_START)) 240

# --- the paper models at the full protocol, side by side ----------------------------------------
TRAIN_LIMIT=$(($(left) - 10))
BUDGET=$((TRAIN_LIMIT - OVERHEAD))
if ((BUDGET < 10)); then
  printf '%-8s %-26s\n' train "skipped (no time left)" >>"$SUMMARY"
elif [ "$(cat "$OUT/data.status" 2>/dev/null)" != 0 ]; then
  printf '%-8s %-26s\n' train "skipped (no data)" >>"$SUMMARY"
else
  train_one() { # train_one NAME EXPERIMENT OVERRIDES...
    local name=$1 experiment=$2 t0 rc
    shift 2
    t0=$(date +%s)
    OMP_NUM_THREADS=$THREADS timeout --signal=INT --kill-after=15 "$TRAIN_LIMIT" \
      "$PY" -m gmcnn train "$experiment" --budget "${BUDGET}s" --run-dir "$OUT/runs/$name" \
      trainer.progress_bar=false "${TINY[@]}" "$@" >"$OUT/train-$name.log" 2>&1
    rc=$?
    record "$name" "$rc" $(($(date +%s) - t0)) "$TRAIN_LIMIT"
  }
  train_one gm plumes-rotation/gm "${GM_TINY[@]}" &
  GM_PID=$!
  train_one rsteer plumes-rotation/rsteer "${RSTEER_TINY[@]}" &
  RSTEER_PID=$!
  wait "$GM_PID" "$RSTEER_PID"
fi

printf 'total    %s s of %s s; results in %s\n' $(($(date +%s) - START)) "$TOTAL" "$OUT" >>"$SUMMARY"
cat "$SUMMARY"
