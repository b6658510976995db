"""TFLite int8 frontend: a .tflite file in, a Relax IRModule (quantize/dequantize around float ops) out.

Built on TVM's Relax TFLite frontend. Two things are added around it:

* checks that turn bad input into one-line errors before TVM sees it: a missing or
  corrupt file, and operators this compiler has no kernel for (named, with the
  operator index and the tensor it writes);
* a converter subclass that accepts quantized PAD and TRANSPOSE, which the stock
  converter refuses although its QDQ lowering handles them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._files import read_bytes
from ..errors import TinyEngineError, UnsupportedOperatorError

# TFLite builtins the kernel graph can express. TRANSPOSE is accepted only where a
# pass can sink it into a following reduction (checked again when partitioning).
# detection heads / topology (concat_views.py, annotate_topology.py); the moves only move int8 values
_TOPOLOGY_MOVES = frozenset({"SPLIT", "SPLIT_V", "STRIDED_SLICE", "SQUEEZE", "EXPAND_DIMS"})
_TOPOLOGY_OPS = {"CONCATENATION", "SOFTMAX"} | _TOPOLOGY_MOVES
SUPPORTED_OPS = _TOPOLOGY_OPS | frozenset(
    {
        "QUANTIZE",
        "DEQUANTIZE",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "MEAN",
        "PAD",
        "RESHAPE",
        "RESIZE_NEAREST_NEIGHBOR",
        "TRANSPOSE",
        "LOG_SOFTMAX",
        # elementwise (SE blocks, activations): relay_passes/partition.py _elementwise_patterns
        "MUL",
        "SUB",
        "LOGISTIC",
        "HARD_SWISH",
        "RELU_N1_TO_1",
    }
    | {"RELU", "RELU6", "RELU_N1_TO_1"}  # standalone activations: a requantize with a clamp
)


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape, dtype and (per-tensor) quantization of a model input or output."""

    name: str
    shape: tuple
    dtype: str
    scale: float | None = None
    zero_point: int | None = None
    shape_signature: tuple | None = None  # TFLite: -1 marks a dynamic dimension (``shape`` holds a placeholder)


_TFLITE_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}


def _builtin_names():
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def read_model(model) -> tuple:
    """Parse a .tflite path or bytes; return (tflite.Model, raw bytes, source label)."""
    import tflite

    buf, label = read_bytes(model)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TinyEngineError(f"{label}: not a TFLite flatbuffer (missing 'TFL3' identifier); corrupt or wrong file type")
    try:
        m = tflite.Model.GetRootAsModel(buf, 0)
        if m.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
        sg = m.Subgraphs(0)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            m.OperatorCodes(op.OpcodeIndex())
            op.InputsAsNumpy(), op.OutputsAsNumpy()
    except TinyEngineError:
        raise
    except Exception as err:  # flatbuffers raises assorted errors on truncated data
        raise TinyEngineError(f"{label}: corrupt TFLite model ({type(err).__name__}: {err})") from None
    return m, buf, label


def _tensor_info(sg, idx) -> TensorInfo:
    t = sg.Tensors(idx)
    name = t.Name().decode() if t.Name() else f"tensor_{idx}"
    q = t.Quantization()
    scale = zp = None
    if q is not None and q.ScaleLength() > 0:
        scale = float(q.ScaleAsNumpy()[0])
        zp = int(q.ZeroPointAsNumpy()[0]) if q.ZeroPointLength() > 0 else 0
    sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() > 0 else None
    return TensorInfo(name, tuple(int(d) for d in t.ShapeAsNumpy()), _TFLITE_DTYPES.get(t.Type(), f"type{t.Type()}"),
                      scale, zp, sig)


def check_static_inputs(inputs, label: str, input_shapes=None) -> None:
    """Refuse an input with a dynamic dimension (-1 in its ``shape_signature``, or a non-positive ``shape``):
    the C program is compiled for one shape. ``input_shapes`` (name -> shape) may confirm the stored
    placeholder shape of a dynamic batch, which is what LiteRT runs when the input is not resized."""
    given = dict(input_shapes or {})
    for t in inputs:
        dims = list(t.shape_signature if t.shape_signature is not None else t.shape)
        stored = list(t.shape)
        if t.name in given:
            want = [int(d) for d in given.pop(t.name)]
            if want != stored or any(d <= 0 for d in stored):
                raise TinyEngineError(f"{label}: input_shapes gives {want} for input '{t.name}', but a TFLite model compiles "
                                      f"only at its stored shape {stored}; re-export the model with the shape you want")
            continue
        if all(d > 0 for d in dims) and all(d > 0 for d in stored):
            continue
        fix = ("re-export the model with a fixed input shape (Keras: keras.Input(shape=..., batch_size=1); "
               "TFLiteConverter: a concrete function with a fully specified tf.TensorSpec)")
        if all(d > 0 for d in dims[1:]) and all(d > 0 for d in stored):  # only the batch is open
            fix += f", or compile it for its stored shape: --input-shape {t.name}:{','.join(map(str, stored))}"
        raise TinyEngineError(f"{label}: input '{t.name}' has a dynamic shape {dims} (TFLite shape_signature; "
                              f"stored placeholder shape {stored}): {fix}")
    if given:
        raise TinyEngineError(f"{label}: input_shapes names unknown input(s) {sorted(given)}; inputs are {[t.name for t in inputs]}")


