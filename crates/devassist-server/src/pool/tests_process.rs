//! Process and command providers with real child processes.
