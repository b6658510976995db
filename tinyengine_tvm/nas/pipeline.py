"""TinyNAS end to end: space optimisation, supernet training, evolution, fine-tuning, PTQ, compile, measure.

``run(config)`` writes into ``config.out_dir``: ``report.json`` (chosen space, best
architecture, ``predicted`` and ``measured`` peak SRAM / Flash / instructions, float and int8
accuracy, constraints), ``spaces.json`` + ``space_cdf.png`` (stage 1), ``search.json`` (the
evolution's checkpoint and log), ``supernet.pt``, ``model.onnx`` (the float network),
``project/`` (the compiled C) and ``pareto.png``. Every stage checkpoints, so a killed run
started again with the same arguments resumes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import TinyEngineError


@dataclass
class Config:
    out_dir: str
    dataset: str = "digits"
    target: str = "cortex-m4"
    sram: int = 32 * 1024
    flash: int = 128 * 1024
    macs: int | None = None
    latency: int | None = None        # instructions on target (cost model from the spec: nas.latency)
    quick: bool = False
    seed: int = 0
    widths: tuple = (0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0)
    resolutions: tuple = (16, 24, 32, 40, 48, 64)
    space_samples: int = 200
    supernet_epochs: int = 30
    finetune_epochs: int = 20
    population: int = 100
    parents: int = 20
    generations: int = 30
    depths: tuple = (2, 3, 4)
    stages: tuple = ((24, 2), (40, 2), (80, 2), (96, 1), (192, 2), (320, 1))
    flash_overhead: int = 32 * 1024   # code, requantization tables, firmware beside the weights
    patch: str = "off"                # line-buffer stages in the search and the compile ("auto": joint, slower)
    rf_stages: int = 0                # receptive-field redistribution: smallest kernel / depth in the first stages
    extra: dict = field(default_factory=dict)

    def quickened(self) -> "Config":
        """--quick: a small grid and short training, minutes on a laptop core."""
        if not self.quick:
            return self
        return Config(**dict(asdict(self), widths=(0.25, 0.5), resolutions=(16, 24), space_samples=20,
                             supernet_epochs=3, finetune_epochs=2, population=12, parents=4, generations=3,
                             depths=(1, 2), stages=((24, 2), (40, 2), (80, 2))))


def _log(progress, msg):
    if progress is not None:
        progress(msg)


def run(config: Config, progress=None) -> dict:
    import torch

    from . import data, deploy, space_opt, train
    from .constraints import estimate
    from .search import Budgets, Evolution
    from .space import SearchSpace
    from .supernet import Supernet

    cfg = config.quickened()
    if cfg.latency is not None and cfg.target == "host":
        raise TinyEngineError("a latency budget needs a Cortex-M target (its cost model predicts instructions)")
    rank = _init_distributed()
    os.makedirs(cfg.out_dir, exist_ok=True)
    path = lambda name: os.path.join(cfg.out_dir, name)  # noqa: E731
    torch.manual_seed(cfg.seed)
    ds = data.load(cfg.dataset)
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = ds.split(cfg.seed)
    classes = len(ds.classes)
    t0 = time.time()

    # -- stage 1: the search space -------------------------------------------------------
    if os.path.exists(path("spaces.json")):
        with open(path("spaces.json")) as f:
            spaces = json.load(f)
    else:
        _log(progress, f"stage 1: {len(cfg.widths)} widths x {len(cfg.resolutions)} resolutions, "
                       f"{cfg.space_samples} samples each")
        results = space_opt.optimize_space(
            cfg.sram, cfg.flash, cfg.widths, cfg.resolutions, cfg.space_samples, classes, cfg.seed, cfg.target,
            cfg.flash_overhead, space_kw=dict(depths=cfg.depths, stages=cfg.stages, rf_stages=cfg.rf_stages),
            progress=lambda r: _log(progress, f"  w{r.width} r{r.resolution}: {r.fitting}/{r.samples} fit"))
        if not results or results[0].fitting == 0:
            raise TinyEngineError(f"no network of any search space fits {cfg.sram} B SRAM and {cfg.flash} B Flash "
                                  f"on {cfg.target}; raise the budgets or add smaller widths / resolutions")
        space_opt.plot_cdf(results, path("space_cdf.png"))
        spaces = [r.to_dict() for r in results]
        with open(path("spaces.json"), "w") as f:
            json.dump(spaces, f, indent=1)
    best_space = spaces[0]
    space = SearchSpace(width=best_space["width"], resolution=best_space["resolution"], classes=classes,
                        depths=tuple(cfg.depths), stages=tuple(tuple(s) for s in cfg.stages), rf_stages=cfg.rf_stages)
    res = space.resolution
    xt, xv, xs = data.resize(x_tr, res), data.resize(x_val, res), data.resize(x_te, res)
    yt, yv, ys = (torch.from_numpy(a) for a in (y_tr, y_val, y_te))

    # -- stage 2: supernet ----------------------------------------------------------------
    net = Supernet(space)
    if os.path.exists(path("supernet.pt")):
        net.load_state_dict(torch.load(path("supernet.pt")))
    else:
        _log(progress, f"supernet: width {space.width}, resolution {res}, {cfg.supernet_epochs} epochs")
        train.train_supernet(net, xt, yt, cfg.supernet_epochs, seed=cfg.seed,
                             progress=lambda e, loss: _log(progress, f"  epoch {e + 1}: loss {loss:.1f}"))
        if rank == 0:
            torch.save(net.state_dict(), path("supernet.pt"))
    if rank != 0:  # under torchrun the other processes only help train the supernet
        return {}

    def fitness(genome):
        sub = train.recalibrate_bn(net.extract(genome), xt)
        return train.accuracy(sub, xv, yv)

    # -- stage 3: evolution ---------------------------------------------------------------
    budgets = Budgets(cfg.sram, cfg.flash, cfg.macs, cfg.flash_overhead, cfg.target, cfg.patch, cfg.latency)
    evo = Evolution(space, budgets, fitness, cfg.population, cfg.parents, seed=cfg.seed, checkpoint=path("search.json"))
    best = evo.run(cfg.generations, progress=lambda g, s: _log(
        progress, f"  generation {g}: best val accuracy {s['accuracy']:.3f}, peak SRAM {s['peak_sram_bytes']} B"))
    spec = space.spec_of(best)

    # -- fine-tune, quantize, compile, measure ---------------------------------------------
    model = train.recalibrate_bn(net.extract(best), xt)
    _log(progress, f"fine-tuning the best network ({spec.macs:,} MACs) for {cfg.finetune_epochs} epochs")
    train.train(model, xt, yt, cfg.finetune_epochs, lr=0.005, seed=cfg.seed)
    model.eval()
    acc_float = train.accuracy(model, xs, ys)
    _export_onnx(model, res, path("model.onnx"))
    predicted = estimate(spec, cfg.target, patch=cfg.patch)
    predicted_instr = predicted_spec_instr = None
    calib = [xt[i:i + 1].numpy() for i in range(0, min(len(xt), 64))]
    quantized = deploy.quantize(model, calib)   # one calibration for both builds
    cm = deploy.compile_network(model, calib, cfg.target, patch=cfg.patch, quantized=quantized)   # the budget is peak_sram_bytes, checked by the search
    project = path("project")
    cm.export(project)
    host_cm = deploy.compile_network(model, calib, "host", patch=cfg.patch, quantized=quantized)
    acc_int8 = deploy.int8_accuracy(host_cm, xs.numpy(), y_te)
    measured = {"peak_sram_bytes": cm.plan.peak_sram_bytes, "arena_bytes": cm.plan.arena_bytes}
    if cfg.target != "host":
        from ..tuner.cost_model import cost_model

        # the tuner's XGBoost model over the deployed program's layers: no QEMU, no C build
        predicted_instr = float(cost_model(cfg.target).predict(cm)["total"])
        from .latency import predict as predict_spec

        predicted_spec_instr = round(predict_spec(spec, cfg.target, cfg.patch))   # what --latency compares
        _, m = cm.measure([np.ascontiguousarray(xs[:1].numpy().transpose(0, 2, 3, 1))])
        measured.update(instructions=m["instructions"], flash_bytes=m["flash_bytes"])
    report = {
        "dataset": ds.name, "classes": classes, "target": cfg.target, "quick": cfg.quick,
        "constraints": {"sram": cfg.sram, "flash": cfg.flash, "macs": cfg.macs, "latency": cfg.latency},
        "space": best_space, "architecture": spec.to_dict(),
        "predicted": {"peak_sram_bytes": predicted.peak_sram_bytes, "arena_bytes": predicted.arena_bytes,
                      "flash_bytes": predicted.weight_bytes + cfg.flash_overhead, "macs": predicted.macs,
                      "instructions": predicted_instr, "instructions_from_spec": predicted_spec_instr},
        "measured": measured,
        "accuracy_float": acc_float, "accuracy_int8": acc_int8,
        "evaluated": len(evo.scores), "rejected": len(evo.rejected), "seconds": round(time.time() - t0, 1),
    }
    with open(path("report.json"), "w") as f:
        json.dump(report, f, indent=2)
    _pareto(evo, path("pareto.png"))
    return report


def _init_distributed() -> int:
    """Under torchrun (WORLD_SIZE > 1) join the process group (gloo: CPU); returns this process's rank."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _export_onnx(model, res, out):
    import torch

    torch.onnx.export(model, (torch.zeros(1, 3, res, res),), out, input_names=["input"], output_names=["logits"],
                      dynamo=False)


def _pareto(evo, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = list(evo.scores.values())
    if not s:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for ax, key, label in ((axes[0], "peak_sram_bytes", "peak SRAM (bytes)"), (axes[1], "macs", "MACs")):
        ax.scatter([v[key] for v in s], [v["accuracy"] for v in s], s=10)
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy (inherited weights)")
        ax.grid(alpha=0.3)
    fig.suptitle("TinyNAS: every evaluated network")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
