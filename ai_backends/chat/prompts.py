"""System prompts of the chat endpoints (kept out of the logic that uses them)."""

CHAT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a conversation. Use the earlier messages for context "
    "and answer the user's latest message clearly and concisely."
)

SEMANTIC_CHAT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the user's question clearly and concisely; "
    "the answer may be reused for other users who ask the same question."
)