def model_io(m) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Inputs and outputs of subgraph 0, as TensorInfo."""
    sg = m.Subgraphs(0)
    return [_tensor_info(sg, i) for i in sg.InputsAsNumpy()], [_tensor_info(sg, i) for i in sg.OutputsAsNumpy()]


# Operators that only move or convert data: float32 there does not make a model a float model.
_DATA_MOVEMENT = frozenset({"QUANTIZE", "DEQUANTIZE", "RESHAPE", "TRANSPOSE", "PAD", "SQUEEZE", "EXPAND_DIMS",
                            "LOG_SOFTMAX", "SOFTMAX", "CONCATENATION", "SPLIT", "STRIDED_SLICE", "GATHER", "SHAPE"})


def check_int8(m, label: str = "<model>") -> None:
    """Refuse a float32 or dynamic-range (hybrid: int8 weights, float32 activations) model in one line:
    this compiler runs int8 graphs, and says how to get one."""
    names = _builtin_names()
    sg = m.Subgraphs(0)
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = m.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "?")
        if name in _DATA_MOVEMENT:
            continue
        outs = [j for j in op.OutputsAsNumpy() if j >= 0]
        if not any(sg.Tensors(j).Type() in (0, 1) for j in outs):  # float32 / float16 result
            continue
        weights = [sg.Tensors(j) for j in op.InputsAsNumpy() if j >= 0 and m.Buffers(sg.Tensors(j).Buffer()).DataLength() > 0]
        hybrid = any(t.Type() in (3, 9) for t in weights)  # int8 / uint8 constants, float32 activations
        kind = "a dynamic-range (hybrid) quantized model: int8 weights, float32 activations" if hybrid else "a float32 model"
        where = sg.Tensors(outs[0]).Name().decode() if outs else "?"
        raise TinyEngineError(
            f"{label}: this model is not int8-quantized ({kind}; operator #{i} {name}, output '{where}', computes in float); "
            "quantize it fully to int8 (TFLiteConverter with optimizations=[tf.lite.Optimize.DEFAULT], a "
            "representative_dataset and target_spec.supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]), or give "
            "the float ONNX/PyTorch model with --calibration DATA.npz")


def _softmax_beta(op):
    """A SOFTMAX operator's beta (None without options)."""
    from tflite.SoftmaxOptions import SoftmaxOptions

    tab = op.BuiltinOptions()
    if tab is None:
        return None
    o = SoftmaxOptions()
    o.Init(tab.Bytes, tab.Pos)
    return float(o.Beta())


def check_supported(m, label: str = "<model>") -> None:
    """Raise UnsupportedOperatorError naming every operator with no kernel, and where it is."""
    names = _builtin_names()
    sg = m.Subgraphs(0)
    if m.SubgraphsLength() > 1:
        raise UnsupportedOperatorError(f"{label}: models with {m.SubgraphsLength()} subgraphs (control flow) are not supported")
    check_int8(m, label)
    bad = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = m.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = names.get(code, f"builtin_{code}")
        if code == 32:  # CUSTOM
            name = f"CUSTOM({oc.CustomCode().decode() if oc.CustomCode() else '?'})"
        if name not in SUPPORTED_OPS:
            outs = op.OutputsAsNumpy()
            where = sg.Tensors(outs[0]).Name().decode() if len(outs) else "?"
            bad.append(f"{name} (operator #{i}, output '{where}')")
        elif name == "SOFTMAX" and _softmax_beta(op) != 1.0:  # TVM's importer drops beta
            outs = op.OutputsAsNumpy()
            where = sg.Tensors(outs[0]).Name().decode() if len(outs) else "?"
            bad.append(f"SOFTMAX with beta {_softmax_beta(op)!r} (operator #{i}, output '{where}'; only beta 1 has a kernel)")
    if bad:
        raise UnsupportedOperatorError(f"{label}: unsupported operator{'s' if len(bad) > 1 else ''}: " + "; ".join(bad))


