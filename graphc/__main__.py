"""The graphc command line.

    python -m graphc inspect model.onnx [--level 2] [--dump-dir out/] [--debug] [-o optimized.onnx]
    python -m graphc optimize in.onnx out.onnx [--level 2] [--debug]

``inspect`` imports the model, runs the pipeline and prints the pass table (pass, nodes before ->
after, time, what changed); with ``--dump-dir`` every stage is written there (IR text and
``.onnx``); ``--debug`` also verifies the IR and compares numbers after every pass.
"""
from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m graphc", description="graphc: optimize and inspect ONNX models")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("inspect", "run the pass pipeline on a model and print what each pass did"),
                        ("optimize", "optimize a model and write the result")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("model", help="input .onnx file")
        if name == "optimize":
            s.add_argument("output", help="output .onnx file")
        else:
            s.add_argument("-o", "--output", help="also write the optimized model here")
        s.add_argument("--level", type=int, default=2, choices=(0, 1, 2, 3), help="optimization level (default 2)")
        s.add_argument("--dump-dir", help="write every stage (IR text, .onnx) into this folder")
        s.add_argument("--debug", action="store_true",
                       help="verify the IR and compare numbers on random inputs after every pass")
        s.add_argument("--target", default="onnx", choices=("onnx", "onnxruntime"))
        s.add_argument("--allow-contrib", action="store_true",
                       help="allow com.microsoft contrib fusions (with --target onnxruntime, level 3)")
        s.add_argument("--opset", type=int, help="default-domain opset of the output (13-21)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from graphc.onnx import optimize
    from passes.debug import format_table

    try:
        proto, manager = optimize(args.model, args.output, level=args.level, debug=args.debug, target=args.target,
                                  allow_contrib=args.allow_contrib, dump_dir=args.dump_dir, opset=args.opset,
                                  print_table=False, return_report=True)
    except NotImplementedError as e:
        print(f"graphc: {e}", file=sys.stderr)
        return 2
    title = f"{args.model}: level {args.level}, {len(proto.graph.node)} ONNX nodes out"
    if manager.dump_dir:
        title += f"; stages in {manager.dump_dir}"
    if args.command == "inspect" or args.debug:
        print(format_table(manager.records, title))
    if args.output:
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
