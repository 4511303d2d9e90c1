"""Native kernels for pooling and its gradients."""
