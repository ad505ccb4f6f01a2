"""Stage 3, update: the TGN memory over the event stream and the online state that new events move."""
