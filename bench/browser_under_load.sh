#!/bin/bash
# The browser tests, RUNS times in a row (default 10), while BUSY busy loops (default 2) keep both cores busy:
# they wait on what the page shows, never on a fixed sleep, so they must pass on a loaded machine. BUSY=0 when
# other work (a benchmark) already holds the cores; each run logs the load average it began with. Logs in
# bench/.work/.
#     [BUSY=N] bash bench/browser_under_load.sh [RUNS]
cd "$(dirname "$0")/.." || exit 1
RUNS=${1:-10}
LOG=bench/.work/browser_under_load.log
mkdir -p bench/.work && : > "$LOG"
BUSY=${BUSY:-2}
LOOPS=()
for _ in $(seq 1 "$BUSY"); do python3 -c "while True: pass" & LOOPS+=($!); done
ok=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s) load=$(cut -d' ' -f1 /proc/loadavg)
  if HF_HUB_OFFLINE=1 timeout 900 .venv/bin/python -m pytest -q -n 0 tests/test_browser.py > "bench/.work/browser_run_$i.log" 2>&1; then ok=$((ok+1)); r=pass; else r=FAIL; fi
  echo "run $i: $r in $(( $(date +%s) - start )) s (load average $load at its start)" >> "$LOG"
done
[ "${#LOOPS[@]}" -gt 0 ] && kill "${LOOPS[@]}"
echo "passed $ok of $RUNS with $BUSY busy loops" >> "$LOG"
[ "$ok" -eq "$RUNS" ]
