//! Which span and field names the layer reads: OpenTelemetry's GenAI vocabulary and the Codex
//! CLI's own instrumentation by default, plus whatever names a client already uses.
//!
//! | what | OpenTelemetry GenAI | Codex (codex-rs) |
//! | --- | --- | --- |
//! | tool call span | name `execute_tool` or `execute_tool {name}`, or field `gen_ai.operation.name = "execute_tool"` | `dispatch_tool_call_with_code_mode_result` (TRACE), or any span with `codex.tool.phase = "dispatch"` (its OpenTelemetry export names it after the tool); `mcp.tools.call` |
//! | call id | field `gen_ai.tool.call.id` | `call_id`, `tool.call_id` |
//! | tool name | field `gen_ai.tool.name` | `tool_name`, `tool.name` |
//! | cancelled | the call span closes with no output | |
//! | interrupted, answered by the client | | the call span records `aborted = true`: Codex then stores an `aborted by user` output when the call's future ends |
//! | conversation | field `gen_ai.conversation.id` on the span or event, else the nearest ancestor span carrying one, else `default` | `conversation.id`, `thread.id` on the `turn` span, `thread_id` on `session_loop` |
//! | tool output | event with `toolseq.event = "tool_output"`, or an event named `gen_ai.tool.message`; or the call span recording `gen_ai.tool.call.result` | |
//! | output produced, stored when the call ends | | event `event.name = "codex.tool_result"` (emitted twice; before post-tool hooks and before the output is in Codex's history) |
//! | call ended, output on its way into history | the call span closes | `event.name = "codex.tool_result_ready"` or `"codex.tool_call"`, or the dispatch span closes |
//! | user / assistant message | `toolseq.event = "user_message"` / `"assistant_message"`, or events named `gen_ai.user.message` / `gen_ai.assistant.message` | |
//! | user message the client queues behind running calls | | `event.name = "codex.user_prompt"` (also fires for text typed into a running turn, which Codex sends after the outputs) |
//! | interrupt | `toolseq.event = "interrupt"` | span `submission_dispatch` with `codex.op = "interrupt"` |
//! | model request | span named `toolseq.model_request`, or `gen_ai.operation.name` = `chat`, `text_completion` or `generate_content` | `event.name = "codex.api_request"` or `"codex.websocket_request"` (after each attempt; one naming no conversation, such as the `/models` listing, starts none) |
//! | pairing family | field `toolseq.tool.family` (`function`, `custom`, `local_shell`, `tool_search`, `computer`) | |
//!
//! Codex's meanings are those of the released CLI (0.171.0), as its end-to-end suite
//! (`tests/e2e`) shows them: a Codex call is settled when its future has ended, not when its
//! result event fires, so a guard never builds a body before Codex has stored the output.
//!
//! Events of the target `codex_otel.log_only` are left out: Codex emits each event twice, and
//! the trace-safe copy is the one read.
//!
//! Only these fields are read: arguments, outputs, message texts and the e-mail address that
//! Codex's log-only events carry are never looked at, let alone recorded.
//!
//! Codex's dispatch span is at TRACE level. The layer's own filter asks for it, so it reaches the
//! ledger whatever `RUST_LOG` says, as long as the `EnvFilter` sits on the fmt layer.
//!
//! A client with its own names maps them once:
//!
//! ```
//! use toolseq::convention::Convention;
//!
//! // A client whose `run_tool` span carries `tool_call_id` and `session_id` fields.
//! let convention = Convention::default()
//!     .call_span("run_tool")
//!     .call_id_field("tool_call_id")
//!     .tool_name_field("tool")
//!     .conversation_field("session_id");
//! ```

/// What an event means to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A tool call's output was recorded.
    ToolOutput,
    /// A user message arrived.
    UserMessage,
    /// The model produced a message.
    AssistantMessage,
    /// The user interrupted the turn.
    Interrupt,
    /// A model request was sent.
    ModelRequest,
    /// A tool produced its call's output, which the client stores when the call ends: the call
    /// keeps holding up requests until then.
    OutputProduced,
    /// A call's future ended and its output (real, failed or aborted) is on its way into the
    /// client's history: the call is settled, answered by the client.
    CallEnded,
    /// A user message the client holds back and sends after the outputs of the calls still
    /// running.
    QueuedUserMessage,
}

impl EventKind {
    /// The value of the `toolseq.event` field meaning this kind.
    pub fn field_value(self) -> &'static str {
        match self {
            EventKind::ToolOutput => "tool_output",
            EventKind::UserMessage => "user_message",
            EventKind::AssistantMessage => "assistant_message",
            EventKind::Interrupt => "interrupt",
            EventKind::ModelRequest => "model_request",
            EventKind::OutputProduced => "output_produced",
            EventKind::CallEnded => "call_ended",
            EventKind::QueuedUserMessage => "queued_user_message",
        }
    }

    pub(crate) fn from_field_value(v: &str) -> Option<Self> {
        [
            EventKind::ToolOutput,
            EventKind::UserMessage,
            EventKind::AssistantMessage,
            EventKind::Interrupt,
            EventKind::ModelRequest,
            EventKind::OutputProduced,
            EventKind::CallEnded,
            EventKind::QueuedUserMessage,
        ]
        .into_iter()
        .find(|k| k.field_value() == v)
    }
}

