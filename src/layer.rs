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

use std::any::TypeId;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::hash::BuildHasher;
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tracing_core::callsite::Identifier;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Interest, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::{Extensions, ExtensionsMut, LookupSpan, SpanRef};

use crate::convention::{
    Convention, EventKind, CALL_OPERATIONS, INTERRUPT_OPERATIONS, REQUEST_OPERATIONS,
};
use crate::ledger::{family_from_name, Ledger, DEFAULT_CONVERSATION};
use crate::skeleton::Family;

/// The toolseq layer with its own filter, ready for `registry().with(...)`: a [`Filtered`]
/// layer that is not told when spans are entered or exited.
///
/// Neither the layer nor its filter does anything there, but [`Filtered`] would look each span
/// up in the registry to tell them (tracing-subscriber's own `TODO` in `Filtered` asks for a
/// way to skip such hooks): two registry lookups for each span entered and exited in the
/// program, toolseq's or not.
///
/// On a subscriber that cannot host per-layer filters (the `fmt()` builder's own subscriber,
/// with or without `with_env_filter`), it runs without one instead of panicking: it asks for
/// nothing, leaving every callsite to that subscriber's filter, and reads only the callsites its
/// convention names. It then sees only what that filter lets through: a TRACE dispatch span
/// under `RUST_LOG=info` is not among it.
pub struct ToolseqLayer<S> {
    filtered: Filtered<LedgerLayer, InterestFilter, S>,
    /// Whether the subscriber hosts the filter; decided when the layer is added.
    unfiltered: bool,
    /// Whether a layer below already feeds the same ledger: this one then records nothing, or
    /// every event would be recorded once per copy of the layer.
    inert: bool,
}

/// Whether subscriber type `S` cannot host a per-layer filter. tracing-subscriber's `fmt()`
/// builder makes the one such subscriber of the standard stack, and `register_filter` on it
/// panics; nothing else tells it apart, so its type's name does.
fn hosts_no_filters<S>() -> bool {
    std::any::type_name::<S>().contains("tracing_subscriber::fmt::Subscriber<")
}

impl<S> fmt::Debug for ToolseqLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.filtered.fmt(f)
    }
}

impl<S> ToolseqLayer<S> {
    /// The layer, when the filter does not stand before it: only for callsites it reads.
    fn bare(&self, meta: &Metadata<'_>) -> Option<&LedgerLayer> {
        let layer = self.filtered.inner();
        self.filtered.filter().wants(meta).then_some(layer)
    }
}

