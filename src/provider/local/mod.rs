//! The offline provider: Tesseract reads images, a rule-based extractor builds summaries.

pub mod dictionaries;
pub mod extractor;
pub mod page;
