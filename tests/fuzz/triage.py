#!/usr/bin/env python3
"""Groups fuzzer findings by what went wrong and where: each input is run once through its
target, and the report's kind (sanitizer error, uncaught exception, out-of-memory, timeout) plus
the first stack frame in the project's own sources make its signature. Fork-mode fuzzing saves
every failing input, hundreds of them for one defect; this turns them into a list of defects.

usage: triage.py [--limit N] [--expect-clean] REPO BINARY INPUT...
Prints one line per distinct signature: count, signature, one input that shows it.
--expect-clean: exit 1 if any input still fails (replaying fixed reproducers).
"""
import argparse
import collections
import os
import re
import subprocess
import sys

FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (.+?) (/\S+?):(\d+)(?::\d+)?$")


def run(binary, path):
    env = dict(os.environ)
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    try:
        p = subprocess.run([binary, "-rss_limit_mb=2048", "-timeout=10", path], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "hang beyond 120 s"
    return p.returncode, p.stdout.decode(errors="replace")


def kind_of(log):
    m = re.search(r"terminate called after throwing an instance of '([^']+)'\s*\n\s*what\(\):\s*(.*)", log)
    if m:
        return f"uncaught {m.group(1)} ({m.group(2).strip()[:80]})"
    m = re.search(r"SUMMARY: AddressSanitizer: ([\w-]+)", log) or re.search(r"ERROR: AddressSanitizer: ([\w-]+)", log)
    if m:
        return "ASan " + m.group(1)
    m = re.search(r"runtime error: (.*)", log)
    if m:
        return "UBSan " + re.sub(r"-?\d[\d.e+]*", "N", m.group(1))[:100]
    m = re.search(r"ERROR: libFuzzer: (out-of-memory \((malloc|used)|timeout|deadly signal|[\w -]+)", log)
    if m:
        return "libFuzzer " + (m.group(1) + ")" if "(" in m.group(1) else m.group(1))
    return "unknown failure"


LIBRARIES = ("/usr/include/toml++/", "/usr/include/eigen3/", "/usr/include/nlohmann/")


def frame_of(log, repo):
    """The first frame in the project's sources, preceded by the library frame it called into
    when a header library (toml++, Eigen, nlohmann-json) is where the report happened."""
    own = os.path.join(repo, "")
    library = None
    for line in log.splitlines():
        m = FRAME.match(line)
        if not m:
            continue
        func, path, lineno = m.groups()
        path = os.path.normpath(path)
        if path.startswith(own) and "/tests/fuzz/" not in path:
            func = re.sub(r"\(.*\)( const)?$", "", func.replace("(anonymous namespace)", "{anon}"))
            here = f"{os.path.relpath(path, repo)}:{lineno} ({func})"
            return f"{library} via {here}" if library else here
        if library is None and path.startswith(LIBRARIES):
            library = f"{path}:{lineno}"
    return library or "no frame in the project's sources"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--expect-clean", action="store_true")
    ap.add_argument("repo")
    ap.add_argument("binary")
    ap.add_argument("inputs", nargs="*")
    a = ap.parse_args()
    repo = os.path.realpath(a.repo)
    groups = collections.OrderedDict()
    clean = 0
    inputs = sorted(a.inputs, key=lambda p: (os.path.getsize(p), p))[: a.limit]
    for path in inputs:
        rc, log = run(a.binary, path)
        if rc == 0:
            clean += 1
            continue
        sig = f"{kind_of(log)} at {frame_of(log, repo)}" if rc is not None else log
        groups.setdefault(sig, []).append(path)
    for sig, paths in groups.items():
        print(f"    {len(paths):4d} x {sig}\n           e.g. {paths[0]}")
    if clean:
        print(f"    {clean:4d} x no failure when run again")
    if len(a.inputs) > len(inputs):
        print(f"    ({len(a.inputs) - len(inputs)} more not triaged: --limit {a.limit})")
    return 1 if a.expect_clean and groups else 0


if __name__ == "__main__":
    sys.exit(main())
