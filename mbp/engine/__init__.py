"""The head engine: gate, structurally prune, score, order, evaluate and fine-tune."""
