"""One writer process of a distributed (sharded) capture, for the concurrency tests.

Usage: ``python _shard_child.py OUT I K KILL READY GO`` — builds the model and data of ``_capture_child.py``
(150 samples, a 3-layer MLP slowed by 10 ms per batch so that the writers overlap, batches of 7, chunks of
16), arms the kill point ``KILL`` (``none`` or ``<point>:<k>``, as there), writes the file ``READY`` and waits
for the file ``GO`` (so that every writer starts at the same instant, creation included), then captures
shard ``I`` of ``K`` into ``OUT``. Exit 0 on success, 2 on a repscope error (message on stderr).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

from _capture_child import _arm, _Slow, build

import repscope as rs


def main() -> None:
    out, i, k, kill, ready, go = sys.argv[1:7]
    _arm(kill)
    model, X, y, ids, attrs = build({})
    model = _Slow(model, 0.01)
    pathlib.Path(ready).write_text(str(os.getpid()))
    while not pathlib.Path(go).exists():
        time.sleep(0.01)
    try:
        rs.capture(model, X, ["inner.0", "inner.1", "inner.2"], out, labels=y, ids=ids, attributes=attrs,
                   batch_size=7, chunk_rows=16, progress=False, shard=(int(i), int(k)))
    except rs.RepscopeError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        os._exit(2)
    os._exit(0)


if __name__ == "__main__":
    main()
