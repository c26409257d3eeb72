//! Tests of PDF input on generated PDFs.
