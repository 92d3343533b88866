"""Command line: ``python -m fastact bench [options]``."""

from __future__ import annotations

import argparse
import json
import sys

import fastact


def _sizes(text):
    return [int(float(v)) for v in text.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastact", description=fastact.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="time and check every function against NumPy")
    bench.add_argument("--functions", type=lambda t: t.split(","), default=fastact.__all__,
                       help="comma-separated names (default: all)")
    bench.add_argument("--sizes", type=_sizes, default=[1000, 100_000, 1_000_000],
                       help="comma-separated element counts (default: 1e3,1e5,1e6)")
    bench.add_argument("--repeats", type=int, default=5,
                       help="interleaved timing rounds; the minimum is reported (default 5)")
    bench.add_argument("--quick", action="store_true",
                       help="sizes 1e3,1e5 and 3 rounds: a few seconds")
    bench.add_argument("--threads", type=int, default=None,
                       help="threads per fastact call (default: fastact.get_num_threads())")
    bench.add_argument("--json", action="store_true",
                       help="print the measurements as JSON (the progress bar stays on "
                            "stderr)")
    args = parser.parse_args(argv)

    unknown = sorted(set(args.functions) - set(fastact.__all__))
    if unknown:
        parser.error(f"unknown function(s): {', '.join(unknown)}; "
                     f"choose from {', '.join(fastact.__all__)}")
    if args.threads is not None:
        fastact.set_num_threads(args.threads)
    from fastact import _bench

    if args.quick:
        args.sizes, args.repeats = [1000, 100_000], 3
    data = _bench.measure(args.functions, args.sizes, repeats=args.repeats)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        _bench.report(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
