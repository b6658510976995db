"""``tinyengine-tvm nas``: the TinyNAS pipeline from the command line (see ``nas.pipeline``)."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    n = sub.add_parser("nas", help="search a network that fits the budgets (TinyNAS), train, quantize, compile, measure")
    n.add_argument("--dataset", default="digits",
                   help="'digits' (scikit-learn's, no download) or a folder of class sub-folders of images (ImageFolder)")
    n.add_argument("--target", default="cortex-m4", help="host, cortex-m4, cortex-m7, cortex-m33 or cortex-m55 (default cortex-m4)")
    n.add_argument("--sram", default="32K", help="peak SRAM budget of the compiled network (arena), e.g. 32K")
    n.add_argument("--flash", default="128K", help="Flash budget: weights plus --flash-overhead, e.g. 128K")
    n.add_argument("--flash-overhead", default="32K", help="Flash kept for code and tables beside the weights (default 32K)")
    n.add_argument("--macs", default=None, help="MACs budget (latency proxy), e.g. 2M")
    n.add_argument("--latency", default=None,
                   help="instructions budget on --target, predicted by its cost model from each candidate, e.g. 2M")
    n.add_argument("-o", "--output", required=True, help="output folder (a run started again with it resumes)")
    n.add_argument("--patch", default="off", choices=("off", "auto"),
                   help="line-buffer stages: off (default; milliseconds per candidate) or auto (searched jointly "
                        "with the network, as compiled with --patch auto; seconds per candidate)")
    n.add_argument("--rf-stages", type=int, default=0,
                   help="receptive-field redistribution (MCUNetV2): the first N stages (the patch stage) use only the "
                        "smallest kernel and depth, the search spends receptive field after them (default 0: off)")
    n.add_argument("--quick", action="store_true", help="small grid, short training: minutes")
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--json", action="store_true", help="print report.json")


def run(args) -> int:
    import sys

    from ..planner.report import parse_bytes
    from .pipeline import Config, run as run_pipeline

    cfg = Config(out_dir=args.output, dataset=args.dataset, target=args.target, sram=parse_bytes(args.sram),
                 flash=parse_bytes(args.flash), flash_overhead=parse_bytes(args.flash_overhead),
                 macs=_macs(args.macs), latency=_macs(args.latency, "--latency"), quick=args.quick, seed=args.seed, patch=args.patch,
                 rf_stages=args.rf_stages)
    report = run_pipeline(cfg, progress=None if args.json else (lambda m: print(m, file=sys.stderr, flush=True)))
    if args.json:
        print(json.dumps(report))
    else:
        p, m = report["predicted"], report["measured"]
        print(f"best network: {p['macs']:,} MACs, peak SRAM {m['peak_sram_bytes']:,} B (predicted {p['peak_sram_bytes']:,}), "
              f"accuracy float {report['accuracy_float']:.3f} / int8 {report['accuracy_int8']:.3f}; wrote {args.output}/")
    return 0


def _macs(text, flag: str = "--macs") -> int | None:
    """'2M' -> 2,000,000 (decimal: MACs and instructions are counts, not bytes)."""
    if text is None:
        return None
    t = str(text).strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if scale != 1 else t) * scale)
    except ValueError:
        from ..errors import TinyEngineError

        raise TinyEngineError(f"{flag} {text!r}: expected a count such as 2000000 or 2M") from None
