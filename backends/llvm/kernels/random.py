"""Native kernels for the counter-based random ops (the splitmix64 spec of graphc/ops)."""
