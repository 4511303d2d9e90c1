"""Native kernels for layout ops that move data: concatenate, pad, unslice, im2col/col2im."""
