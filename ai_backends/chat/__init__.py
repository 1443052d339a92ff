"""Conversations: chat memory per session (in Redis) and cached single-turn chat."""