/// The names the layer recognises. Start from [`Convention::default`] and add a client's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convention {
    pub(crate) call_spans: Vec<String>,
    pub(crate) call_span_prefixes: Vec<String>,
    pub(crate) request_spans: Vec<String>,
    pub(crate) call_id_fields: Vec<String>,
    pub(crate) tool_name_fields: Vec<String>,
    pub(crate) family_fields: Vec<String>,
    pub(crate) conversation_fields: Vec<String>,
    pub(crate) operation_fields: Vec<String>,
    pub(crate) result_fields: Vec<String>,
    pub(crate) cancel_fields: Vec<String>,
    pub(crate) abort_fields: Vec<String>,
    pub(crate) event_fields: Vec<String>,
    pub(crate) events: Vec<(String, EventKind)>,
    pub(crate) ignored_targets: Vec<String>,
}

/// Operation field values that mark a tool call span: GenAI's, and the phase Codex's dispatch
/// span carries.
pub(crate) const CALL_OPERATIONS: [&str; 2] = ["execute_tool", "dispatch"];

/// Operation field values that mark an interrupt (Codex's `submission_dispatch` span).
pub(crate) const INTERRUPT_OPERATIONS: [&str; 1] = ["interrupt"];

/// `gen_ai.operation.name` values that mark a model request span.
pub(crate) const REQUEST_OPERATIONS: [&str; 3] = ["chat", "text_completion", "generate_content"];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Convention {
    fn default() -> Self {
        Convention {
            call_spans: names(&[
                "execute_tool",
                "dispatch_tool_call_with_code_mode_result",
                "mcp.tools.call",
            ]),
            call_span_prefixes: names(&["execute_tool "]),
            request_spans: names(&["toolseq.model_request"]),
            call_id_fields: names(&["gen_ai.tool.call.id", "call_id", "tool.call_id"]),
            tool_name_fields: names(&["gen_ai.tool.name", "tool_name", "tool.name"]),
            family_fields: names(&["toolseq.tool.family"]),
            conversation_fields: names(&[
                "gen_ai.conversation.id",
                "conversation.id",
                "thread.id",
                "thread_id",
            ]),
            operation_fields: names(&["gen_ai.operation.name", "codex.tool.phase", "codex.op"]),
            result_fields: names(&["gen_ai.tool.call.result"]),
            cancel_fields: Vec::new(),
            abort_fields: names(&["aborted"]),
            event_fields: names(&["toolseq.event", "event.name"]),
            events: vec![
                ("codex.tool_result".into(), EventKind::OutputProduced),
                ("codex.tool_result_ready".into(), EventKind::CallEnded),
                ("codex.tool_call".into(), EventKind::CallEnded),
                ("codex.user_prompt".into(), EventKind::QueuedUserMessage),
                ("codex.api_request".into(), EventKind::ModelRequest),
                ("codex.websocket_request".into(), EventKind::ModelRequest),
                ("gen_ai.tool.message".into(), EventKind::ToolOutput),
                ("gen_ai.user.message".into(), EventKind::UserMessage),
                (
                    "gen_ai.assistant.message".into(),
                    EventKind::AssistantMessage,
                ),
            ],
            // Codex emits each of its events twice: for logs (`codex_otel.log_only`, with the
            // prompt, arguments and e-mail) and for traces (`codex_otel.trace_safe`). The
            // trace-safe copy is read; the other would count every prompt and request twice.
            ignored_targets: names(&["codex_otel.log_only"]),
        }
    }
}

impl Convention {
    /// Also treat spans with this name as tool calls.
    pub fn call_span(mut self, name: impl Into<String>) -> Self {
        self.call_spans.push(name.into());
        self
    }

    /// Also treat spans with this name as model requests.
    pub fn request_span(mut self, name: impl Into<String>) -> Self {
        self.request_spans.push(name.into());
        self
    }

    /// Also read the call id from this field.
    pub fn call_id_field(mut self, name: impl Into<String>) -> Self {
        self.call_id_fields.push(name.into());
        self
    }

    /// Also read the tool name from this field.
    pub fn tool_name_field(mut self, name: impl Into<String>) -> Self {
        self.tool_name_fields.push(name.into());
        self
    }

    /// Also read the conversation id from this field.
    pub fn conversation_field(mut self, name: impl Into<String>) -> Self {
        self.conversation_fields.push(name.into());
        self
    }

    /// Also read the pairing family from this field.
    pub fn family_field(mut self, name: impl Into<String>) -> Self {
        self.family_fields.push(name.into());
        self
    }

    /// Also treat a call span that records this field as answered when it closes.
    pub fn result_field(mut self, name: impl Into<String>) -> Self {
        self.result_fields.push(name.into());
        self
    }

    /// Also treat a call span that records this field as `true` as cancelled at that moment.
    pub fn cancel_field(mut self, name: impl Into<String>) -> Self {
        self.cancel_fields.push(name.into());
        self
    }

    /// Also treat a call span that records this field as `true` as interrupted, to be answered
    /// by the client's own abort output when the call ends (Codex's `aborted`).
    pub fn abort_field(mut self, name: impl Into<String>) -> Self {
        self.abort_fields.push(name.into());
        self
    }

    /// Also leave out every event of this target (a client's second copy of each event).
    pub fn ignore_target(mut self, target: impl Into<String>) -> Self {
        self.ignored_targets.push(target.into());
        self
    }

    /// Also treat events with this name (`tracing::info!(name: "...", ...)`), or whose event
    /// field (`toolseq.event`, `event.name`) has this value, as `kind`.
    pub fn event(mut self, name: impl Into<String>, kind: EventKind) -> Self {
        self.events.push((name.into(), kind));
        self
    }
}
