"""Native kernels for matmul and the convolution products (BLAS for floats, loops for ints)."""
