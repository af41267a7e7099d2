//! Safe file writes (stub).
