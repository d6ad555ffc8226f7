#!/usr/bin/env bash
# Regenerates the published results in results/: the full grid (every registered detector, the
# ADBench datasets in the data cache, seeds 1-3, protocols unsupervised and novelty) into
# results/published.sqlite, then the leaderboard tables, the HTML report and the provenance.
#
#   BENCH_DATA_DIR=/path/to/adbench bash benchmarks/published_grid.sh [classical|deep|report|all]
#
# The store is resumable: rerun the same command to finish the cells that are missing.
# knn, lof and ocsvm (cost quadratic in the rows) and the deep detectors run with
# --max-samples 10000 (stratified, recorded in each cell), as ADBench subsampled; the linear
# classical detectors see every row. JOBS (default 2) sets the worker processes.
set -uo pipefail
cd "$(dirname "$0")/.."
STAGE=${1:-all}
JOBS=${JOBS:-2}
BENCH=${BENCH:-.venv/bin/bench}
STORE=results/published.sqlite

# the ADBench datasets whose files are in the cache; the others are listed, not hidden
LISTING=$($BENCH list datasets --json)
pick() { echo "$LISTING" | python3 -c "import json,sys; print('$2'.join(d['name'] for d in json.load(sys.stdin) if d['source'] == 'adbench' and (d['cached'] == 'yes') == $1))"; }
DATASETS=$(pick True ,)
pick False '\n' > results/missing_datasets.txt
COMMON=(--datasets "$DATASETS" --seeds 1,2,3 --protocol unsupervised,novelty
        --store "$STORE" --jobs "$JOBS" --timeout 1800 --no-leaderboard -q)

if [[ $STAGE == classical || $STAGE == all ]]; then
  $BENCH run --detectors iforest,hbos,copod,ecod,pca,cblof "${COMMON[@]}"
  $BENCH run --detectors knn,lof,ocsvm --max-samples 10000 "${COMMON[@]}"
fi
if [[ $STAGE == deep || $STAGE == all ]]; then
  $BENCH run --detectors 'ae,vae,gan,bigan,flow,diffusion' --max-samples 10000 "${COMMON[@]}"
  $BENCH run --detectors 'pyod_*' --max-samples 10000 "${COMMON[@]}"
fi
if [[ $STAGE == report || $STAGE == all ]]; then
  $BENCH leaderboard --store "$STORE" --format markdown > results/leaderboard.md
  $BENCH leaderboard --store "$STORE" --format csv > results/leaderboard.csv
  $BENCH report --store "$STORE" --out results/report --missing drop
  # provenance: every run recorded in the store (command, commit, versions, machine, times)
  .venv/bin/python - "$STORE" > results/PROVENANCE.md <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("# Provenance of results/published.sqlite\n")
print("Regenerate (resumes the store): `BENCH_DATA_DIR=<folder of ADBench .npz files> "
      "bash benchmarks/published_grid.sh all`\n")
print("Datasets not in the data cache, so not run: see results/missing_datasets.txt.\n")
rows = db.execute("SELECT run_id, started_at, finished_at, command, git_commit, versions, "
                  "platform, n_planned FROM runs ORDER BY run_id").fetchall()
for run_id, start, end, command, commit, versions, platform, n in rows:
    print(f"## Run {run_id}\n\n- command: `{command}`\n- started {start}, finished {end or 'interrupted'}")
    print(f"- git commit: {commit}\n- machine: {platform}\n- planned cells: {n}")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in json.loads(versions or "{}").items()) + "\n")
ok, total = db.execute("SELECT SUM(status = 'ok'), COUNT(*) FROM cells").fetchone()
print(f"Cells stored: {total}, ok: {ok}.")
PY
fi
