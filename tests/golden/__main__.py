"""`python -m tests.golden [--update] [CASE ...]`: compare (or rewrite) the golden results."""

from __future__ import annotations

import argparse
import difflib
import sys

from . import case_names, dump, expected, run_case, write_expected


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__)
    parser.add_argument("cases", nargs="*", metavar="CASE", help="cases to run (default: all)")
    parser.add_argument("--update", action="store_true", help="write expected.json from this run")
    args = parser.parse_args()
    known = case_names()
    unknown = sorted(set(args.cases) - set(known))
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; known: {', '.join(known)}")
    differing = 0
    for name in args.cases or known:
        got = run_case(name)
        if args.update:
            write_expected(name, got)
            print(f"wrote tests/golden/{name}/expected.json")
            continue
        old = dump(expected(name))
        new = dump(got)
        if old == new:
            print(f"same     {name}")
            continue
        differing += 1
        print(f"DIFFERS  {name}")
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "expected", "got"))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
