"""Stage 3, update: TGN memory that keeps user and item states current as events stream in."""
