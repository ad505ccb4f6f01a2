#!/bin/bash
# The browser tests, RUNS times in a row (default 10), while two busy loops keep both cores busy: they wait on
# what the page shows, never on a fixed sleep, so they must pass on a loaded machine. Logs in bench/.work/.
#     bash bench/browser_under_load.sh [RUNS]
cd "$(dirname "$0")/.." || exit 1
RUNS=${1:-10}
LOG=bench/.work/browser_under_load.log
mkdir -p bench/.work && : > "$LOG"
python3 -c "while True: pass" & B1=$!
python3 -c "while True: pass" & B2=$!
ok=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  if HF_HUB_OFFLINE=1 timeout 900 .venv/bin/python -m pytest -q -n 0 tests/test_browser.py > "bench/.work/browser_run_$i.log" 2>&1; then ok=$((ok+1)); r=pass; else r=FAIL; fi
  echo "run $i: $r in $(( $(date +%s) - start )) s" >> "$LOG"
done
kill $B1 $B2
echo "passed $ok of $RUNS" >> "$LOG"
[ "$ok" -eq "$RUNS" ]
