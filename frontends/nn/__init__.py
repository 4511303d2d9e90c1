"""gc.nn: layers that own their variables, composed with Sequential or plain Python."""
from frontends.nn.base import Layer  # noqa: F401
from frontends.nn import init  # noqa: F401,E402
from frontends.nn.layers import Activation, Dense, Dropout, Embedding, Sequential  # noqa: F401,E402
from frontends.nn.norm import BatchNorm, LayerNorm  # noqa: F401,E402
from frontends.nn.recurrent import GRU, LSTM, SimpleRNN  # noqa: F401,E402
from frontends.nn.attention import MultiHeadAttention, positional_encoding  # noqa: F401,E402
