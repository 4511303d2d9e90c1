"""Native kernels for take, take_along_axis, their scatter gradients and one_hot."""
