"""Stage 5, recommend: the scoring head, top-K with exclusion and explanations, and the saved serving state."""
