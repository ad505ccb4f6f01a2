"""Stage 2, embed: a GNN by name over the user-item graph, giving each user a vector from the graph alone."""
