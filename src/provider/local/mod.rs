//! The offline provider: Tesseract reads images, a rule-based extractor builds summaries.
