"""Autotuning: per-layer kernel configurations measured on QEMU / boards, logged, and an XGBoost cost model.

* ``space``: a layer's signature and features, its exact configurations (codegen/variants.py);
* ``measure``: the measure function (firmware in, ticks out), a local QEMU pool and TVM RPC tracker pools;
* ``log``: autotune_logs/<target>.jsonl records, the best known configuration per layer, ``apply``;
* ``cost_model``: XGBoost per target on layer features -> measured instructions;
* ``tune``: the search loop (cost-model ranked, measure top-k per round, retrain, resumable);
* ``rpc_server``: ``tinyengine-tvm rpc-server`` (a TVM RPC server exposing ``tinyengine.measure``).
"""

