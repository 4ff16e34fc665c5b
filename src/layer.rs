//! A [`tracing_subscriber::Layer`] that turns the instrumentation [`Convention`] into ledger records.
//!
//! It ships with its own per-layer filter: callsites it does not care about get
//! `Interest::never` from it and cost nothing, and a `RUST_LOG` [`EnvFilter`] placed on the fmt
//! layer does not hide toolseq's spans from it. Put the `EnvFilter` on the fmt layer, not on the
//! whole registry: a global filter would drop the tool-call spans before any layer sees them and
//! the ledger would go blind.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use toolseq::ledger::Ledger;
//!
//! let ledger = Ledger::new();
//! let subscriber = tracing_subscriber::registry()
//!     .with(toolseq::layer::layer(&ledger));
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = toolseq::tool_call_span!("call_1", "shell");
//!     let _enter = span.enter();
//!     toolseq::tool_output!("call_1");
//! });
//! assert_eq!(ledger.snapshot("default").unwrap().records.len(), 2);
//! ```
//!
//! [`EnvFilter`]: https://docs.rs/tracing-subscriber/latest/tracing_subscriber/filter/struct.EnvFilter.html

use std::fmt;
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::convention::{Convention, EventKind, REQUEST_OPERATIONS};
use crate::ledger::{family_from_name, Ledger, DEFAULT_CONVERSATION};
use crate::skeleton::Family;

/// The toolseq layer with its own filter, ready for `registry().with(...)`.
pub type ToolseqLayer<S> = Filtered<LedgerLayer, InterestFilter, S>;

/// The layer with the default [`Convention`] (OpenTelemetry GenAI names).
pub fn layer<S>(ledger: &Ledger) -> ToolseqLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    layer_with(ledger, Convention::default())
}

/// The layer with a client's own names added (see [`Convention`]).
pub fn layer_with<S>(ledger: &Ledger, convention: Convention) -> ToolseqLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let convention = Arc::new(convention);
    LedgerLayer {
        ledger: ledger.clone(),
        convention: convention.clone(),
    }
    .with_filter(InterestFilter { convention })
}

/// The per-layer filter: interested only in callsites the convention names.
#[derive(Debug, Clone)]
pub struct InterestFilter {
    convention: Arc<Convention>,
}

impl InterestFilter {
    fn interested(&self, meta: &Metadata<'_>) -> bool {
        let c = &self.convention;
        if meta.is_span() {
            c.is_call_span_name(meta.name())
                || c.request_spans.iter().any(|n| n == meta.name())
                || meta.fields().iter().any(|f| c.knows_field(f.name()))
        } else {
            c.event_named(meta.name()).is_some()
                || meta
                    .fields()
                    .iter()
                    .any(|f| c.event_fields.iter().any(|n| n == f.name()))
        }
    }
}

