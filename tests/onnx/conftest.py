import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def pytest_terminal_summary(terminalreporter):
    """Prints the conformance counts and the unsupported ops when the conformance tests ran."""
    import collections

    mod = sys.modules.get("test_conformance")
    results = getattr(mod, "RESULTS", None)
    if not results:
        return
    import conformance

    by_suite = collections.defaultdict(list)
    for o in results:
        by_suite[o.suite].append(o)
    tr = terminalreporter
    tr.section("ONNX conformance (import -> optimize -> export -> onnxruntime)")
    for suite, items in by_suite.items():
        sup = [o for o in items if o.status != "unsupported"]
        tr.write_line(f"{suite:>18}: {len(items):5d} cases, {len(sup):5d} supported, "
                      f"{sum(o.status == 'pass' for o in sup):5d} passing")
    top = conformance.unsupported_ops(results).most_common(25)
    tr.write_line("most common unsupported ops: " + ", ".join(f"{op} ({n})" for op, n in top))
