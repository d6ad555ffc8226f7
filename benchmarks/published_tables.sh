#!/usr/bin/env bash
# Regenerates the published tables from results/published.sqlite: results/leaderboard.md and .csv,
# the HTML report in results/report/ and results/PROVENANCE.md. The grid itself is one command:
#
#   BENCH_DATA_DIR=<folder of ADBench .npz files> bench run --config benchmarks/published_grid.toml
#
# (resumable; add --dry-run to see what it would run). BENCH (default .venv/bin/bench) is the
# command to use.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-.venv/bin/bench}
STORE=results/published.sqlite

$BENCH leaderboard --store "$STORE" --format markdown -o results/leaderboard.md
$BENCH leaderboard --store "$STORE" --format csv -o results/leaderboard.csv
$BENCH report --store "$STORE" --out results/report --missing drop
# provenance: every run recorded in the store (command, grid block, commit, versions, machine)
"$(dirname "$BENCH")/python" - "$STORE" > results/PROVENANCE.md <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("# Provenance of results/published.sqlite\n")
print("Rerun the grid (resumes the store): `BENCH_DATA_DIR=<folder of ADBench .npz files> "
      "bench run --config benchmarks/published_grid.toml`; then regenerate the tables with "
      "`bash benchmarks/published_tables.sh`.\n")
print("Datasets not in the data cache, so not in the grid: see results/missing_datasets.txt.\n")
rows = db.execute("SELECT run_id, started_at, finished_at, command, git_commit, versions, "
                  "platform, n_planned, options FROM runs ORDER BY run_id").fetchall()
for run_id, start, end, command, commit, versions, platform, n, options in rows:
    print(f"## Run {run_id}\n\n- command: `{command}`\n- started {start}, finished {end or 'interrupted'}")
    config = json.loads(options or "{}").get("config")
    if config:
        print(f"- grid file {config.get('file')}, block {config.get('block')} of {config.get('of')}")
    print(f"- git commit: {commit}\n- machine: {platform}\n- planned cells: {n}")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in json.loads(versions or "{}").items()) + "\n")
ok, total = db.execute("SELECT SUM(status = 'ok'), COUNT(*) FROM cells").fetchone()
print(f"Cells stored: {total}, ok: {ok}.")
PY
echo "wrote results/leaderboard.md, results/leaderboard.csv, results/report/, results/PROVENANCE.md" >&2
