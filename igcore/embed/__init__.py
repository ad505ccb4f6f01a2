"""Stage 2, embed: a GNN by name over the user-item graph, giving each user a vector from the graph alone."""

GNN_NAMES = ("gin", "gcn", "gat", "sage", "lightgcn")  # igcore.embed.gnn's layers, named without importing torch
