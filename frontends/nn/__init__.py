"""gc.nn: layers that own their variables, composed with Sequential or plain Python."""
from frontends.nn.base import Layer  # noqa: F401
