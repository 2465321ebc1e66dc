//! hoptrail's pure logic: the event model every other crate shares, hop stitching and the
//! detection rules. This crate performs no I/O, spawns nothing and never reads a
//! clock: time always arrives as an argument, so everything here can be tested exhaustively.
#![warn(missing_docs)]

pub mod detect;
pub mod event;
pub mod path;
pub mod time;

pub use event::{
    Agent, Credential, Event, EventBody, Outcome, SessionRef, Task, Token, TokenAction, TokenUse,
    Tool, ToolUse, Trace,
};
