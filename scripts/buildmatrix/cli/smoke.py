"""``nox -s smoke`` / ``python -m buildmatrix.smoke``: smoke tests of built variants on this host (:mod:`buildmatrix.smoke`).

Exit 0 pass, 1 a check failed, 2 bad usage (unknown variant, no interpreter for any target),
77 skipped (the hardware does not match, or nothing to test).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, SkippedError, UsageError
from ..smoke.checkrun import DEFAULT_TIMEOUT
from ..smoke.expect import SWITCHES
from . import common as cli


@cli.guarded
def cmd_smoke(
    root: str | Path,
    file: str | Path,
    variant: str | None = None,
    python: str | None = None,
    result: str | Path | None = None,
    json_out: str | None = None,
    overrides: dict[str, Any] | None = None,
    record: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    host=None,
    stream: bool = True,
) -> int:
    """Smoke-test one variant (name or alias), or every ``result-<name>`` in ``root`` that matches this host."""
    from ..detect import probe
    from ..smoke import run as smoke

    root = Path(root)
    m = cli.load(file, quiet=True)
    if host is None:
        host = probe.detect_host()
    chosen, unknown = smoke.targets(m, root, variant, result)
    print(f"host: {host.hardware()} [{host.platform}; GPU info via {host.gpu_source}]", file=sys.stderr)
    for n in unknown:
        print(f"note: {n} names no variant of the model; ignored", file=sys.stderr)
    if not chosen:
        raise SkippedError(f"nothing to test: no result-<variant> link in {root} (build one with `flox build`)")
    reports, usage_errors = smoke.run_targets(m, root, host, chosen, python, overrides, record, timeout, force, stream)
    if len(usage_errors) == len(reports):  # nothing could even start: a usage problem, not a failed check
        raise UsageError("\nerror: ".join(usage_errors))
    print("", file=sys.stderr)
    for rep in reports:
        print(smoke.render_summary(rep), file=sys.stderr if json_out == "-" else sys.stdout)
    if json_out:
        payload: Any = reports[0] if len(reports) == 1 else {"runs": reports}
        text = json.dumps(payload, indent=2, default=str)
        if json_out == "-":
            print(text)
        else:
            Path(json_out).write_text(text + "\n", encoding="utf-8")
    return smoke.combine([r["status"] for r in reports])


@cli.guarded
def cmd_expectations(file: str | Path, variant: str, overrides: dict[str, Any]) -> int:
    """``--print-expectations``: the JSON the checker would read for ``variant`` (one object, or a list)."""
    from ..smoke.expect import apply_overrides, expectations

    m = cli.load(file, quiet=True)
    out = [apply_overrides(expectations(m, v), overrides) for v in m.resolve(variant)]
    print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m buildmatrix.smoke",
        description="Smoke-test built variants on this host (exit 0 pass, 1 fail, 2 usage, 77 hardware does not match).",
    )
    parser.add_argument("--variant", help="variant name or alias (sm90-avx512); default: every result-<name> in --root")
    parser.add_argument(
        "--python",
        help="interpreter to run the checks in; with --result it gets the result's PYTHONPATH, without one it runs as it is",
    )
    parser.add_argument("--result", help="result link or store path of the variant (default: ROOT/result-<name>)")
    parser.add_argument("--json", dest="json_out", metavar="FILE", help="write the JSON report here (- for stdout)")
    parser.add_argument("--expect-python", help="expected Python major.minor instead of the model's")
    parser.add_argument("--expect-torch", help="expected torch version instead of the model's (local +cuXYZ ignored)")
    parser.add_argument("--expect-torchvision", help="expected torchvision version instead of the model's")
    parser.add_argument("--expect-torchaudio", help="expected torchaudio version instead of the model's")
    parser.add_argument("--expect-cuda", help="expected torch.version.cuda major.minor instead of the model's")
    parser.add_argument("--expect-cudnn", choices=sorted(SWITCHES), help="cuDNN on/off/any instead of the model's")
    parser.add_argument("--expect-magma", choices=sorted(SWITCHES), help="MAGMA on/off/any instead of on")
    parser.add_argument("--record", action="store_true", help="append a smoke record to the local ledger (ledger/local.jsonl; `invoke ledger --promote` commits it)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds before the checker is killed")
    parser.add_argument("--force", action="store_true", help="run even when detect says the hardware does not match")
    parser.add_argument("--print-expectations", action="store_true", help="print the expectations JSON and exit")
    parser.add_argument("--file", default="variants.toml", help="the model file")
    parser.add_argument("--root", default=".", help="repository root (where result-* links and ledger/ are)")
    args = parser.parse_args(argv)
    overrides = {
        "python": args.expect_python,
        "torch": args.expect_torch,
        "torchvision": args.expect_torchvision,
        "torchaudio": args.expect_torchaudio,
        "cuda": args.expect_cuda,
        "cudnn": args.expect_cudnn,
        "magma": args.expect_magma,
    }
    if args.print_expectations:
        if not args.variant:
            parser.error("--print-expectations needs --variant")
        return cmd_expectations(args.file, args.variant, overrides)
    return cmd_smoke(
        args.root,
        args.file,
        args.variant,
        args.python,
        args.result,
        args.json_out,
        overrides,
        args.record,
        args.timeout,
        args.force,
    )
