#!/bin/bash
# Run a command under heaptrack's allocation tracing, keeping its pid (exec), so that
# bench/soak.py's /proc readings are still the daemon's:
#
#   BENCH_DAEMON_PREFIX=bench/heaptrack_exec.sh HEAPTRACK_OUT=/tmp/daemon \
#       .venv/bin/python bench/soak.py --interval 0.5 ...
#
# `heaptrack` itself starts the command as a child (another pid). This does what it
# does (heaptrack's preload library writing into a FIFO that heaptrack_interpret reads
# and zstd compresses) and then execs the command. The daemon's C heap in use over
# time is then `heaptrack_print -f /tmp/daemon.zst -M daemon.massif` (its mem_heap_B
# per snapshot; docs/performance.md, "Soak"). Debian: `apt-get install heaptrack`.
set -euo pipefail
out=${HEAPTRACK_OUT:-/tmp/heaptrack-daemon}
libexec=/usr/lib/heaptrack
fifo=$(mktemp -u /tmp/heaptrack-fifo.XXXXXX)
mkfifo "$fifo"  # left behind in /tmp: the exec leaves nothing to remove it after
"$libexec/libexec/heaptrack_interpret" < "$fifo" | zstd -q -c > "$out.zst" &
exec env LD_PRELOAD="$libexec/libheaptrack_preload.so${LD_PRELOAD:+:$LD_PRELOAD}" \
    DUMP_HEAPTRACK_OUTPUT="$fifo" "$@"
