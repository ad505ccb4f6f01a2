"""Stage 1, encode: item text through a pretrained transformer (and, later, behaviour sequences)."""
