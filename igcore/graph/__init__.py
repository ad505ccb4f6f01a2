"""Stage 2, embed: the user-item interest graph and the GNN that embeds it."""
