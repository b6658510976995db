"""tinyengine-tvm: a deep-learning compiler for microcontrollers, as an Apache TVM plugin."""
__version__ = "0.1.0"
