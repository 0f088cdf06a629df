"""Lift a frozen SR graph into a tf-keras functional model of ordinary layers.

Quantization-aware training (``sropt.quantize.qat``) needs Keras layers that
tensorflow-model-optimization knows how to wrap: Conv2D, ReLU, PReLU, Add,
Activation, plus two registered layer classes of our own (``DepthToSpace`` and
``Scale``; tfmot clones the model, so a ``Lambda`` would not survive).

The graph is read by ops and edges, never by names (FACTS.md §1). Folds, each
exact up to float32 rounding, so every quantization point of the Keras model
is one the TFLite converter also makes:

* ``Conv2D -> Add/BiasAdd(const vector) [-> Relu]`` becomes one Conv2D with a
  bias [and ``activation='relu'``];
* EDSR's residual ``* 0.1`` right after a conv's bias is folded into that
  conv's kernel and bias (a separate Mul would quantize the block output
  twice); a scalar Mul anywhere else becomes a ``Scale`` layer;
* FSRCNN's bias after DepthToSpace moves before it (DepthToSpace only moves
  channels, so conv channel k carries output channel ``k % C``);
* FSRCNN's PReLU ``relu(x) + alpha*(x-|x|)*0.5`` (``rewrite_prelu``'s
  matcher) becomes a Keras PReLU with shared H/W axes;
* the zoo's final NCHW Transpose is left out: the model ends at the NHWC
  tensor, as every TFLite artifact does.

Anything else is collected and raised once as an InputError naming the ops.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.graph_index import GraphIndex
from sropt.convert.rewrite_prelu import find_prelu_patterns
from sropt.core.errors import InputError

if TYPE_CHECKING:
    from sropt.convert.tflite_export import PreparedGraph

SUPPORTED = "Conv2D (+ bias, + scalar Mul), Relu, FSRCNN's PReLU, Add of two tensors, Mul by a scalar, DepthToSpace, Tanh, Identity"


@functools.cache
def keras_layers() -> Any:
    """The registered custom layer classes (built once: Keras refuses a second registration)."""
    import types

    import tensorflow as tf
    import tf_keras as keras

    @keras.saving.register_keras_serializable(package="sropt")
    class DepthToSpace(keras.layers.Layer):
        """``tf.nn.depth_to_space`` as a layer class, so that tfmot can clone it."""

        def __init__(self, block_size: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.block_size = int(block_size)

        def call(self, x):
            return tf.nn.depth_to_space(x, self.block_size)

        def get_config(self) -> dict:
            return {**super().get_config(), "block_size": self.block_size}

    @keras.saving.register_keras_serializable(package="sropt")
    class Scale(keras.layers.Layer):
        """Multiply by a constant scalar (a residual scale that could not be folded into a conv)."""

        def __init__(self, factor: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.factor = float(factor)

        def call(self, x):
            return x * self.factor

        def get_config(self) -> dict:
            return {**super().get_config(), "factor": self.factor}

    return types.SimpleNamespace(DepthToSpace=DepthToSpace, Scale=Scale)


@dataclass
class LiftedKeras:
    """A float tf-keras model computing a frozen graph's NHWC output, and what was folded."""

    model: Any  # tf_keras.Model, input [None, None, None, C]
    input_name: str
    output_name: str  # the graph tensor the model's output equals (NHWC)
    folds: list[str] = field(default_factory=list)


def _layer_name(node: str) -> str:
    return node.replace("/", "_").replace(":", "_")


