"""gc.nn: layers that own their variables, composed with Sequential or plain Python."""
from frontends.nn import init  # noqa: F401,E402
from frontends.nn.attention import MultiHeadAttention, positional_encoding  # noqa: F401,E402
from frontends.nn.base import Layer  # noqa: F401
from frontends.nn.conv import *  # noqa: F401,F403,E402  (conv, pooling, Flatten)
from frontends.nn.layers import Activation, Dense, Dropout, Embedding, Sequential  # noqa: F401,E402
from frontends.nn.norm import BatchNorm, LayerNorm  # noqa: F401,E402
from frontends.nn.recurrent import GRU, LSTM, SimpleRNN  # noqa: F401,E402
