//! Errors and exit codes (stub).
