//! Test servers that postmill's integration tests and benchmarks run against: a
//! Gemini-compatible and an OpenAI-compatible API, in-process on 127.0.0.1, answering the
//! way the real services do (bodies, quotas, faults) and logging what they were sent.

pub mod gemini;
pub mod openai;
