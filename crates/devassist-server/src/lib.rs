//! The gateway server.
