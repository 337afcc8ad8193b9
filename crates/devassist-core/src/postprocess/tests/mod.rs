//! Tests for post-processing: stop cuts (one-shot and streamed), suffix overlap, generation
//! clean-up and the option switches.

mod completion;
mod generation;
mod stop;
