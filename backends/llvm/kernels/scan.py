"""Native kernels for scan: a loop over the body, lowered as a function of its own."""
