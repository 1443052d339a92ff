"""Caching of answers: the exact cache (classify, chat), the semantic cache on MiniLM
embeddings with its near-miss guard, cache statistics, and the evaluation of the guard."""
