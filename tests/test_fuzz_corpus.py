"""The random-model corpus (tests/corpus/tflite, made by scripts/fuzz_tflite.py with TensorFlow's
converter, outputs from LiteRT's BUILTIN_REF kernels): every model either compiles and is byte-exact
with LiteRT on every stored input (every output, every batch element), or is refused with a
TinyEngineError whose message is one line naming the operator and its place. Never a traceback,
never a wrong result. The default run takes a fixed slice of the corpus; ``-m slow`` takes the rest.
The suite does not need TensorFlow: the inputs and reference outputs are stored beside each model.
"""

import os

import numpy as np
import pytest

from tinyengine_tvm.testing.corpus import Case, check_case, list_cases, load_case, message_names_operator

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tflite")
MODELS = list_cases(CORPUS)
DEFAULT_EVERY = 6  # the default run checks every 6th model (a deterministic slice, ~30 s)


def _params():
    for i, p in enumerate(MODELS):
        name = os.path.basename(p)[: -len(".tflite")]
        yield pytest.param(p, id=name, marks=() if i % DEFAULT_EVERY == 0 else pytest.mark.slow)


def _explain(o) -> str:
    recipe = "; ".join(o.meta.get("recipe", []))
    return f"{o.name}: {o.status}: {o.message}\n  recipe: {recipe}\n{o.detail}"


def test_corpus_is_there_and_small():
    assert len(MODELS) >= 100, f"corpus {CORPUS} has {len(MODELS)} models"
    total = sum(os.path.getsize(os.path.join(CORPUS, f)) for f in os.listdir(CORPUS))
    assert total <= 5 * 1024 * 1024, f"corpus is {total} bytes (> 5 MB)"
    for p in MODELS[:: DEFAULT_EVERY]:  # each case has its 3 samples, inputs and outputs
        case = load_case(p)
        assert len(case.samples) == 3 and all(xs and ys for xs, ys in case.samples), case.name


@pytest.mark.parametrize("path", list(_params()))
def test_corpus_model_exact_or_refused_clearly(path):
    o = check_case(load_case(path))
    assert o.status in ("exact", "rejected"), _explain(o)


def test_judge_catches_a_wrong_byte():
    """The check itself: one flipped byte in a stored LiteRT output of an exact model is a mismatch."""
    for p in MODELS[:: DEFAULT_EVERY]:
        case = load_case(p)
        o = check_case(case)
        if o.status != "exact":
            continue
        xs, ys = case.samples[-1]
        ys = [y.copy() for y in ys]
        flat = ys[-1].reshape(-1).view(np.uint8)
        flat[-1] ^= 1  # last byte of the last batch element of the last output
        bad = check_case(Case(case.name, case.model_path, [(xs, ys)], case.meta))
        assert bad.status == "mismatch", bad
        return
    pytest.fail("no model of the default slice compiled exactly")


@pytest.mark.parametrize("msg,ok", [
    ("m.tflite: unsupported operator: TANH (operator #2, output 'x')", True),
    ("m.tflite: unsupported operators: MUL (operator #3, output 'a'); LOGISTIC (operator #4, output 'b')", True),
    ("m.tflite: graph passes failed: Index out of range. size: 0, got index 0", False),
    ("operator relax.add (bound to 'lv3' in main) has no tinyengine kernel", False),
    ("m.tflite: FULLY_CONNECTED (operator #5)\n  traceback follows", False),
])
def test_message_rule(msg, ok):
    assert message_names_operator(msg) is ok