def _new_calls(expr, seen: set, bb=None) -> list:
    """(Relax op name, shape) of the calls in expr not seen before (earlier operators' results are in seen);
    with ``bb``, through the bindings a converter emitted."""
    from tvm import relax

    found, stack = [], [expr]
    while stack:
        e = stack.pop()
        if not isinstance(e, relax.Expr) or e in seen:
            continue
        seen.add(e)
        if isinstance(e, relax.Var) and bb is not None:
            try:
                bound = bb.lookup_binding(e)
            except Exception:  # not bound in this builder (a parameter)
                bound = None
            if bound is not None:
                stack.append(bound)
        elif isinstance(e, relax.Call):
            ty = getattr(e, "ty", None)
            shape = None
            if isinstance(ty, relax.TensorType) and ty.shape is not None:
                try:
                    shape = tuple(int(d) for d in ty.shape)
                except TypeError:
                    shape = None
            found.append((str(getattr(e.op, "name", "")), shape))
            stack.extend(e.args)
        elif isinstance(e, relax.Tuple):
            stack.extend(e.fields)
        elif isinstance(e, relax.TupleGetItem):
            stack.append(e.tuple_value)
    return found


def locate(located, relax_op: str, shape, unit: str = "operator") -> str | None:
    """'operator #i NAME (output 'x')' of the first TFLite operator (``unit="node"``: ONNX node) whose
    conversion made a relax_op call of this shape (an NCHW record also matches its NHWC form), failing
    that of any shape; None when no operator made such a call."""
    def same(recorded):
        rec, got = tuple(recorded or ()), tuple(shape or ())
        return rec == got or (len(rec) == 4 and (rec[0], rec[2], rec[3], rec[1]) == got)

    for want_shape in (True, False):
        for i, name, where, calls in located or []:
            if any(o == relax_op and (not want_shape or same(sh)) for o, sh in calls):
                return f"{unit} #{i} {name} (output '{where}')"
    return None


