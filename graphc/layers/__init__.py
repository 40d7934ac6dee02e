"""Keras-style layers."""
from .core import Activation, Dense, Identity
from .input_layer import Input, InputLayer
from .layer import Layer
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      maximum, minimum, multiply, subtract)
from .reshaping import Flatten, Reshape
from .activation_layers import ELU, LeakyReLU, ReLU, Softmax
from .embedding import Embedding
from .regularization import Dropout, SpatialDropout1D, SpatialDropout2D
from .rnn import LSTM
from .convolutional import Conv2D, Conv2DTranspose, Convolution2D, Convolution2DTranspose, DepthwiseConv2D
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .reshaping2d import Cropping2D, UpSampling2D, ZeroPadding2D
from .normalization import BatchNormalization
