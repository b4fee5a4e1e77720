"""Run argv and write its rusage as JSON: `python -I -S spawn.py OUT.json -- argv...`.

Why a wrapper: Linux charges a child the peak RSS of the process that forked it (the address
space it had until exec), so children of the benchmark's own ~100 MiB Python would all report
≥ 100 MiB peak RSS. This wrapper is a bare interpreter (~10 MiB, stdlib only, no site) and
spawns the tool itself, so the floor of every peak-RSS figure is about 10 MiB.
`os.wait4` counts the tool and every descendant it reaped; `ru_maxrss` is the largest single
process of that tree.
"""

import json
import os
import sys
import time


def main() -> int:
    out, sep, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    if sep != "--" or not argv:
        sys.stderr.write("usage: spawn.py OUT.json -- argv...\n")
        return 2
    start = time.perf_counter()
    try:
        # posix_spawn (vfork-like): the child starts from this small address space.
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as e:
        sys.stderr.write(f"spawn.py: cannot run {argv[0]}: {e}\n")
        return 127
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    result = {
        "exit_code": code,
        "wall": wall,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
    }
    with open(out, "w") as f:
        json.dump(result, f)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