def _converter_class():
    from tvm.relax.frontend.tflite import tflite_frontend

    base = tflite_frontend.OperatorConverter

    class TinyEngineOperatorConverter(base):
        """Stock converter plus quantized PAD, TRANSPOSE and RESIZE_NEAREST_NEIGHBOR: the stock
        conversions of these only move int8 values (no arithmetic), so they are exact as they are."""

        _SUPPORTED_QUANTIZED_OPS = (frozenset(base._SUPPORTED_QUANTIZED_OPS) | {"PAD", "TRANSPOSE", "RESIZE_NEAREST_NEIGHBOR"}
                                    | _TOPOLOGY_MOVES)

        def _with_scalar_axis(self, convert, op, axis_input: int):
            """The stock SPLIT / SPLIT_V converters call int() on the axis array, which numpy 2 refuses
            for a 1-element array: hand them the axis as a 0-d array."""
            axis_idx = self.get_input_tensors(op)[axis_input].tensor_idx
            stock = self.get_tensor_value

            def value(tw, is_sparse=False):
                v = stock(tw, is_sparse)
                return v.reshape(()) if tw.tensor_idx == axis_idx and v.size == 1 else v

            self.get_tensor_value = value
            try:
                return convert(self, op)
            finally:
                del self.get_tensor_value

        def convert_split(self, op):
            return self._with_scalar_axis(base.convert_split, op, 0)

        def convert_split_v(self, op):
            return self._with_scalar_axis(base.convert_split_v, op, 2)

        def convert_expand_dims(self, op):
            """EXPAND_DIMS is a reshape to the output's shape (the stock converter calls expand_dims with
            an argument this Relax does not take)."""
            from tvm import relax

            out = self.get_output_tensors(op)[0]
            shape = [int(d) for d in out.tensor.ShapeAsNumpy()]
            return relax.op.reshape(self.get_tensor_expr(self.get_input_tensors(op)[0]), shape)

        def convert_op_to_relax(self):
            """The stock loop, each converter wrapped to record what it built (``located``): per operator the
            (Relax op, shape) of every call it added, so a call no kernel takes can be named as the TFLite
            operator it came from."""
            self.located = []
            seen = set()
            names = _builtin_names()
            for key, fn in list(self.convert_map.items()):
                def wrapped(op, _fn=fn):
                    ret = _fn(op=op)
                    oc = self.model.OperatorCodes(op.OpcodeIndex())
                    outs = op.OutputsAsNumpy()
                    where = self.subgraph.Tensors(outs[0]).Name().decode() if len(outs) else "?"
                    calls = _new_calls(ret, seen, self.bb) if ret is not None else []
                    self.located.append((len(self.located), names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "?"),
                                         where, calls))
                    return ret
                self.convert_map[key] = wrapped
            return super().convert_op_to_relax()

        def get_tensors(self, tensors_idx_list):
            """A tensor with one scale is per-tensor whatever its quantized_dimension says: TFLite's converter
            writes 3 for a one-channel depthwise filter, which the stock converter rejects."""
            wrappers = super().get_tensors(tensors_idx_list)
            for w in wrappers:
                if not w.qnn_params or w.tensor_idx < 0:  # -1: an absent optional input (no tensor)
                    continue
                q = w.tensor.Quantization()
                if q is not None and q.ScaleLength() <= 1:
                    w.qnn_params["axis"] = 0
            return wrappers

        def convert_reshape(self, op):
            """A float32 RESHAPE of a DEQUANTIZE output (TFLite's converter leaves a Keras Flatten after the last int8
            op as DEQUANTIZE -> RESHAPE) reshapes the int8 tensor and dequantizes that: with one scale and zero
            point dequantize is elementwise, so the floats are the same, and an int8 reshape is a view."""
            from tvm import relax

            inp = self.get_input_tensors(op)[0]
            src = self._dequantized_source(inp.tensor_idx) if inp.tensor.Type() == 0 else None
            if src is None:
                return super().convert_reshape(op)
            shape = [int(d) for d in self.get_tensor_shape(self.get_output_tensors(op)[0])]
            return self.dequantize(relax.op.reshape(self.get_tensor_expr(src), shape), src)

        def _dequantized_source(self, tensor_idx):
            """The int8 per-tensor quantized input of the DEQUANTIZE writing tensor_idx, or None."""
            names = _builtin_names()
            for i in range(self.subgraph.OperatorsLength()):
                o = self.subgraph.Operators(i)
                if tensor_idx not in o.OutputsAsNumpy():
                    continue
                oc = self.model.OperatorCodes(o.OpcodeIndex())
                if names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())) != "DEQUANTIZE":
                    return None
                src = self.get_input_tensors(o)[0]
                q = src.tensor.Quantization()
                ok = src.tensor.Type() == 9 and src.qnn_params and q is not None and q.ScaleLength() == 1
                return src if ok else None
            return None

        def convert_fully_connected(self, op):
            """TFLite's FULLY_CONNECTED flattens an input of any rank to [size / in_n, in_n] (a Keras Flatten
            folded into the layer); the stock converter multiplies it unflattened. With keep_num_dims
            the output keeps the input's leading dimensions."""
            from tvm import relax

            inp, weight = self.get_input_tensors(op)[:2]
            shape = [int(d) for d in self.get_tensor_shape(inp)]
            in_n = int(self.get_tensor_shape(weight)[1])
            if len(shape) == 2 and shape[1] == in_n:
                return super().convert_fully_connected(op)
            size = int(np.prod(shape))
            if in_n <= 0 or size % in_n:
                raise UnsupportedOperatorError(f"FULLY_CONNECTED of a {shape} input with {in_n}-wide weights")
            flat = relax.op.reshape(self.get_tensor_expr(inp), [size // in_n, in_n])
            get = self.get_tensor_expr
            self.get_tensor_expr = lambda t, *a, **k: flat if t.tensor_idx == inp.tensor_idx else get(t, *a, **k)
            try:
                out = super().convert_fully_connected(op)
            finally:
                del self.get_tensor_expr
            out_tensor = self.get_output_tensors(op)[0]
            out_shape = [int(d) for d in self.get_tensor_shape(out_tensor)]
            if int(np.prod(out_shape)) == (size // in_n) * int(self.get_tensor_shape(weight)[0]) and len(out_shape) != 2:
                out = relax.op.reshape(out, out_shape)  # keep_num_dims
            return out

    return TinyEngineOperatorConverter


def from_tflite(model, input_shapes=None, with_locator=False):
    """Import a TFLite model (path or bytes) into a Relax IRModule.

    Returns (mod, inputs, outputs) where inputs/outputs are TensorInfo lists. An input with a dynamic
    dimension is refused (``check_static_inputs``) unless ``input_shapes`` confirms its stored shape.
    ``with_locator``: also return, per TFLite operator, the Relax calls its conversion made (``locate``).
    """
    from tvm.relax.frontend.tflite import from_tflite as tvm_from_tflite

    m, _, label = read_model(model)
    check_supported(m, label)
    inputs, outputs = model_io(m)
    check_static_inputs(inputs, label, input_shapes)
    cls = _converter_class()
    located = []

    class Recording(cls):
        def convert_op_to_relax(self):
            try:
                return super().convert_op_to_relax()
            finally:
                located.extend(self.located)

    try:
        mod = tvm_from_tflite(
            m,
            shape_dict={t.name: t.shape for t in inputs},
            dtype_dict={t.name: t.dtype for t in inputs},
            op_converter=Recording,
        )
    except Exception as err:
        msg = str(err).strip().splitlines()
        raise TinyEngineError(f"{label}: TVM's TFLite importer failed at operator #{len(located)}: "
                              f"{msg[-1] if msg else type(err).__name__}") from None
    return (mod, inputs, outputs, located) if with_locator else (mod, inputs, outputs)
