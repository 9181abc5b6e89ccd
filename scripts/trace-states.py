#!/usr/bin/env python3
"""Where the switch's goroutines spend their time, second by second, from an execution trace.

    CARDSWITCH_TRACE=t.out CARDSWITCH_TRACE_AFTER=30s ./bin/cardswitch serve ...   # under load
    go tool trace -d=parsed t.out > t.txt
    python3 scripts/trace-states.py t.txt

For each second of the trace: milliseconds Running / Runnable (ready, waiting for a CPU) of the
goroutines by what they are (engine, Badger compaction, Badger's synced writes, connection
readers and writers, encoders, GC). Then the durations of Badger's write batches and of the
syscalls in them (docs/benchmarks-log.md, "Round 8").
"""
import collections
import re
import sys

HEADER = re.compile(r'^M=\S+ P=\S+ G=\S+ StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+) Reason="([^"]*)"')

CLASSES = [  # first match wins; matched against every frame a goroutine was seen in
    ("engine", ("Engine).run",)),
    ("compaction", ("subcompact", "compactBuildTables", "runCompactor", "doCompact")),
    ("flush", ("flushMemtable", "handleMemTableFlush")),
    ("badger-write", ("writeRequests",)),
    ("conn-read", ("conn).readLoop",)),
    ("conn-write", ("conn).writeLoop",)),
    ("encoder", ("Dispatcher).encoder",)),
    ("gc", ("gcBgMarkWorker",)),
]


def parse(path):
    events, cur, in_stack = [], None, False
    with open(path) as f:
        for line in f:
            if line.startswith("M="):
                if cur:
                    events.append(cur)
                m = HEADER.match(line)
                cur = [int(m.group(1)), int(m.group(2)), m.group(3), m.group(4), []] if m else None
                in_stack = False
            elif cur is not None:
                s = line.strip()
                if s.startswith("TransitionStack="):
                    in_stack = True
                elif s.startswith("Stack="):
                    in_stack = False
                elif in_stack and " @ " in s:
                    cur[4].append(s.split(" @ ")[0])
    if cur:
        events.append(cur)
    return events


def quantiles(name, values):
    if not values:
        return
    v, n = sorted(values), len(values)
    print("%-28s n=%d p50 %.0f us  p90 %.0f us  p99 %.0f us  p99.9 %.0f us  max %.0f us" % (
        name, n, v[n // 2] / 1e3, v[int(n * .9)] / 1e3, v[int(n * .99)] / 1e3, v[int(n * .999)] / 1e3, v[-1] / 1e3))


def main(path):
    events = parse(path)
    if not events:
        sys.exit("no state transitions in %s (the output of `go tool trace -d=parsed`?)" % path)
    by_g = collections.defaultdict(list)
    for e in events:
        by_g[e[1]].append(e)
    t0 = min(e[0] for e in events)
    seconds = collections.defaultdict(collections.Counter)
    batches, syscalls = [], []
    for es in by_g.values():
        es.sort()
        frames = {x for e in es for x in e[4]}
        cls = next((c for c, keys in CLASSES if any(k in x for k in keys for x in frames)), "other")
        if cls == "badger-write":
            batches.append(es[-1][0] - es[0][0])
        for a, b in zip(es, es[1:]):
            if cls == "badger-write" and a[3] == "Syscall":
                syscalls.append(b[0] - a[0])
            if a[3] not in ("Running", "Runnable"):
                continue
            s = a[0]
            while s < b[0]:
                sec = (s - t0) // 10**9
                end = min(b[0], t0 + (sec + 1) * 10**9)
                seconds[sec][(cls, a[3])] += end - s
                s = end
    names = [c for c, _ in CLASSES] + ["other"]
    print("second " + " ".join("%13s" % c for c in names))
    print("       " + " ".join("%13s" % "run/ready ms" for _ in names))
    for sec in sorted(seconds):
        row = seconds[sec]
        print("%6d " % sec + " ".join("%13s" % ("%d/%d" % (row[(c, "Running")] / 1e6, row[(c, "Runnable")] / 1e6)) for c in names))
    quantiles("Badger write batch", batches)
    quantiles("syscalls in those batches", syscalls)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