impl<S> Layer<S> for ToolseqLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.filtered.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.unfiltered = hosts_no_filters::<S>();
        // The nearest toolseq layer below knows the ones below it: together, every ledger this
        // subscriber already feeds.
        let nearest: &dyn Subscriber = subscriber;
        let below: Vec<Ledger> = nearest
            .downcast_ref::<LedgerLayer>()
            .map(|l| {
                std::iter::once(&l.ledger)
                    .chain(&l.below)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let own = &self.filtered.inner().ledger;
        self.inert = below.iter().any(|l| l.same_as(own));
        self.filtered.inner_mut().below = below;
        if !self.unfiltered {
            self.filtered.on_layer(subscriber);
        }
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.unfiltered {
            // Never `never`: without a filter of its own, that would hide the callsite from
            // every layer. The subscriber's filter decides.
            self.filtered.filter().callsite_enabled_for(meta);
            return Interest::always();
        }
        self.filtered.register_callsite(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.unfiltered || self.filtered.enabled(meta, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.inert {
            return;
        }
        if !self.unfiltered {
            return self.filtered.on_new_span(attrs, id, ctx);
        }
        if let Some(layer) = self.bare(attrs.metadata()) {
            layer.on_new_span(attrs, id, ctx);
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        if self.unfiltered {
            // It asks for no level: the subscriber's own filter sets the hint.
            return None;
        }
        self.filtered.max_level_hint()
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.inert {
            return;
        }
        if !self.unfiltered {
            return self.filtered.on_record(id, values, ctx);
        }
        // A span it never read keeps no state, and the layer returns at once.
        self.filtered.inner().on_record(id, values, ctx);
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        if !self.unfiltered {
            self.filtered.on_follows_from(id, follows, ctx);
        }
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.unfiltered || self.filtered.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if self.inert {
            return;
        }
        if !self.unfiltered {
            return self.filtered.on_event(event, ctx);
        }
        if let Some(layer) = self.bare(event.metadata()) {
            layer.on_event(event, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if self.inert {
            return;
        }
        if !self.unfiltered {
            return self.filtered.on_close(id, ctx);
        }
        self.filtered.inner().on_close(id, ctx);
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        if !self.unfiltered {
            self.filtered.on_id_change(old, new, ctx);
        }
    }

    // `Layered` finds a per-layer filter, and the layer and filter inside, through this hidden
    // method. Without it a stack takes this layer for an unfiltered one, and a callsite that
    // every layer refuses is still asked about at each use (`tests/interest.rs`). Without a
    // filter, it is the unfiltered layer it is.
    #[doc(hidden)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(ptr::from_ref(self).cast());
        }
        if self.unfiltered {
            return None;
        }
        // SAFETY: the inner layer's answer points into `self.filtered`, which lives as long as
        // `self`; the contract is the one this method is called under.
        unsafe { self.filtered.downcast_raw(id) }
    }
}

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
    let lookup = Arc::new(Lookup::new(convention));
    let filtered = LedgerLayer {
        ledger: ledger.clone(),
        lookup: lookup.clone(),
        key: NEXT_LAYER_KEY.fetch_add(1, Ordering::Relaxed),
        below: Vec::new(),
    }
    .with_filter(InterestFilter {
        lookup,
        registered: Arc::new(Registered::with_slots(REGISTERED_SLOTS)),
    });
    ToolseqLayer {
        filtered,
        unfiltered: false,
        inert: false,
    }
}

/// The per-layer filter: interested only in callsites the convention names.
#[derive(Debug, Clone)]
pub struct InterestFilter {
    lookup: Arc<Lookup>,
    registered: Arc<Registered>,
}

impl InterestFilter {
    /// Whether the layer reads spans or events of this callsite.
    fn wants(&self, meta: &Metadata<'_>) -> bool {
        match self.registered.get(meta) {
            Some(interested) => interested,
            None => self.lookup.site(meta).interested,
        }
    }

    /// Works out and keeps what the layer makes of a callsite tracing registers.
    fn callsite_enabled_for(&self, meta: &'static Metadata<'static>) -> bool {
        let interested = self.lookup.site(meta).interested;
        self.registered.insert(meta, interested);
        interested
    }
}

impl<S> Filter<S> for InterestFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.callsite_enabled_for(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// Whether the filter is interested in each registered callsite, by the address of its
/// `'static` metadata, one word a slot.
///
/// `enabled` runs on every span and event of a callsite another layer wants and toolseq does
/// not, so it should touch as little memory as it can: one slot here, rather than a slot of the
/// site table and the site it points to. A `'static` metadata is never moved or freed, so a
/// metadata found at a registered address is that metadata. Metadata built at run time (a log
/// record's, say) is never registered and takes the site table's path.
#[derive(Debug)]
struct Registered {
    /// The metadata's address with the interest in its lowest bit (a metadata holds pointers,
    /// so its address is even); zero for an empty slot.
    slots: Box<[AtomicUsize]>,
}

fn address_of(meta: &Metadata<'_>) -> usize {
    meta as *const Metadata<'_> as usize
}

/// The first `probes` slots from `start` of an open addressing table whose length is a power
/// of two, in probe order: a mask, not a division, on every span and event the layer sees.
fn probe<T>(table: &[T], start: usize, probes: usize) -> impl Iterator<Item = &T> {
    let mask = table.len() - 1;
    (0..probes).map(move |p| &table[start.wrapping_add(p) & mask])
}

/// Slots in the filter's table of registered callsites, a power of two.
const REGISTERED_SLOTS: usize = 2048;

/// Slots a callsite may take in that table before it is left to the site table.
const REGISTERED_PROBES: usize = 4;

impl Registered {
    fn with_slots(slots: usize) -> Self {
        Registered {
            slots: (0..slots.next_power_of_two())
                .map(|_| AtomicUsize::new(0))
                .collect(),
        }
    }

    /// The slots `address` may take, in probe order.
    fn slots(&self, address: usize) -> impl Iterator<Item = &AtomicUsize> {
        // Fibonacci hashing: the product's high half mixes every bit of the address.
        let start = ((address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        probe(&self.slots, start, REGISTERED_PROBES)
    }

    fn insert(&self, meta: &'static Metadata<'static>, interested: bool) {
        let address = address_of(meta);
        for slot in self.slots(address) {
            match slot.compare_exchange(
                0,
                address | usize::from(interested),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                // Registered before: tracing rebuilt its interest cache.
                Err(held) if held & !1 == address => return,
                Err(_) => {}
            }
        }
    }

    fn get(&self, meta: &Metadata<'_>) -> Option<bool> {
        let address = address_of(meta);
        for slot in self.slots(address) {
            match slot.load(Ordering::Relaxed) {
                0 => return None,
                held if held & !1 == address => return Some(held & 1 == 1),
                _ => {}
            }
        }
        None
    }
}

/// The convention's names in hash maps, built once, and what each callsite met so far means.
struct Lookup {
    convention: Convention,
    /// For each field name, the lists it is in, one bit per [`FieldRole`].
    fields: foldhash::HashMap<Box<str>, u16>,
    spans: foldhash::HashMap<Box<str>, SpanRole>,
    events: foldhash::HashMap<Box<str>, EventKind>,
    /// Each callsite's [`Site`], worked out on its first span or event and kept in an open
    /// addressing table that is only ever filled: reading it takes no lock, no thread-local and
    /// no copy. Every span and event the layer reads looks its callsite up here, and so does
    /// the filter for metadata it was never shown at registration.
    sites: Box<[OnceLock<Box<Site>>]>,
    hasher: foldhash::fast::FixedState,
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup")
            .field("convention", &self.convention)
            .finish_non_exhaustive()
    }
}

/// Slots in a lookup's table of sites, a power of two: more than the callsites a large client
/// hits.
const SITE_SLOTS: usize = 4096;

/// Slots a callsite may take before its site is worked out at each use instead of kept.
const SITE_PROBES: usize = 8;

/// What the layer makes of one callsite, from its names alone.
#[derive(Debug, Clone)]
struct Site {
    callsite: Identifier,
    /// Whether the filter lets its spans or events through to the layer.
    interested: bool,
    /// The role of each field, by its index in the callsite's field set. Tracing's macros take
    /// at most 32 fields; a field past those is looked up by name.
    roles: [Option<FieldRole>; 32],
    /// For a span: what its name makes of it.
    span_role: Option<SpanRole>,
    /// For an event: what its name makes of it.
    event: Option<EventKind>,
}

impl Site {
    /// The role of `field`, a field of this callsite or another.
    fn role(&self, lookup: &Lookup, field: &Field) -> Option<FieldRole> {
        match self.roles.get(field.index()) {
            Some(role) if field.callsite() == self.callsite => *role,
            _ => lookup.field_role(field.name()),
        }
    }
}

/// Field lists that make a span worth watching even when its name is not known.
const SPAN_FIELDS: u16 = role_bit(FieldRole::CallId)
    | role_bit(FieldRole::Conversation)
    | role_bit(FieldRole::Operation)
    | role_bit(FieldRole::Event);

const fn role_bit(role: FieldRole) -> u16 {
    1 << role as u16
}

/// The first of `lists` (one bit per [`FieldRole`]) in [`FieldRole`] order.
fn first_role(lists: u16) -> Option<FieldRole> {
    FieldRole::ALL
        .into_iter()
        .find(|&r| lists & role_bit(r) != 0)
}

impl Lookup {
    fn new(c: Convention) -> Self {
        Lookup::with_slots(c, SITE_SLOTS)
    }

    fn with_slots(c: Convention, slots: usize) -> Self {
        let mut fields = foldhash::HashMap::<Box<str>, u16>::default();
        for role in FieldRole::ALL {
            let list = match role {
                FieldRole::CallId => &c.call_id_fields,
                FieldRole::Conversation => &c.conversation_fields,
                FieldRole::Tool => &c.tool_name_fields,
                FieldRole::Operation => &c.operation_fields,
                FieldRole::Event => &c.event_fields,
                FieldRole::Family => &c.family_fields,
                FieldRole::Result => &c.result_fields,
                FieldRole::Cancel => &c.cancel_fields,
                FieldRole::Abort => &c.abort_fields,
            };
            for name in list {
                *fields.entry(name.as_str().into()).or_default() |= role_bit(role);
            }
        }
        let mut spans = foldhash::HashMap::default();
        // A name in both lists is a call span.
        for (list, role) in [
            (&c.request_spans, SpanRole::Request),
            (&c.call_spans, SpanRole::Call),
        ] {
            for name in list {
                spans.insert(name.as_str().into(), role);
            }
        }
        let mut events = foldhash::HashMap::default();
        for (name, kind) in c.events.iter().rev() {
            events.insert(name.as_str().into(), *kind);
        }
        Lookup {
            fields,
            spans,
            events,
            convention: c,
            sites: (0..slots.next_power_of_two())
                .map(|_| OnceLock::new())
                .collect(),
            hasher: foldhash::fast::FixedState::default(),
        }
    }

    /// What `meta`'s callsite means, worked out on its first span or event (or when tracing
    /// registers it) and kept.
    fn site(&self, meta: &Metadata<'_>) -> Cow<'_, Site> {
        let callsite = meta.callsite();
        let start = self.hasher.hash_one(&callsite) as usize;
        for slot in probe(&self.sites, start, SITE_PROBES) {
            // Two callsites racing for an empty slot: the loser sees the winner's and goes on.
            let site = slot.get_or_init(|| Box::new(self.work_out(meta)));
            if site.callsite == callsite {
                return Cow::Borrowed(site);
            }
        }
        Cow::Owned(self.work_out(meta))
    }

    fn work_out(&self, meta: &Metadata<'_>) -> Site {
        let mut roles = [None; 32];
        // Every list any of its fields is in.
        let mut in_lists = 0;
        for (i, field) in meta.fields().iter().enumerate() {
            let lists = self.lists(field.name());
            in_lists |= lists;
            if let Some(role) = roles.get_mut(i) {
                *role = first_role(lists);
            }
        }
        let (span_role, event) = if meta.is_span() {
            (self.span_role(meta.name()), None)
        } else {
            (None, self.event_named(meta.name()))
        };
        let interested = if meta.is_span() {
            span_role.is_some() || in_lists & SPAN_FIELDS != 0
        } else {
            let ignored = self
                .convention
                .ignored_targets
                .iter()
                .any(|t| t == meta.target());
            !ignored && (event.is_some() || in_lists & role_bit(FieldRole::Event) != 0)
        };
        Site {
            callsite: meta.callsite(),
            interested,
            roles,
            span_role,
            event,
        }
    }

    fn lists(&self, field: &str) -> u16 {
        self.fields.get(field).copied().unwrap_or(0)
    }

    /// The role of a field: the first list, in [`FieldRole`] order, that names it.
    fn field_role(&self, field: &str) -> Option<FieldRole> {
        first_role(self.lists(field))
    }

    fn span_role(&self, name: &str) -> Option<SpanRole> {
        match self.spans.get(name) {
            Some(SpanRole::Call) => Some(SpanRole::Call),
            _ if self.is_call_prefix(name) => Some(SpanRole::Call),
            other => other.copied(),
        }
    }

    fn is_call_prefix(&self, name: &str) -> bool {
        self.convention
            .call_span_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
    }

    fn event_named(&self, name: &str) -> Option<EventKind> {
        self.events.get(name).copied()
    }
}

/// The layer proper. Use [`layer`] or [`layer_with`], which add its filter.
#[derive(Debug, Clone)]
pub struct LedgerLayer {
    ledger: Ledger,
    lookup: Arc<Lookup>,
    /// Names this layer's state among the states other toolseq layers keep in one span. A
    /// clone keeps the key, and with it finds the state of the layer it was cloned from.
    key: u64,
    /// The ledgers of the toolseq layers below this one in its subscriber, nearest first.
    below: Vec<Ledger>,
}

static NEXT_LAYER_KEY: AtomicU64 = AtomicU64::new(0);

/// The states of the toolseq layers after the first to read one span (one layer per ledger,
/// say). A span's extensions hold one value of a type: the first layer's [`SpanState`] sits
/// there alone, where each lookup finds it in one probe, and inserting a second would panic
/// inside the program's own tracing call.
struct MoreSpanStates(Vec<SpanState>);

/// The state layer `key` keeps for the span whose extensions are `ext`. Inlined, as the one
/// probe it stands for was, into the walk and the close that run on every tool call.
#[inline(always)]
fn state_in<'e>(ext: &'e Extensions<'_>, key: u64) -> Option<&'e SpanState> {
    match ext.get::<SpanState>()? {
        first if first.key == key => Some(first),
        _ => ext.get::<MoreSpanStates>()?.0.iter().find(|s| s.key == key),
    }
}

/// [`state_in`] for a change.
fn state_in_mut<'e>(ext: &'e mut ExtensionsMut<'_>, key: u64) -> Option<&'e mut SpanState> {
    if ext.get_mut::<SpanState>()?.key == key {
        return ext.get_mut::<SpanState>();
    }
    ext.get_mut::<MoreSpanStates>()?
        .0
        .iter_mut()
        .find(|s| s.key == key)
}

/// Keeps `state` in the span whose extensions are `ext`, beside other layers' states.
#[inline(always)]
fn keep_state(ext: &mut ExtensionsMut<'_>, state: SpanState) {
    // One probe when no other layer read the span first, not a look and then an insert.
    let Some(theirs) = ext.replace(state) else {
        return;
    };
    let Some(ours) = ext.replace(theirs) else {
        return;
    };
    match ext.get_mut::<MoreSpanStates>() {
        Some(more) => more.0.push(ours),
        None => ext.insert(MoreSpanStates(vec![ours])),
    }
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
    /// The layer that keeps it (see [`MoreSpanStates`]).
    key: u64,
    role: SpanRole,
    /// The ledger's own copy once the span has started its call.
    call_id: Option<Arc<str>>,
    /// Kept only until the call starts: the ledger holds it from then on.
    tool: Option<Box<str>>,
    family: Option<Family>,
    /// Shared with the events and spans inside, which each look it up.
    conversation: Option<Arc<str>>,
    answered: bool,
    /// Whether an event inside recorded its call's output, in the conversation the call is in.
    output_seen: AtomicBool,
    /// Whether this span owns its call: it started it in the ledger, so its closing ends it.
    started: bool,
}

impl SpanState {
    /// The conversation its calls and requests are recorded in.
    fn conversation(&self) -> &str {
        self.conversation.as_deref().unwrap_or(DEFAULT_CONVERSATION)
    }

    /// Starts call `call_id` of tool `tool` in the ledger; the span owns the call if it is new.
    fn start(&mut self, ledger: &Ledger, call_id: &str, tool: Option<&str>) {
        let started = ledger.start_call(self.conversation(), call_id, tool, self.family);
        self.started = started.is_some();
        self.call_id = started.or_else(|| Some(call_id.into()));
        // Kept only while this span may still start a call of its own.
        self.tool = if self.started {
            None
        } else {
            tool.map(Into::into)
        };
    }
}

thread_local! {
    /// The buffer [`Fields`] reads values into, kept by the thread between records so that
    /// reading a record allocates nothing.
    static TEXT: Cell<String> = const { Cell::new(String::new()) };
}

/// The longest buffer a thread keeps: a record with a huge value does not pin its memory.
const MAX_KEPT_TEXT: usize = 4096;

/// The fields of one span, record or event that the layer reads.
struct Fields {
    /// The values read, back to back; `call_id`, `tool` and `conversation` are ranges of it.
    text: String,
    call_id: Option<Range<usize>>,
    tool: Option<Range<usize>>,
    conversation: Option<Range<usize>>,
    family: Option<Family>,
    /// What `gen_ai.operation.name` makes of the span, classified when read: no copy kept.
    operation: Option<SpanRole>,
    event: Option<EventKind>,
    result: bool,
    /// A cancel field read `true`: cancelled now, with no output.
    cancelled: bool,
    /// An abort field read `true`: interrupted, the client answers it when it ends.
    aborted: bool,
    /// An operation field named an interrupt.
    interrupt: bool,
}

impl Fields {
    fn new() -> Self {
        Fields {
            text: TEXT.try_with(Cell::take).unwrap_or_default(),
            call_id: None,
            tool: None,
            conversation: None,
            family: None,
            operation: None,
            event: None,
            result: false,
            cancelled: false,
            aborted: false,
            interrupt: false,
        }
    }

    fn get(&self, range: &Option<Range<usize>>) -> Option<&str> {
        range.clone().and_then(|r| self.text.get(r))
    }

    fn call_id(&self) -> Option<&str> {
        self.get(&self.call_id)
    }

    fn tool(&self) -> Option<&str> {
        self.get(&self.tool)
    }

    fn conversation(&self) -> Option<&str> {
        self.get(&self.conversation)
    }
}

impl Drop for Fields {
    fn drop(&mut self) {
        let mut text = std::mem::take(&mut self.text);
        if text.capacity() <= MAX_KEPT_TEXT {
            text.clear();
            let _ = TEXT.try_with(|t| t.set(text));
        }
    }
}

struct Visitor<'a> {
    lookup: &'a Lookup,
    site: &'a Site,
    fields: &'a mut Fields,
}

/// What a field means to the layer, in the order a name in several lists is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldRole {
    CallId,
    Conversation,
    Tool,
    Operation,
    Event,
    Family,
    Result,
    Cancel,
    Abort,
}

impl FieldRole {
    const ALL: [FieldRole; 9] = [
        FieldRole::CallId,
        FieldRole::Conversation,
        FieldRole::Tool,
        FieldRole::Operation,
        FieldRole::Event,
        FieldRole::Family,
        FieldRole::Result,
        FieldRole::Cancel,
        FieldRole::Abort,
    ];
}

impl FieldRole {
    /// Whether the layer keeps the field's text; the other roles keep only what it means.
    fn kept(self) -> bool {
        matches!(
            self,
            FieldRole::CallId | FieldRole::Conversation | FieldRole::Tool
        )
    }
}

impl Fields {
    /// Keeps the text written to the end of the buffer from `start` as the value of `role`.
    fn keep(&mut self, role: FieldRole, start: usize) {
        let range = Some(start..self.text.len());
        match role {
            FieldRole::CallId => self.call_id = range,
            FieldRole::Conversation => self.conversation = range,
            FieldRole::Tool => self.tool = range,
            _ => {}
        }
    }

    /// Notes what `value` means for a role whose text is not kept.
    fn note(&mut self, lookup: &Lookup, role: FieldRole, value: &str) {
        match role {
            FieldRole::CallId | FieldRole::Conversation | FieldRole::Tool => {}
            FieldRole::Family => self.family = family_from_name(value),
            FieldRole::Operation => {
                self.interrupt |= INTERRUPT_OPERATIONS.contains(&value);
                self.operation = Some(match value {
                    op if CALL_OPERATIONS.contains(&op) => SpanRole::Call,
                    op if REQUEST_OPERATIONS.contains(&op) => SpanRole::Request,
                    _ => SpanRole::Carrier,
                })
            }
            FieldRole::Event => {
                self.event =
                    EventKind::from_field_value(value).or_else(|| lookup.event_named(value))
            }
            FieldRole::Result => self.result = true,
            FieldRole::Cancel => self.cancelled = value == "true",
            FieldRole::Abort => self.aborted = value == "true",
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let Some(role) = self.site.role(self.lookup, field) else {
            return;
        };
        if role.kept() {
            let start = self.fields.text.len();
            self.fields.text.push_str(value);
            self.fields.keep(role, start);
        } else {
            self.fields.note(self.lookup, role, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(role) = self.site.role(self.lookup, field) {
            let text = &mut self.fields.text;
            let end = text.len();
            let mut start = end;
            let _ = write!(text, "{value:?}");
            // `?id` on a string prints it quoted; `%id` does not.
            let written = &text[start..];
            if written.len() >= 2 && written.starts_with('"') && written.ends_with('"') {
                text.pop();
                start += 1;
            }
            if role.kept() {
                self.fields.keep(role, start);
            } else {
                // Taken out for the moment it is read from: what it means is all that stays.
                let mut text = std::mem::take(&mut self.fields.text);
                self.fields.note(self.lookup, role, &text[start..]);
                text.truncate(end);
                self.fields.text = text;
            }
        }
    }
}

impl LedgerLayer {
    /// The fields `record` holds, read as those of `site`.
    fn visit(&self, site: &Site, record: impl FnOnce(&mut dyn Visit)) -> Fields {
        let mut fields = Fields::new();
        record(&mut Visitor {
            lookup: &self.lookup,
            site,
            fields: &mut fields,
        });
        fields
    }
}

/// What the spans around a span or event say, innermost first.
struct Scope<'a, S: LookupSpan<'a>> {
    /// The nearest conversation id.
    conversation: Option<Arc<str>>,
    /// The call id of the nearest call span that has one, when asked for.
    call: Option<Arc<str>>,
    /// The owner of the output's call (see [`Output`]) when the walk reached it before it could
    /// tell which conversation the output lands in: marked, or not, once the walk is over.
    unmarked_owner: Option<SpanRef<'a, S>>,
}

/// A tool output an event reports, for the walk to find the span that owns its call.
#[derive(Clone, Copy)]
struct Output<'e> {
    /// The call named by the event; without one, the call of the nearest call span.
    call: Option<&'e str>,
    /// The conversation named by the event; without one, the nearest in scope.
    conversation: Option<&'e str>,
}

/// Marks that the call `state` owns has its output recorded in conversation `lands_in`, when
/// that is the call's own conversation: the span closing then need not ask the ledger.
fn mark_answered(state: &SpanState, lands_in: &str) {
    if state.conversation() == lands_in {
        state.output_seen.store(true, Ordering::Relaxed);
    }
}

/// Walks out from `first` for the nearest conversation and, if `want_call`, call id. For an
/// `output`, marks the span that owns its call (the nearest call span with a call id, if that
/// is the output's call and the span started it) on the way: an event runs inside its spans,
/// so the owner cannot close before the output is recorded.
fn from_scope<'a, S: LookupSpan<'a>>(
    key: u64,
    first: Option<SpanRef<'a, S>>,
    want_call: bool,
    output: Option<Output<'_>>,
) -> Scope<'a, S> {
    let mut found = Scope {
        conversation: None,
        call: None,
        unmarked_owner: None,
    };
    let mut call_span_seen = false;
    // Each span is looked up once, by its child, not again by a `registry::Scope`.
    let mut next = first;
    while let Some(span) = next {
        let ext = span.extensions();
        // The owner, when its mark waits on what the spans further out say.
        let mut waits = None;
        if let Some(state) = state_in(&ext, key) {
            if found.conversation.is_none() {
                found.conversation = state.conversation.clone();
            }
            if state.role == SpanRole::Call {
                if want_call && found.call.is_none() {
                    found.call = state.call_id.clone();
                }
                if let Some(out) = output.filter(|_| !call_span_seen && state.call_id.is_some()) {
                    call_span_seen = true;
                    let asked = out.call.or(found.call.as_deref());
                    if state.started && state.call_id.as_deref() == asked {
                        match out.conversation.or(found.conversation.as_deref()) {
                            Some(lands_in) => mark_answered(state, lands_in),
                            None => waits = Some(state),
                        }
                    }
                }
            }
        }
        let done = found.conversation.is_some() && (found.call.is_some() || !want_call);
        next = if done { None } else { span.parent() };
        match waits {
            // No conversation anywhere: the output lands in the default one.
            Some(state) if next.is_none() => mark_answered(state, DEFAULT_CONVERSATION),
            Some(_) => {
                drop(ext);
                found.unmarked_owner = Some(span);
            }
            None => {}
        }
    }
    found
}

impl LedgerLayer {
    /// What a call span's cancel or abort field says, once the span owns its call: a cancel
    /// field ends the call now with no output, whenever the span itself closes; an abort field
    /// (Codex's `aborted`) notes an interrupt the client answers when the call ends.
    fn ended_early(&self, state: &SpanState, f: &Fields) {
        if state.role != SpanRole::Call || !state.started || state.answered {
            return;
        }
        let Some(call_id) = &state.call_id else {
            return;
        };
        if f.cancelled {
            self.ledger.call_ended(state.conversation(), call_id, false);
        } else if f.aborted {
            self.ledger.abort_requested(state.conversation(), call_id);
        }
    }
}

impl<S> Layer<S> for LedgerLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let site = self.lookup.site(attrs.metadata());
        let f = self.visit(&site, |v| attrs.record(v));
        let op = f.operation;
        let named = site.span_role;
        let role = if named == Some(SpanRole::Call) || op == Some(SpanRole::Call) {
            SpanRole::Call
        } else if named == Some(SpanRole::Request) || op == Some(SpanRole::Request) {
            SpanRole::Request
        } else {
            SpanRole::Carrier
        };
        let Some(span) = ctx.span(id) else { return };
        let conversation = match f.conversation() {
            Some(c) => Some(c.into()),
            None => from_scope(self.key, span.parent(), false, None).conversation,
        };
        let mut state = SpanState {
            key: self.key,
            role,
            call_id: None,
            tool: None,
            family: f.family,
            conversation,
            answered: f.result,
            output_seen: AtomicBool::new(false),
            started: false,
        };
        match role {
            SpanRole::Call => match f.call_id() {
                Some(call_id) => state.start(&self.ledger, call_id, f.tool()),
                None => state.tool = f.tool().map(Into::into),
            },
            SpanRole::Request => self.ledger.model_request(state.conversation()),
            SpanRole::Carrier => {}
        }
        if f.interrupt {
            match &state.conversation {
                Some(conv) => self.ledger.interrupt(conv),
                None => self.ledger.interrupt_in_known(DEFAULT_CONVERSATION),
            }
        }
        self.ended_early(&state, &f);
        keep_state(&mut span.extensions_mut(), state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let f = self.visit(&self.lookup.site(span.metadata()), |v| values.record(v));
        let mut ext = span.extensions_mut();
        let Some(state) = state_in_mut(&mut ext, self.key) else {
            return;
        };
        state.answered |= f.result;
        state.family = f.family.or(state.family);
        if state.conversation.is_none() {
            state.conversation = f.conversation().map(Into::into);
        }
        if state.role == SpanRole::Call && !state.started {
            let tool = f.tool().map(Box::<str>::from).or(state.tool.take());
            match f.call_id() {
                Some(call_id) => state.start(&self.ledger, call_id, tool.as_deref()),
                None => state.tool = tool,
            }
        }
        self.ended_early(state, &f);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let site = self.lookup.site(event.metadata());
        let f = self.visit(&site, |v| event.record(v));
        let Some(kind) = f.event.or(site.event) else {
            return;
        };
        let about_call = matches!(
            kind,
            EventKind::ToolOutput | EventKind::OutputProduced | EventKind::CallEnded
        );
        let need_call = about_call && f.call_id.is_none();
        let scope = match f.conversation() {
            Some(_) if !need_call => None,
            _ => {
                let output = (kind == EventKind::ToolOutput).then(|| Output {
                    call: f.call_id(),
                    conversation: f.conversation(),
                });
                Some(from_scope(
                    self.key,
                    ctx.event_span(event),
                    need_call,
                    output,
                ))
            }
        };
        let named = f
            .conversation()
            .or(scope.as_ref().and_then(|s| s.conversation.as_deref()));
        let conv = named.unwrap_or(DEFAULT_CONVERSATION);
        let scope_call = scope.as_ref().and_then(|s| s.call.as_deref());
        match kind {
            EventKind::OutputProduced => {
                if let Some(call_id) = f.call_id().or(scope_call) {
                    self.ledger.output_produced(conv, call_id);
                }
            }
            EventKind::CallEnded => {
                if let Some(call_id) = f.call_id().or(scope_call) {
                    self.ledger.call_ended(conv, call_id, true);
                }
            }
            EventKind::ToolOutput => {
                if let Some(call_id) = f.call_id().or(scope_call) {
                    self.ledger.output_recorded(conv, call_id);
                    if let Some(owner) = scope.as_ref().and_then(|s| s.unmarked_owner.as_ref()) {
                        if let Some(state) = state_in(&owner.extensions(), self.key) {
                            mark_answered(state, conv);
                        }
                    }
                }
            }
            EventKind::UserMessage => self.ledger.user_message(conv),
            EventKind::QueuedUserMessage => self.ledger.queued_user_message(conv),
            EventKind::AssistantMessage => self.ledger.assistant_message(conv),
            // A request or an interrupt that names no conversation (Codex's `/models` listing)
            // starts none.
            EventKind::Interrupt => match named {
                Some(conv) => self.ledger.interrupt(conv),
                None => self.ledger.interrupt_in_known(DEFAULT_CONVERSATION),
            },
            EventKind::ModelRequest => match named {
                Some(conv) => self.ledger.model_request(conv),
                None => self.ledger.model_request_in_known(DEFAULT_CONVERSATION),
            },
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(state) = state_in(&ext, self.key) else {
            return;
        };
        if state.role != SpanRole::Call
            || !state.started
            || state.output_seen.load(Ordering::Relaxed)
        {
            return;
        }
        if let Some(call_id) = &state.call_id {
            self.ledger
                .call_ended(state.conversation(), call_id, state.answered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_in_several_lists_keeps_the_role_the_lists_gave_it_before() {
        let l = Lookup::new(
            Convention::default()
                .request_span("dispatch")
                .call_span("dispatch")
                .request_span("turn")
                .tool_name_field("tool.ref")
                .call_id_field("tool.ref")
                .event("done", EventKind::ToolOutput)
                .event("done", EventKind::UserMessage),
        );
        assert_eq!(l.span_role("dispatch"), Some(SpanRole::Call));
        assert_eq!(l.span_role("turn"), Some(SpanRole::Request));
        assert_eq!(l.span_role("handle_request"), None);
        // Call-id fields come before tool-name fields.
        assert_eq!(l.field_role("tool.ref"), Some(FieldRole::CallId));
        assert_eq!(l.field_role("user"), None);
        assert_eq!(l.event_named("done"), Some(EventKind::ToolOutput));
    }

    #[test]
    fn a_callsite_with_no_free_slot_is_worked_out_each_time_alike() {
        let l = Lookup::with_slots(Convention::default(), 1);
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let call = meta_of(tracing::info_span!(
                "execute_tool",
                gen_ai.tool.call.id = "c1"
            ));
            let other = meta_of(tracing::info_span!("handle_request", user = 1));
            // The first callsite takes the only slot; the second finds it taken.
            assert!(matches!(l.site(call), Cow::Borrowed(_)));
            for _ in 0..2 {
                let site = l.site(other);
                assert!(matches!(site, Cow::Owned(_)));
                assert!(!site.interested);
                assert_eq!(site.roles[0], None);
            }
            let site = l.site(call);
            assert!(site.interested && site.span_role == Some(SpanRole::Call));
            assert_eq!(site.roles[0], Some(FieldRole::CallId));
        });
    }

    #[test]
    fn the_filter_answers_a_registered_metadata_by_its_address_and_no_other() {
        let r = Registered::with_slots(2);
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let call = meta_of(tracing::info_span!(
                "execute_tool",
                gen_ai.tool.call.id = "c1"
            ));
            let other = meta_of(tracing::info_span!("handle_request", user = 1));
            let third = meta_of(tracing::info_span!("handle_upload", user = 1));
            r.insert(call, true);
            r.insert(other, false);
            // Again, as when tracing rebuilds its interest cache.
            r.insert(call, true);
            // Both slots are taken: this one is left to the site table.
            r.insert(third, false);
            assert_eq!(r.get(call), Some(true));
            assert_eq!(r.get(other), Some(false));
            assert_eq!(r.get(third), None);
            // The same names built at run time, as tracing-log builds a record's metadata.
            let copy = Metadata::new(
                call.name(),
                call.target(),
                *call.level(),
                call.file(),
                call.line(),
                call.module_path(),
                tracing_core::field::FieldSet::new(&["gen_ai.tool.call.id"], call.callsite()),
                tracing_core::metadata::Kind::SPAN,
            );
            assert_eq!(r.get(&copy), None);
        });
    }

    fn meta_of(span: tracing::Span) -> &'static Metadata<'static> {
        span.metadata().expect("the registry enables every span")
    }
}