class _Lifter:
    """One pass over the graph in topological order, building Keras tensors by node name."""

    def __init__(self, prepared: "PreparedGraph") -> None:
        self.index = GraphIndex(prepared.graph_def)
        self.prepared = prepared
        self.tensors: dict[str, Any] = {}
        self.absorbed: set[str] = set()  # nodes computed inside an earlier layer
        self.unsupported: list[str] = []
        self.folds: list[str] = []
        self.aliases: dict[str, str] = {}  # a folded-away node -> the node whose tensor it equals
        self.prelus = {m.output: m for m in find_prelu_patterns(prepared.graph_def)}
        for m in self.prelus.values():
            self.absorbed.update(m.removed)

    def _sole_consumer(self, name: str) -> str | None:
        users = self.index.consumers.get(name, [])
        return users[0] if len(users) == 1 else None

    def _const_operand(self, node: str, producer: str) -> np.ndarray | None:
        """The constant other input of binary ``node`` whose tensor input is ``producer``, or None."""
        ins = self.index.inputs(node)
        if len(ins) != 2 or producer not in ins:
            return None
        other = ins[1] if ins[0] == producer else ins[0]
        if not self.index.is_constant(other) or self.index.op(self.index.skip_identity(other)) != "Const":
            return None
        return self.index.const_value(other).astype(np.float32)

    def _conv(self, name: str, x: Any) -> None:
        import tf_keras as keras

        node = self.index.nodes[name]
        kernel = self.index.const_value(self.index.inputs(name)[1]).astype(np.float32)
        cout = kernel.shape[-1]
        bias = np.zeros(cout, np.float32)
        last = name
        nxt = self._sole_consumer(last)
        if nxt and self.index.op(nxt) in ("Add", "AddV2", "BiasAdd"):
            b = self._const_operand(nxt, last)
            if b is not None and b.size == cout:
                bias, last = b.reshape(cout), nxt
                self.absorbed.add(nxt)
        nxt = self._sole_consumer(last)
        if nxt and self.index.op(nxt) == "Mul":
            s = self._const_operand(nxt, last)
            if s is not None and s.size == 1:
                kernel, bias = kernel * s.reshape(()), bias * s.reshape(())
                self.folds.append(f"{nxt}: scale {float(s.reshape(())):g} folded into {name}")
                last = nxt
                self.absorbed.add(nxt)
        self._fold_bias_after_depth_to_space(name, last, bias)
        activation = None
        nxt = self._sole_consumer(last)
        if nxt and self.index.op(nxt) == "Relu":
            # Conv2D(activation="relu"), not Conv2D + ReLU: tfmot 0.8.1's LayerReLUQuantize gives a Conv2D
            # followed by a ReLU layer a NoOpQuantizeConfig, so its kernel would train unquantized
            # while the converter quantizes it (measured: 23 output steps apart on ESPCN_x3's conv1).
            activation, last = "relu", nxt
            self.absorbed.add(nxt)
        strides = list(node.attr["strides"].list.i) or [1, 1, 1, 1]
        dil = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
        layer = keras.layers.Conv2D(
            cout, kernel.shape[:2], strides=strides[1:3], dilation_rate=dil[1:3],
            padding=node.attr["padding"].s.decode().lower(), activation=activation, name=_layer_name(name))
        out = layer(x)
        layer.set_weights([kernel, bias])
        self.tensors[last] = out
        self.tensors[name] = out if last == name else None

    def _fold_bias_after_depth_to_space(self, conv: str, last: str, bias: np.ndarray) -> None:
        """``DepthToSpace(conv) + b`` -> ``DepthToSpace(conv + tile(b))`` (FSRCNN's last layer), in place."""
        d2s = self._sole_consumer(last)
        if not d2s or self.index.op(d2s) != "DepthToSpace":
            return
        add = self._sole_consumer(d2s)
        if not add or self.index.op(add) not in ("Add", "AddV2", "BiasAdd"):
            return
        b = self._const_operand(add, d2s)
        block = self.index.nodes[d2s].attr["block_size"].i
        if b is None or b.size * block * block != bias.size:
            return
        # NHWC DepthToSpace: input channel k lands in output channel k % C.
        bias += np.tile(b.reshape(-1), block * block)
        self.absorbed.add(add)
        self.aliases[add] = d2s
        self.folds.append(f"{add}: bias moved before {d2s} into {conv}")

    def lift(self) -> LiftedKeras:
        """Build the model; InputError listing every op it cannot express."""
        import tf_keras as keras

        prepared = self.prepared
        inp = keras.Input(shape=(None, None, prepared.channels), name="lr")
        self.tensors[prepared.input_name] = inp
        needed = _ancestors(self.index, prepared.output_nhwc)
        for name in self.index.topological_order:
            if name not in needed or name in self.tensors:
                continue
            if name in self.aliases:
                self.tensors[name] = self.tensors[self.aliases[name]]
                continue
            if name in self.absorbed:
                continue
            self._lift_node(name)
        if self.unsupported:
            raise InputError(
                f"{prepared.source.artifact.path}: QAT cannot lift {len(self.unsupported)} op(s) into Keras layers "
                f"tensorflow-model-optimization can quantize (it lifts: {SUPPORTED}). "
                "Quantize without --qat-steps (post-training INT8) instead.",
                problems=[f"unsupported op: {u}" for u in self.unsupported],
            )
        model = keras.Model(inp, self.tensors[prepared.output_nhwc], name="sropt_lifted")
        return LiftedKeras(model, prepared.input_name, prepared.output_nhwc, self.folds)

    def _lift_node(self, name: str) -> None:
        import tf_keras as keras

        node = self.index.nodes[name]
        op = node.op
        if op in ("Const", "Placeholder"):
            return
        if name in self.prelus:  # its Abs/Sub/Mul inputs were never built: it reads x itself
            self._prelu(name)
            return
        ins = [i for i in self.index.inputs(name) if not self.index.is_constant(i)]
        if any(i not in self.tensors or self.tensors[i] is None for i in ins):
            # Downstream of an op already reported: report causes only, not the whole tail of the graph.
            self.tensors[name] = None
            return
        args = [self.tensors[i] for i in ins]
        layer_name = _layer_name(name)
        if op == "Identity":
            self.tensors[name] = args[0]
        elif op == "Conv2D" and len(args) == 1:
            self._conv(name, args[0])
        elif op == "Relu":
            self.tensors[name] = keras.layers.ReLU(name=layer_name)(args[0])
        elif op == "Tanh":
            self.tensors[name] = keras.layers.Activation("tanh", name=layer_name)(args[0])
        elif op in ("Add", "AddV2") and len(args) == 2:
            self.tensors[name] = keras.layers.Add(name=layer_name)(args)
        elif op == "Mul" and len(args) == 1 and (s := self._const_operand(name, ins[0])) is not None and s.size == 1:
            self.tensors[name] = keras_layers().Scale(float(s.reshape(())), name=layer_name)(args[0])
        elif op == "DepthToSpace" and len(args) == 1:
            block = node.attr["block_size"].i
            self.tensors[name] = keras_layers().DepthToSpace(block, name=layer_name)(args[0])
        else:
            with_const = len(ins) < len(self.index.inputs(name))
            self.unsupported.append(f"{name} ({op}{' with a constant operand' if with_const else ''})")
            self.tensors[name] = None

    def _prelu(self, name: str) -> None:
        import tf_keras as keras

        match = self.prelus[name]
        x = self.tensors[match.x.split(":")[0]]
        channels = int(x.shape[-1])
        layer = keras.layers.PReLU(shared_axes=[1, 2], name=_layer_name(name))
        out = layer(x)
        layer.set_weights([np.broadcast_to(match.alpha.reshape(1, 1, -1), (1, 1, channels)).astype(np.float32)])
        self.tensors[name] = out


def _ancestors(index: GraphIndex, output: str) -> set[str]:
    seen, stack = set(), [output]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(index.inputs(n))
    return seen


def lift_to_keras(prepared: "PreparedGraph") -> LiftedKeras:
    """A float tf-keras model equal to ``prepared``'s NHWC output; InputError naming any op it cannot lift."""
    return _Lifter(prepared).lift()
