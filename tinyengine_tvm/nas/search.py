"""Evolutionary search over a space's genomes under SRAM / Flash / MACs budgets (MCUNet's stage 2 search).

Each generation keeps the ``parents`` best of the population, and fills the rest half by
crossover (each gene from either parent) and half by mutation (each gene resampled with
probability ``mutate_p``). A candidate enters only if the compiler's planner says it fits
(``constraints.fits``); its fitness is the accuracy of its inherited supernet weights after
BatchNorm recalibration. The whole state (population, every evaluated genome, RNG) is a
JSON-able dict, checkpointed after every generation, so a killed search resumes where it
stopped and ends with the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from .constraints import fits
from .space import Genome, SearchSpace


@dataclass
class Budgets:
    sram: int                      # peak SRAM (arena) bytes
    flash: int | None = None       # weight bytes + flash_overhead
    macs: int | None = None        # MACs (a latency proxy)
    flash_overhead: int = 0
    target: str = "host"
    patch: str = "off"             # as compiled: "off" (milliseconds per candidate) or "auto" (seconds)
    latency: int | None = None     # instructions on ``target``, predicted by its cost model (nas.latency)


def _key(g: Genome) -> str:
    return json.dumps([list(g.depths), list(g.kernels), list(g.expands)])


def _genome(key: str) -> Genome:
    d, k, e = json.loads(key)
    return Genome(tuple(d), tuple(k), tuple(e))


class Evolution:
    def __init__(self, space: SearchSpace, budgets: Budgets, fitness, population: int = 100, parents: int = 20,
                 mutate_p: float = 0.1, seed: int = 0, checkpoint: str | None = None):
        self.space, self.budgets, self.fitness = space, budgets, fitness
        self.population, self.parents, self.mutate_p = population, parents, mutate_p
        self.checkpoint = checkpoint
        self.rng = np.random.default_rng(seed)
        self.scores: dict = {}       # genome key -> {"accuracy", "peak_sram_bytes", "weight_bytes", "macs"}
        self.rejected: dict = {}     # genome key -> reason
        self.pop: list = []
        self.generation = 0
        self.history: list = []      # per generation: best key and accuracy
        if checkpoint and os.path.exists(checkpoint):
            self._load(checkpoint)

    # -- constraint and fitness, each genome evaluated once -----------------------------
    def _admit(self, g: Genome) -> bool:
        k = _key(g)
        if k in self.scores:
            return True
        if k in self.rejected:
            return False
        spec = self.space.spec_of(g)
        b = self.budgets
        ok, e = fits(spec, b.sram, b.flash, b.target, b.flash_overhead, b.patch)
        if ok and b.macs is not None and e.macs > b.macs:
            ok = False
        info = {"peak_sram_bytes": e.peak_sram_bytes, "weight_bytes": e.weight_bytes, "macs": e.macs}
        if ok and b.latency is not None:
            from .latency import predict

            info["instructions"] = round(predict(spec, b.target, b.patch))
            ok = info["instructions"] <= b.latency
        if not ok:
            self.rejected[k] = info
            return False
        self.scores[k] = {"accuracy": float(self.fitness(g)), **info}
        return True

    def _draw(self, make, want: int, tries: int = 200) -> list:
        out = []
        for _ in range(tries):
            if len(out) >= want:
                break
            g = make()
            if self._admit(g):
                out.append(g)
        return out

    def _mutate(self, g: Genome) -> Genome:
        sp, r, p = self.space, self.rng, self.mutate_p
        pick = lambda cur, choices: int(r.choice(choices)) if r.random() < p else cur  # noqa: E731
        return Genome(tuple(pick(d, sp.depth_choices(s)) for s, d in enumerate(g.depths)),
                      tuple(pick(k, sp.kernel_choices(i)) for i, k in enumerate(g.kernels)),
                      tuple(pick(e, sp.expands) for e in g.expands))

    def _cross(self, a: Genome, b: Genome) -> Genome:
        r = self.rng
        mix = lambda x, y: tuple(int(u if r.random() < 0.5 else v) for u, v in zip(x, y))  # noqa: E731
        return Genome(mix(a.depths, b.depths), mix(a.kernels, b.kernels), mix(a.expands, b.expands))

    def _ranked(self, genomes) -> list:
        return sorted(genomes, key=lambda g: (-self.scores[_key(g)]["accuracy"], self.scores[_key(g)]["macs"], _key(g)))

    # -- the loop ---------------------------------------------------------------------
    def run(self, generations: int = 30, progress=None):
        if not self.pop:
            self.pop = self._draw(lambda: self.space.sample_genome(self.rng), self.population,
                                  tries=self.population * 50)
            if not self.pop:
                raise RuntimeError("no network of this search space fits the budgets; try a smaller width or resolution")
            self._save()
        while self.generation < generations:
            parents = self._ranked(self.pop)[: self.parents]
            n_mut = (self.population - len(parents)) // 2
            mutants = self._draw(lambda: self._mutate(parents[int(self.rng.integers(len(parents)))]), n_mut)
            n_cross = self.population - len(parents) - len(mutants)
            children = self._draw(lambda: self._cross(*(parents[i] for i in self.rng.integers(len(parents), size=2))),
                                  n_cross)
            self.pop = self._ranked(parents + mutants + children)
            self.generation += 1
            best = _key(self.pop[0])
            self.history.append({"generation": self.generation, "best": best, **self.scores[best]})
            self._save()
            if progress is not None:
                progress(self.generation, self.scores[best])
        return self.best()

    def best(self) -> Genome:
        return self._ranked(self.pop)[0]

    # -- checkpoint -------------------------------------------------------------------
    def state(self) -> dict:
        return {"generation": self.generation, "pop": [_key(g) for g in self.pop], "scores": self.scores,
                "rejected": self.rejected, "history": self.history, "rng": self.rng.bit_generator.state,
                "budgets": asdict(self.budgets)}

    def _save(self):
        if not self.checkpoint:
            return
        tmp = self.checkpoint + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state(), f)
        os.replace(tmp, self.checkpoint)

    def _load(self, path):
        with open(path) as f:
            s = json.load(f)
        self.generation, self.pop = s["generation"], [_genome(k) for k in s["pop"]]
        self.scores, self.rejected, self.history = s["scores"], s["rejected"], s["history"]
        self.rng.bit_generator.state = s["rng"]
