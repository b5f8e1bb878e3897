"""Sum py-spy's collapsed stacks (`py-spy record --format raw`, what `bench.run --profile` writes):
the share of samples spent inside each package or function, inclusive and exclusive.

    .venv/bin/python -m bench.profile DIR/intake.txt [--top 40] [--by function|module] [--within NAME]
"""

import argparse
import re
from collections import Counter
from pathlib import Path

# A frame looks like "function (path/to/file.py:123)"; py-spy writes the process's root frame
# (e.g. "process 123:"...) first, and threads as their own frames.
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+?)(?::\d+)?\)$")


def module(path: str) -> str:
    """site-packages/sqlalchemy/orm/session.py -> sqlalchemy.orm; services/intake/service.py -> services.intake."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/services/" in path:
        path = "services/" + path.split("/services/", 1)[1]
    elif "/lib/python" in path:
        path = "stdlib/" + path.split("/lib/python", 1)[1].split("/", 1)[-1]
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def label(frame: str, by: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    if by == "module":
        return module(match["file"])
    return f"{match['function']} ({module(match['file'])})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--by", choices=("function", "module"), default="function")
    parser.add_argument("--within", help="only stacks passing through a frame containing this text")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for line in args.file.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if args.within and not any(args.within in f for f in frames):
            continue
        samples = int(count)
        total += samples
        labels = [label(f, args.by) for f in frames]
        for name in set(labels):
            inclusive[name] += samples
        exclusive[labels[-1]] += samples
    print(f"{total} samples{f' through {args.within!r}' if args.within else ''}")
    print(f"{'incl %':>7} {'excl %':>7}  frame")
    for name, samples in inclusive.most_common(args.top):
        print(f"{100 * samples / total:7.1f} {100 * exclusive[name] / total:7.1f}  {name}")


if __name__ == "__main__":
    main()
