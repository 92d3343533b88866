"""Command line: ``python -m fastact bench [options]`` and ``python -m fastact plot [options]``."""

from __future__ import annotations

import argparse
import json
import sys

import fastact


def _positive(text):
    """A positive whole number, also written as 1e6."""
    try:
        v = float(text)
    except ValueError:
        v = 0.0
    if not (1 <= v < 2**63 and v == int(v)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(v)


def _sizes(text):
    return [_positive(v) for v in text.split(",")]


def _names(text):
    names = [v.strip() for v in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastact", description=fastact.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="time and check every function against NumPy")
    bench.add_argument("--functions", type=_names, default=fastact.__all__,
                       help="comma-separated names (default: all)")
    bench.add_argument("--sizes", type=_sizes, default=None,
                       help="comma-separated element counts (default: 1e3,1e5,1e6)")
    bench.add_argument("--repeats", type=_positive, default=None,
                       help="interleaved timing rounds; the minimum is reported (default 5)")
    bench.add_argument("--quick", action="store_true",
                       help="sizes 1e3,1e5 and 3 rounds unless given: a few seconds")
    bench.add_argument("--threads", type=_positive, default=None,
                       help="threads per fastact call (default: fastact.get_num_threads())")
    bench.add_argument("--json", action="store_true",
                       help="print the measurements as JSON (the progress bar stays on "
                            "stderr)")
    plot = sub.add_parser("plot", help="draw every activation, its derivative and softmax")
    plot.add_argument("--out", default="fastact-plots", help="folder for the PNGs")
    plot.add_argument("--bench", nargs="?", const="-", default=None, metavar="JSON",
                      help="also a speedup bar chart: from a `bench --json` file, or "
                           "from a quick bench run when no file is given")
    args = parser.parse_args(argv)
    if args.command == "plot":
        return _plot(args)

    return _bench_command(parser, args)


def _plot(args):
    from fastact import _plot

    bench = None
    try:
        _plot._pyplot()                 # fail early, before a bench run
        if args.bench == "-":
            from fastact import _bench
            bench = _bench.measure(fastact.__all__, [1000, 100_000], repeats=3)
        elif args.bench:
            bench = _plot.load_bench(args.bench)
        paths = _plot.render(args.out, bench)
    except _plot.MissingMatplotlib as e:
        print(f"python -m fastact plot: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


def _bench_command(parser, args):
    unknown = sorted(set(args.functions) - set(fastact.__all__))
    if unknown:
        parser.error(f"unknown function(s): {', '.join(unknown)}; "
                     f"choose from {', '.join(fastact.__all__)}")
    if args.threads is not None:
        fastact.set_num_threads(args.threads)
    from fastact import _bench

    if args.sizes is None:
        args.sizes = [1000, 100_000] if args.quick else [1000, 100_000, 1_000_000]
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    data = _bench.measure(args.functions, args.sizes, repeats=args.repeats)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        _bench.report(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
