"""Stage 4, decode: the user's sources (sequence, graph, memory) fused into the interest state."""
