"""Run the whole fuzz corpus of bad input (tests/fuzz_inputs.py) and count what each case gave.

    python bench/fuzz_inputs.py [--per-format 50] [--json]

Counts per format: tracebacks, silent successes, unnamed errors, clean errors and accepted
mutants (exit 0 on input that may be valid), plus the slowest case. The corpus is
deterministic (case ``i`` of a format is mutation ``i mod 17`` with seed ``i``) and
includes every hand-made malformed file, so two checkouts can be compared on the same
cases: run it once with PYTHONPATH pointing at each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def _corpus():
    """``tests/fuzz_inputs.py`` of this checkout, loaded by path: ``kgsynth`` itself comes from PYTHONPATH,
    so the same corpus can be run against another checkout (``PYTHONPATH=../old python bench/fuzz_inputs.py``)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tests" / "fuzz_inputs.py"
    spec = importlib.util.spec_from_file_location("fuzz_inputs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_inputs"] = module
    spec.loader.exec_module(module)
    return module


_fuzz = _corpus()
HANDMADE, MUTATIONS, TARGETS = _fuzz.HANDMADE, _fuzz.MUTATIONS, _fuzz.TARGETS
handmade_case, make_case, run_case = _fuzz.handmade_case, _fuzz.make_case, _fuzz.run_case

VERDICTS = ("traceback", "hang", "silent success", "unnamed error", "clean error", "accepted")
#: A case still running after this many seconds counts as a hang (a named pipe opened blocking).
HANG_SECONDS = 5


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


def _run(case, folder):
    """``run_case`` under an alarm: a hang is a verdict, not the end of the benchmark."""
    import signal

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        return run_case(case, folder)
    except _Hang:
        return _fuzz.Outcome("hang", -1, f"still running after {HANG_SECONDS} s", HANG_SECONDS), [case.target]
    finally:
        signal.alarm(0)


def warm_up() -> None:
    """Import what `train` imports first, so the first train case is not timed with torch's import."""
    try:
        import torch  # noqa: F401
        from transformers import get_cosine_schedule_with_warmup  # noqa: F401
    except ImportError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-format", type=int, default=50, help="Mutated cases per format.")
    parser.add_argument("--only", default="", help="Comma-separated formats.")
    parser.add_argument("--show", type=int, default=3, help="Examples printed per bad verdict.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import os

    os.environ.pop("NEO4J_URI", None)
    os.environ["HF_HUB_OFFLINE"] = "1"  # `train` cases must never reach for the network
    warm_up()
    formats = [f for f in TARGETS if not args.only or f in args.only.split(",")]
    table: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}
    slowest = (0.0, "")
    started = time.perf_counter()
    for fmt in formats:
        cases = [make_case(fmt, MUTATIONS[i % len(MUTATIONS)], i) for i in range(args.per_format)]
        cases += [handmade_case(i) for i, h in enumerate(HANDMADE) if h[0] == fmt]
        counts: Counter[str] = Counter()
        for case in cases:
            with tempfile.TemporaryDirectory() as tmp:
                outcome, argv = _run(case, Path(tmp))
            counts[outcome.verdict] += 1
            if outcome.seconds > slowest[0]:
                slowest = (outcome.seconds, f"{fmt}/{case.mutation}")
            if outcome.verdict in ("traceback", "hang", "silent success", "unnamed error"):
                examples.setdefault(outcome.verdict, [])
                if sum(1 for e in examples[outcome.verdict] if e.startswith(fmt + "/")) < args.show:
                    examples[outcome.verdict].append(f"{fmt}/{case.mutation}: {argv[0]}: {outcome.message[:160]}")
        table[fmt] = counts
    total = sum(table.values(), Counter())
    data = {"formats": {f: dict(c) for f, c in table.items()}, "total": dict(total),
            "cases": sum(total.values()), "seconds": round(time.perf_counter() - started, 1),
            "slowest_case": {"seconds": round(slowest[0], 2), "case": slowest[1]}, "examples": examples}
    if args.json:
        print(json.dumps(data, indent=1))
        return
    print(f"{'format':14}" + "".join(f"{v:>16}" for v in VERDICTS) + f"{'cases':>8}")
    for fmt, counts in [*table.items(), ("TOTAL", total)]:
        print(f"{fmt:14}" + "".join(f"{counts.get(v, 0):>16}" for v in VERDICTS) + f"{sum(counts.values()):>8}")
    print(f"{data['cases']} cases in {data['seconds']} s; slowest case {data['slowest_case']}")
    for verdict, lines in examples.items():
        print(f"\n{verdict}:")
        for line in lines:
            print("  " + line)


if __name__ == "__main__":
    main()
