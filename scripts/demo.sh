#!/usr/bin/env bash
# The demo: start the local Enlighten simulator, then run the whole flow
# against it (login, status, charge from grid, schedules). Nothing leaves
# this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

work=$(mktemp -d)
lua5.4 bin/enphase sim --port 0 --portfile "$work/port" >"$work/sim.log" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "demo: the simulator did not start:"; cat "$work/sim.log"; exit 1; }

export ENPHASE_BASE_URL="http://127.0.0.1:$(cat "$work/port")"
export ENPHASE_EMAIL=demo@example.com ENPHASE_PASSWORD=demo-password
echo "simulator listening on $ENPHASE_BASE_URL"
echo
echo '$ enphase status'
lua5.4 bin/enphase status
echo
lua5.4 examples/demo.lua
