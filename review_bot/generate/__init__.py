"""Generation strategies: what to ask the model and how to read its answer."""