impl<S> Filter<S> for InterestFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.interested(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.interested(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// The layer proper. Use [`layer`] or [`layer_with`], which add its filter.
#[derive(Debug, Clone)]
pub struct LedgerLayer {
    ledger: Ledger,
    convention: Arc<Convention>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanRole {
    Call,
    Request,
    /// Carries a conversation id for its descendants.
    Carrier,
}

/// What the layer keeps in a span's extensions.
#[derive(Debug)]
struct SpanState {
    role: SpanRole,
    call_id: Option<String>,
    tool: Option<String>,
    family: Option<Family>,
    conversation: Option<String>,
    answered: bool,
    started: bool,
}

#[derive(Default)]
struct Fields {
    call_id: Option<String>,
    tool: Option<String>,
    family: Option<Family>,
    conversation: Option<String>,
    operation: Option<String>,
    event: Option<EventKind>,
    result: bool,
}

struct Visitor<'a> {
    convention: &'a Convention,
    fields: &'a mut Fields,
}

impl Visitor<'_> {
    fn is(list: &[String], name: &str) -> bool {
        list.iter().any(|n| n == name)
    }

    fn wanted(&self, name: &str) -> bool {
        let c = self.convention;
        c.knows_field(name)
            || Self::is(&c.tool_name_fields, name)
            || Self::is(&c.family_fields, name)
            || Self::is(&c.result_fields, name)
    }

    fn set(&mut self, name: &str, value: &str) {
        let c = self.convention;
        let f = &mut *self.fields;
        if Self::is(&c.result_fields, name) {
            f.result = true;
        }
        if Self::is(&c.call_id_fields, name) {
            f.call_id = Some(value.to_owned());
        } else if Self::is(&c.conversation_fields, name) {
            f.conversation = Some(value.to_owned());
        } else if Self::is(&c.tool_name_fields, name) {
            f.tool = Some(value.to_owned());
        } else if Self::is(&c.family_fields, name) {
            f.family = family_from_name(value);
        } else if Self::is(&c.operation_fields, name) {
            f.operation = Some(value.to_owned());
        } else if Self::is(&c.event_fields, name) {
            f.event = EventKind::from_field_value(value);
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.wanted(field.name()) {
            self.set(field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.wanted(field.name()) {
            let s = format!("{value:?}");
            // `?id` on a string prints it quoted; `%id` does not.
            let s = s
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(&s);
            self.set(field.name(), s);
        }
    }
}

impl LedgerLayer {
    fn visit(&self, record: impl FnOnce(&mut dyn Visit)) -> Fields {
        let mut fields = Fields::default();
        record(&mut Visitor {
            convention: &self.convention,
            fields: &mut fields,
        });
        fields
    }
}

/// The nearest conversation id and call span in a scope (innermost first).
fn from_scope<'a, S: LookupSpan<'a> + 'a>(
    scope: impl Iterator<Item = tracing_subscriber::registry::SpanRef<'a, S>>,
) -> (Option<String>, Option<(Id, String)>) {
    let mut conversation = None;
    let mut call = None;
    for span in scope {
        let ext = span.extensions();
        let Some(state) = ext.get::<SpanState>() else {
            continue;
        };
        if call.is_none() && state.role == SpanRole::Call {
            if let Some(id) = &state.call_id {
                call = Some((span.id(), id.clone()));
            }
        }
        if conversation.is_none() {
            conversation = state.conversation.clone();
        }
        if conversation.is_some() && call.is_some() {
            break;
        }
    }
    (conversation, call)
}

impl<S> Layer<S> for LedgerLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let f = self.visit(|v| attrs.record(v));
        let op = f.operation.as_deref();
        let role = if self.convention.is_call_span_name(meta.name()) || op == Some("execute_tool") {
            SpanRole::Call
        } else if self
            .convention
            .request_spans
            .iter()
            .any(|n| n == meta.name())
            || op.is_some_and(|o| REQUEST_OPERATIONS.contains(&o))
        {
            SpanRole::Request
        } else {
            SpanRole::Carrier
        };
        let Some(span) = ctx.span(id) else { return };
        let conversation = f
            .conversation
            .or_else(|| span.parent().and_then(|p| from_scope(p.scope()).0));
        let mut state = SpanState {
            role,
            call_id: f.call_id,
            tool: f.tool,
            family: f.family,
            conversation,
            answered: f.result,
            started: false,
        };
        let conv = state
            .conversation
            .as_deref()
            .unwrap_or(DEFAULT_CONVERSATION);
        match role {
            SpanRole::Call => {
                if let Some(call_id) = &state.call_id {
                    self.ledger
                        .call_started(conv, call_id, state.tool.as_deref(), state.family);
                    state.started = true;
                }
            }
            SpanRole::Request => self.ledger.model_request(conv),
            SpanRole::Carrier => {}
        }
        span.extensions_mut().insert(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let f = self.visit(|v| values.record(v));
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(state) = ext.get_mut::<SpanState>() else {
            return;
        };
        state.answered |= f.result;
        state.tool = f.tool.or(state.tool.take());
        state.family = f.family.or(state.family);
        if state.conversation.is_none() {
            state.conversation = f.conversation;
        }
        if state.role == SpanRole::Call && !state.started {
            if let Some(call_id) = f.call_id {
                let conv = state
                    .conversation
                    .as_deref()
                    .unwrap_or(DEFAULT_CONVERSATION);
                self.ledger
                    .call_started(conv, &call_id, state.tool.as_deref(), state.family);
                state.call_id = Some(call_id);
                state.started = true;
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let f = self.visit(|v| event.record(v));
        let Some(kind) = f
            .event
            .or_else(|| self.convention.event_named(event.metadata().name()))
        else {
            return;
        };
        let (scope_conv, scope_call) = match ctx.event_scope(event) {
            Some(scope) => from_scope(scope),
            None => (None, None),
        };
        let conversation = f.conversation.or(scope_conv);
        let conv = conversation.as_deref().unwrap_or(DEFAULT_CONVERSATION);
        match kind {
            EventKind::ToolOutput => {
                let call_id = f
                    .call_id
                    .or_else(|| scope_call.as_ref().map(|(_, id)| id.clone()));
                let Some(call_id) = call_id else { return };
                self.ledger.output_recorded(conv, &call_id);
                if let Some(span) = scope_call
                    .filter(|(_, id)| *id == call_id)
                    .and_then(|(span_id, _)| ctx.span(&span_id))
                {
                    if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
                        state.answered = true;
                    }
                }
            }
            EventKind::UserMessage => self.ledger.user_message(conv),
            EventKind::AssistantMessage => self.ledger.assistant_message(conv),
            EventKind::Interrupt => self.ledger.interrupt(conv),
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(state) = ext.get::<SpanState>() else {
            return;
        };
        if state.role != SpanRole::Call || !state.started {
            return;
        }
        if let Some(call_id) = &state.call_id {
            let conv = state
                .conversation
                .as_deref()
                .unwrap_or(DEFAULT_CONVERSATION);
            self.ledger.call_ended(conv, call_id, state.answered);
        }
    }
}
