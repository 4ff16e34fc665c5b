//! One-line helpers that emit the instrumentation convention, using OpenTelemetry GenAI names so
//! that an OpenTelemetry exporter beside toolseq reads them too.
//!
//! ```
//! # use tracing_subscriber::prelude::*;
//! # let ledger = toolseq::ledger::Ledger::new();
//! # let _guard = tracing::subscriber::set_default(
//! #     tracing_subscriber::registry().with(toolseq::layer::layer(&ledger)));
//! let turn = toolseq::conversation_span!("conv-7");
//! let _turn = turn.enter();
//! toolseq::user_message!();
//! {
//!     let call = toolseq::tool_call_span!("call_1", "shell");
//!     let _call = call.enter();
//!     // ... run the tool ...
//!     toolseq::tool_output!("call_1");
//! }
//! let request = toolseq::model_request_span!("gpt-5");
//! # drop(request);
//! assert_eq!(ledger.snapshot("conv-7").unwrap().records.len(), 4);
//! ```
//!
//! Each macro also takes `conversation = ...` to name the conversation explicitly, and
//! [`tool_call_span!`](crate::tool_call_span) takes `family = "custom"` (or `local_shell`,
//! `tool_search`, `computer`) for calls that are not plain function calls.

/// A span for one tool call: `execute_tool` with `gen_ai.tool.call.id` and `gen_ai.tool.name`.
/// Run the tool inside it (`.enter()` or `.instrument(span)`); when it closes without a
/// [`tool_output!`](crate::tool_output), the ledger marks the call cancelled.
#[macro_export]
macro_rules! tool_call_span {
    ($call_id:expr, $tool:expr $(, conversation = $conv:expr)? $(, family = $family:expr)?) => {
        $crate::__tracing::info_span!(
            "execute_tool",
            otel.name = %::core::format_args!("execute_tool {}", $tool),
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %$tool,
            gen_ai.tool.call.id = %$call_id
            $(, gen_ai.conversation.id = %$conv)?
            $(, toolseq.tool.family = %$family)?
        )
    };
}

/// An event saying the output of this call was recorded.
#[macro_export]
macro_rules! tool_output {
    ($call_id:expr $(, conversation = $conv:expr)?) => {
        $crate::__tracing::info!(
            toolseq.event = "tool_output",
            gen_ai.tool.call.id = %$call_id
            $(, gen_ai.conversation.id = %$conv)?,
            "tool output recorded"
        )
    };
}

/// An event saying a user message arrived (never its text).
#[macro_export]
macro_rules! user_message {
    ($(conversation = $conv:expr)?) => {
        $crate::__tracing::info!(
            toolseq.event = "user_message" $(, gen_ai.conversation.id = %$conv)?,
            "user message"
        )
    };
}

/// An event saying the model produced a message (never its text).
#[macro_export]
macro_rules! assistant_message {
    ($(conversation = $conv:expr)?) => {
        $crate::__tracing::info!(
            toolseq.event = "assistant_message" $(, gen_ai.conversation.id = %$conv)?,
            "assistant message"
        )
    };
}

/// An event saying the user interrupted the turn.
#[macro_export]
macro_rules! interrupt {
    ($(conversation = $conv:expr)?) => {
        $crate::__tracing::info!(
            toolseq.event = "interrupt" $(, gen_ai.conversation.id = %$conv)?,
            "turn interrupted"
        )
    };
}

/// A span for one model request (`gen_ai.operation.name = "chat"`).
#[macro_export]
macro_rules! model_request_span {
    ($model:expr $(, conversation = $conv:expr)?) => {
        $crate::__tracing::info_span!(
            "toolseq.model_request",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = %$model
            $(, gen_ai.conversation.id = %$conv)?
        )
    };
}

/// A span naming the conversation for everything inside it.
#[macro_export]
macro_rules! conversation_span {
    ($conv:expr) => {
        $crate::__tracing::info_span!("conversation", gen_ai.conversation.id = %$conv)
    };
}
