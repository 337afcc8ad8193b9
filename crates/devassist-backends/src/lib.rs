//! Upstream clients (filled in by the backends work).
