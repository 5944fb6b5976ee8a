"""Base-model text handling shared by training, evaluation and serving: tokenizer loading and the chat format."""
