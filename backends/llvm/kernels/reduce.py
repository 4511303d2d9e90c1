"""Native kernels for reductions: sum, prod, max, min, argmax, argmin, shape_size."""
