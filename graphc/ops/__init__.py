"""Primitive ops: one OpDef per op (infer / ref / lower / grad) and the functional API layers use.

Layers compose these functions inside ``call`` the way Keras layers compose ``keras.ops``; each
function appends a node to the graph being traced (see ``Builder``).
"""
from . import elementwise, linalg, nn, reduce, shape  # noqa: F401  (registers the ops)
from .base import REGISTRY, Builder, LowerContext, OpDef, OpError, current_builder, emit, get_op, register_op
from .gradients import reduce_to_shape
from .elementwise import (abs_, add, cast, div, elu, equal, erf, exp, greater, greater_or_equal, identity, isnan,
                          leaky_relu, less, less_or_equal, log, logical_and, logical_not, maximum, minimum, mul,
                          neg, pow_, reciprocal, relu, selu, sigmoid, sign, softplus, sqrt, sub, tanh, where)
from .linalg import gemm, matmul
from .nn import log_softmax, softmax, zeros_like
from .reduce import reduce_max, reduce_mean, reduce_min, reduce_sum
from .shape import (cast_int64, concat, dyn_reshape, expand, expand_like, flatten, gather, pad, reshape, reshape_like,
                    shape_of, slice_, squeeze, transpose, unsqueeze)
from . import checks, random  # noqa: F401,E402  (Embedding id checks, Dropout)
from . import conv, pool, resize  # noqa: F401,E402  (Conv, ConvTranspose, pooling, Resize)
from .conv import conv2d, conv_transpose2d, same_pad  # noqa: E402
from .pool import average_pool2d, global_average_pool, global_max_pool, max_pool2d  # noqa: E402
from .resize import resize_nearest  # noqa: E402
from . import rnn  # noqa: F401,E402  (LSTM and its Scan gradient)
from . import normalization  # noqa: F401,E402  (BatchNormalization)
from . import misc, loss_ops, contrib  # noqa: F401,E402  (ONNX import ops, ONNX losses, onnxruntime fusions)
