"""Keras-style layers."""
from .core import Activation, Dense, Identity
from .input_layer import Input, InputLayer
from .layer import Layer
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      maximum, minimum, multiply, subtract)
from .reshaping import Flatten, Reshape
from .activation_layers import ELU, LeakyReLU, ReLU, Softmax
from .embedding import Embedding
from .regularization import Dropout
from .rnn import LSTM
