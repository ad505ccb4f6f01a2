"""The encode -> embed -> update -> decode -> recommend pipeline, driven by one PipelineConfig."""
