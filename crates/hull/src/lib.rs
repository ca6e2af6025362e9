//! hull's command-line definitions, shared by the `hull` binary and `hull-docs` (which
//! renders the man pages and shell completions from them).

pub mod cli;
pub mod version;
