#!/usr/bin/env bash
# Evidence from a workerd that stopped making progress (a vitest run or `wrangler dev` that went
# silent), taken before it is killed. Usage: scripts/hang-evidence.sh <workerd pid> [out file]
#
# A hang that keeps timers from firing (vitest's 60 s test timeouts never fire) means the event
# loop thread never goes idle: workerd only polls timers and sockets when no event is ready, so a
# chain of events that are always ready (JavaScript awaiting reads that complete at once, or
# promises that reject at once) starves everything else. This prints what tells such a spin from
# an idle wait, and where it is:
#   1. CPU time used over 5 s (a spin uses ~5 s; a wait ~0);
#   2. a perf profile (perf record -g, if perf is installed);
#   3. native stacks of the event loop thread (gdb, a few samples);
#   4. who calls stream reads while it spins: gdb breakpoints on workerd's read entry points, each
#      hit with the native caller chain (pipeLoop = a pipeTo driven from JavaScript; readAtLeast
#      or ReadableStreamDefaultReader::read = a read loop in JavaScript code).
# gdb cannot call functions in the inferior on every VM (V8's _v8_internal_Print_StackTrace would
# print the JavaScript stack), so the callers are read from the native chain instead. Needs root
# or ptrace rights over the process; leaves the process running (it may die if gdb is killed
# while its breakpoints are set).
set -uo pipefail

pid="${1:?usage: scripts/hang-evidence.sh <workerd pid> [out file]}"
out="${2:-/dev/stdout}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

cat > "$scratch/reads.gdb" <<'EOF'
set pagination off
set confirm off
handle SIGCONT nostop noprint pass
set $hits = 0
break workerd::api::ReadableStreamInternalController::read
break workerd::api::ReadableStreamJsController::read
break workerd::api::ReadableStreamBYOBReader::readAtLeast
break workerd::api::ReadableStreamDefaultReader::read
break workerd::api::ReadableStreamJsController::drainingRead
commands 1-5
  silent
  set $hits = $hits + 1
  printf "-- read %d\n", $hits
  bt 6
  if $hits >= 20
    delete
    detach
    quit
  end
  continue
end
continue
EOF

{
  echo "== workerd $pid at $(date -u +%H:%M:%S)"
  ps -o pid,stat,pcpu,rss,etime,time,cmd -p "$pid" | cut -c1-200
  before="$(cpu_ticks)"
  sleep 5
  after="$(cpu_ticks)"
  echo "CPU used in 5 s: $(( (after - before) / $(getconf CLK_TCK) )) s (about 5: spinning; about 0: waiting)"

  if command -v perf >/dev/null 2>&1; then
    echo "== perf profile (6 s)"
    timeout 30 perf record -F 499 -g -p "$pid" -o "$scratch/perf.data" -- sleep 6 >/dev/null 2>&1
    timeout 60 perf report -i "$scratch/perf.data" --stdio --no-children --percent-limit 3 2>/dev/null | grep -v '^$' | cut -c1-220 | head -120
  fi

  if command -v gdb >/dev/null 2>&1; then
    for sample in 1 2 3; do
      echo "== event loop thread, sample $sample"
      timeout 60 gdb -p "$pid" -batch -ex 'thread 1' -ex 'bt 25' 2>&1 | grep -E '^#' | cut -c1-220
      sleep 1
    done
    echo "== stream reads while it runs (none within 40 s: no JavaScript-driven read is involved)"
    timeout 40 gdb -p "$pid" -batch -x "$scratch/reads.gdb" 2>&1 | grep -E '^-- read|^#' | cut -c1-220
  else
    echo "gdb is not installed: no stacks"
  fi
} > "$out" 2>&1
