"""The shipped tuning logs (``<target>.jsonl``), a data package: installed as ``tinyengine_tvm.autotune_logs``
so a wheel install applies them as the source tree does (``tuner.log.LOG_DIR``)."""
