"""The solution writer, one module per phase: forward, loss, backward, update."""
