"""Stage 2, embed: the user-item graph, read as an item-item co-occurrence graph that scores beside the model
(:mod:`igcore.embed.cooccur`), or by a GNN by name that gives each user (or item) a vector from the graph."""

GNN_NAMES = ("gin", "gcn", "gat", "sage", "lightgcn")  # igcore.embed.gnn's layers, named without importing torch
GRAPH_ON = ("score", "users", "items")  # how the graph acts (PipelineConfig.graph_on): co-occurrence scores beside
#                                         the head's, a GNN user vector in the fusion, a GNN-propagated item table
