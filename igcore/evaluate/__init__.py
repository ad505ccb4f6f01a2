"""The evaluation harness: splits, full-ranking metrics, protocols, baselines and the quality benchmark."""
