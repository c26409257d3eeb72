//! Placeholder: written in the validate work (issue 7).
