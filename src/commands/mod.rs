//! Subcommands (stub).
