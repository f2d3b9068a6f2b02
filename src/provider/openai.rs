//! OpenAI-compatible chat-completions servers (OpenAI, DashScope compatible mode, GLM,
//! vLLM, Ollama, llama.cpp server).
