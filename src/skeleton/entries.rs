//! How a skeleton keeps its entries: one small row per entry.
//!
//! Long histories have hundreds of thousands of entries, each read many times by the rules. An
//! [`Entry`] is 120 bytes (two `Cow` ids, `usize` positions, a `&str` label); a row is 32: ids the
//! body lends stay borrowed in a list beside the rows, ids it cannot lend go into one string the
//! skeleton owns, a row keeps 32-bit positions into either, and each distinct label is kept once.
//! A row of a rollout, whose ids are all owned, holds them in 16 bytes where two `&str` took 32:
//! the rows are most of the memory of checking one. A row that cannot be packed (a position
//! past 32 bits, more distinct labels than 16 bits count, more owned id text than 32 bits
//! address) is kept whole on the side, so nothing is ever lost or cut.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use super::{Entry, Family, Flaw, Kind, Role, Trace};

/// The entries of a [`Skeleton`](super::Skeleton), in document order.
///
/// Entries go in as [`Entry`] values and are read back as [`EntryRef`]s, a field at a time;
/// [`EntryRef::to_entry`] gives the whole entry.
///
/// ```
/// use toolseq::__private::skeleton::{Entries, Entry, Family, Kind, Role};
///
/// let mut entries = Entries::new();
/// entries.push(Entry::paired(Kind::Call, Family::Function, Some("call_1".into()), 0, None, "function_call"));
/// entries.push(Entry::new(Kind::Message(Role::User), 1, None, "message"));
/// assert_eq!(entries.len(), 2);
/// assert_eq!(entries.at(0).id(), Some("call_1"));
/// assert_eq!(entries.iter().map(|e| e.index()).collect::<Vec<_>>(), [0, 1]);
/// assert_eq!(entries.at(1).to_entry(), Entry::new(Kind::Message(Role::User), 1, None, "message"));
/// ```
#[derive(Clone, Default)]
pub struct Entries<'a> {
    rows: Vec<Row<'a>>,
    /// The ids the source could not lend (unescaped, or read from text that goes once read).
    owned: String,
    /// The ids the source lent, in the order they came.
    lent: Vec<&'a str>,
    /// Each distinct `(label, malformed reason)` pair, by address.
    names: Vec<(&'static str, &'static str)>,
    /// Entries that did not fit a row, whole.
    spilled: Vec<Entry<'a>>,
    /// Whether an entry with an item id was pushed since the last `clear`: histories of calls
    /// and outputs (Chat's, Anthropic's) have none, and the rules about them skip a pass.
    item_ids: bool,
    /// Whether an entry with a [`Flaw`] was pushed or marked since the last `clear`.
    flaws: bool,
    /// The calls of the turn being read (no message or output since) that say what they ask:
    /// what, and where. A turn holds a few calls, so a list is searched faster than a map is
    /// kept; past [`RUN`] calls the rest go unnoted (taken for calls of their own).
    run: Vec<(u64, u32)>,
    /// Calls that repeat an earlier call of their turn word for word (its id and what it
    /// asks, no other server item id), each with that call: `(copy, first)`, in order.
    copies: Vec<(u32, u32)>,
}

/// An id as a row keeps it: `owned[at..at + len]`, or `lent[at]` when `len` is [`LENT`];
/// no id when `at` is [`NONE`].
#[derive(Clone, Copy)]
struct Id {
    at: u32,
    len: u32,
}

/// The calls of one turn compared for copies.
const RUN: usize = 64;

/// In an [`Id`]'s `len`: the id is lent.
const LENT: u32 = u32::MAX;

/// In a 32-bit position: nothing.
const NONE: u32 = u32::MAX;
/// In a row's `names`: the row is `spilled[row.index]`.
const SPILLED: u16 = u16::MAX;

const NO_ID: Id = Id { at: NONE, len: 0 };

#[derive(Clone, Copy)]
struct Row<'a> {
    call_id: Id,
    item_id: Id,
    index: u32,
    block: u32,
    names: u16,
    tag: Tag,
    family: Option<Family>,
    trace: u8,
    /// One more than the code of the entry's [`Flaw`] in [`Flaw::ALL`]; 0 for none.
    flaw: u8,
    /// Rows of one skeleton lend from one source.
    lends: PhantomData<&'a str>,
}

/// [`Kind`] without the malformed reason, which the row keeps with its label.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    Call,
    Output,
    User,
    Assistant,
    Other,
    Reasoning,
    EmptyCallList,
    Reference,
    Malformed,
}

const REASONING: u8 = 1;
const THINKING_FIRST: u8 = 2;
const SIGNATURE: u8 = 4;

impl Tag {
    fn of(kind: Kind) -> (Tag, &'static str) {
        let tag = match kind {
            Kind::Call => Tag::Call,
            Kind::Output => Tag::Output,
            Kind::Message(Role::User) => Tag::User,
            Kind::Message(Role::Assistant) => Tag::Assistant,
            Kind::Other => Tag::Other,
            Kind::Reasoning => Tag::Reasoning,
            Kind::EmptyCallList => Tag::EmptyCallList,
            Kind::Reference => Tag::Reference,
            Kind::Malformed(why) => return (Tag::Malformed, why),
        };
        (tag, "")
    }

    #[inline(always)]
    fn kind(self, why: &'static str) -> Kind {
        match self {
            Tag::Call => Kind::Call,
            Tag::Output => Kind::Output,
            Tag::User => Kind::Message(Role::User),
            Tag::Assistant => Kind::Message(Role::Assistant),
            Tag::Other => Kind::Other,
            Tag::Reasoning => Kind::Reasoning,
            Tag::EmptyCallList => Kind::EmptyCallList,
            Tag::Reference => Kind::Reference,
            Tag::Malformed => Kind::Malformed(why),
        }
    }
}

fn flaw_code(flaw: Option<Flaw>) -> u8 {
    flaw.and_then(|f| Flaw::ALL.iter().position(|&g| g == f))
        .map_or(0, |k| k as u8 + 1)
}

fn trace_bits(t: Trace) -> u8 {
    let bit = |on: bool, b: u8| if on { b } else { 0 };
    bit(t.reasoning, REASONING)
        | bit(t.thinking_first, THINKING_FIRST)
        | bit(t.signature, SIGNATURE)
}

impl<'a> Entries<'a> {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// No entries, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Entries {
            rows: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Makes room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.rows.reserve(n);
    }

    /// Marks entry `i` with a shape its API refuses, seen after it was pushed.
    pub(crate) fn set_flaw(&mut self, i: usize, flaw: Flaw) {
        let Some(row) = self.rows.get_mut(i) else {
            return;
        };
        self.flaws = true;
        if row.names == SPILLED {
            if let Some(e) = self.spilled.get_mut(row.index as usize) {
                e.flaw = Some(flaw);
            }
        } else {
            row.flaw = flaw_code(Some(flaw));
        }
    }

    /// Gives back room no entry uses.
    pub fn shrink_to_fit(&mut self) {
        self.rows.shrink_to_fit();
        self.owned.shrink_to_fit();
        self.lent.shrink_to_fit();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Appends an entry.
    pub fn push(&mut self, e: Entry<'a>) {
        self.note_copy(&e);
        let row = self.pack(&e, |owned, lent, id| match id {
            Cow::Borrowed(s) => lend(lent, s),
            Cow::Owned(s) => own(owned, s),
        });
        self.push_row(row, || e);
    }

    /// Appends an entry, copying its ids, so that what it was read from can go at once.
    pub fn push_owned(&mut self, e: Entry<'_>) {
        self.note_copy(&e);
        let row = self.pack(&e, |owned, _, id| own(owned, id));
        self.push_row(row, || e.into_owned());
    }

    /// Notes a call, about to be pushed, that repeats one of its turn word for word. A turn
    /// ends where a message or an output comes, as runs of parallel calls do in the rules.
    fn note_copy(&mut self, e: &Entry<'_>) {
        match e.kind {
            Kind::Message(_) | Kind::Output if !self.run.is_empty() => self.run.clear(),
            Kind::Call => {
                let (Some(content), Some(id)) = (e.content.map(|c| c.get()), e.id()) else {
                    return;
                };
                let Ok(at) = u32::try_from(self.rows.len()) else {
                    return;
                };
                let first = self
                    .run
                    .iter()
                    .find(|&&(c, k)| c == content && self.at(k as usize).id() == Some(id));
                match first {
                    Some(&(_, first)) => {
                        let other_item = matches!(
                            (self.at(first as usize).item_id(), e.item_id.as_deref()),
                            (Some(a), Some(b)) if a != b
                        );
                        if !other_item {
                            self.copies.push((at, first));
                        }
                    }
                    None if self.run.len() < RUN => self.run.push((content, at)),
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// What the call at `i` asks, hashed, while its turn is the one being read (the entries of
    /// one item read apart, to be added to a skeleton, say); `None` after, or when unknown.
    pub fn content_of(&self, i: usize) -> Option<u64> {
        let i = u32::try_from(self.copy_of(i).unwrap_or(i)).ok()?;
        self.run.iter().find(|&&(_, at)| at == i).map(|&(c, _)| c)
    }

    /// The earlier call of its turn that the call at `i` repeats word for word, if it does.
    pub fn copy_of(&self, i: usize) -> Option<usize> {
        let i = u32::try_from(i).ok()?;
        let k = self.copies.binary_search_by_key(&i, |&(c, _)| c).ok()?;
        Some(self.copies[k].1 as usize)
    }

    fn push_row(&mut self, row: Option<Row<'a>>, whole: impl FnOnce() -> Entry<'a>) {
        let row = row.unwrap_or_else(|| {
            let k = u32::try_from(self.spilled.len()).unwrap_or(NONE);
            self.spilled.push(whole());
            spilled_row(k)
        });
        self.rows.push(row);
    }

    /// The row for `e`, its ids kept by `keep`; `None` when it does not fit one.
    #[inline]
    fn pack<'b>(
        &mut self,
        e: &Entry<'b>,
        mut keep: impl FnMut(&mut String, &mut Vec<&'a str>, &Cow<'b, str>) -> Option<Id>,
    ) -> Option<Row<'a>> {
        self.item_ids |= e.item_id.is_some();
        self.flaws |= e.flaw.is_some();
        let (tag, why) = Tag::of(e.kind);
        let index = u32::try_from(e.index).ok().filter(|&i| i != NONE)?;
        let block = match e.block {
            None => NONE,
            Some(b) => Some(b).filter(|&b| b != NONE)?,
        };
        let mut id = |id: &Option<Cow<'b, str>>| match id {
            None => Some(NO_ID),
            Some(id) => keep(&mut self.owned, &mut self.lent, id),
        };
        Some(Row {
            call_id: id(&e.call_id)?,
            item_id: id(&e.item_id)?,
            index,
            block,
            names: self.name(e.label, why)?,
            tag,
            family: e.family,
            trace: trace_bits(e.trace),
            flaw: flaw_code(e.flaw),
            lends: PhantomData,
        })
    }

    /// The index of the pair `(label, why)`, added when new. Compared by address: labels are
    /// string constants, so a history has a handful, and a constant copied into two places only
    /// costs one more pair.
    fn name(&mut self, label: &'static str, why: &'static str) -> Option<u16> {
        let same = |a: &str, b: &str| std::ptr::eq(a, b);
        if let Some(k) = self
            .names
            .iter()
            .position(|&(l, w)| same(l, label) && same(w, why))
        {
            return u16::try_from(k).ok();
        }
        let k = u16::try_from(self.names.len())
            .ok()
            .filter(|&k| k != SPILLED)?;
        self.names.push((label, why));
        Some(k)
    }

    #[inline(always)]
    fn view<'s>(&'s self, row: &'s Row<'a>) -> EntryRef<'s> {
        EntryRef { row, entries: self }
    }

    /// The `i`th entry.
    ///
    /// # Panics
    /// When `i` is not below [`len`](Entries::len), like indexing a slice.
    #[inline(always)]
    pub fn at(&self, i: usize) -> EntryRef<'_> {
        self.view(&self.rows[i])
    }

    /// The `i`th entry, if there is one.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<EntryRef<'_>> {
        self.rows.get(i).map(|r| self.view(r))
    }

    /// The last entry, if there is one.
    pub fn last(&self) -> Option<EntryRef<'_>> {
        self.rows.last().map(|r| self.view(r))
    }

    /// The entries in order.
    #[inline]
    pub fn iter(&self) -> Iter<'_, 'a> {
        Iter {
            rows: self.rows.iter(),
            entries: self,
        }
    }

    /// Keeps the entries `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(EntryRef<'_>) -> bool) {
        let kept: Vec<bool> = self.iter().map(&mut keep).collect();
        if !self.copies.is_empty() {
            // Each kept entry's new place: how many were kept before it.
            let mut place = Vec::with_capacity(kept.len());
            let mut n = 0u32;
            for &k in &kept {
                place.push(n);
                n += u32::from(k);
            }
            self.copies.retain_mut(|(copy, first)| {
                let both = kept[*copy as usize] && kept[*first as usize];
                (*copy, *first) = (place[*copy as usize], place[*first as usize]);
                both
            });
        }
        // What was cut off ends the turn being read.
        self.run.clear();
        let mut kept = kept.into_iter();
        self.rows.retain(|_| kept.next().unwrap_or(false));
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        self.rows.truncate(n);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.copies.retain(|&(copy, _)| copy < n);
        self.run.clear();
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.owned.clear();
        self.lent.clear();
        self.spilled.clear();
        self.item_ids = false;
        self.flaws = false;
        self.run.clear();
        self.copies.clear();
    }

    /// The same entries, owning their ids, so the body they were read from can go.
    pub fn into_owned(self) -> Entries<'static> {
        let Entries {
            rows,
            mut owned,
            lent,
            names,
            spilled,
            item_ids,
            flaws,
            run,
            copies,
        } = self;
        let mut spilled: Vec<Entry<'static>> = spilled.into_iter().map(Entry::into_owned).collect();
        // Collected in place: a row keeps its size whatever its ids borrow from.
        let rows = rows
            .into_iter()
            .map(|r| {
                if r.names == SPILLED {
                    return spilled_row(r.index);
                }
                let mark = owned.len();
                let call_id = keep(&mut owned, &lent, r.call_id);
                let item_id = keep(&mut owned, &lent, r.item_id);
                if let (Some(call_id), Some(item_id)) = (call_id, item_id) {
                    return Row {
                        call_id,
                        item_id,
                        lends: PhantomData,
                        ..r
                    };
                }
                owned.truncate(mark);
                let whole = Entries {
                    rows: Vec::new(),
                    owned: std::mem::take(&mut owned),
                    lent: lent.clone(),
                    names: names.clone(),
                    spilled: Vec::new(),
                    item_ids,
                    flaws,
                    run: Vec::new(),
                    copies: Vec::new(),
                };
                let entry = whole.view(&r).to_entry().into_owned();
                owned = whole.owned;
                spilled.push(entry);
                spilled_row(u32::try_from(spilled.len() - 1).unwrap_or(NONE))
            })
            .collect();
        Entries {
            rows,
            owned,
            lent: Vec::new(),
            names,
            spilled,
            item_ids,
            flaws,
            run,
            copies,
        }
    }

    /// How many source items the entries reach over: one past the highest item index, the
    /// length of a table indexed by item.
    pub(crate) fn items_reached(&self) -> usize {
        self.iter().map(|e| e.index() + 1).max().unwrap_or(0)
    }

    /// Whether any entry may have an item id: false only when none does.
    pub(crate) fn may_have_item_ids(&self) -> bool {
        self.item_ids
    }

    /// Whether any entry may have a [`Flaw`]: false only when none does.
    pub(crate) fn may_have_flaws(&self) -> bool {
        self.flaws
    }
}

/// Copies `s` into `owned`; `None` when `owned` would outgrow 32-bit positions.
fn own(owned: &mut String, s: &str) -> Option<Id> {
    let at = u32::try_from(owned.len()).ok()?;
    let len = u32::try_from(s.len()).ok().filter(|&len| len != LENT)?;
    at.checked_add(len).filter(|&end| end < NONE)?;
    owned.push_str(s);
    Some(Id { at, len })
}

/// Keeps `s` in `lent`; `None` past 32-bit positions.
fn lend<'a>(lent: &mut Vec<&'a str>, s: &'a str) -> Option<Id> {
    let at = u32::try_from(lent.len()).ok().filter(|&at| at != NONE)?;
    lent.push(s);
    Some(Id { at, len: LENT })
}

/// `id`, copied into `owned` when lent.
fn keep(owned: &mut String, lent: &[&str], id: Id) -> Option<Id> {
    match id.len {
        LENT => own(owned, lent.get(id.at as usize)?),
        _ => Some(id),
    }
}

fn read_id<'s>(id: Id, owned: &'s str, lent: &[&'s str]) -> Option<&'s str> {
    match (id.at, id.len) {
        (NONE, _) => None,
        (at, LENT) => lent.get(at as usize).copied(),
        (at, len) => owned.get(at as usize..at as usize + len as usize),
    }
}

/// The row standing for `spilled[k]`.
fn spilled_row(k: u32) -> Row<'static> {
    Row {
        call_id: NO_ID,
        item_id: NO_ID,
        index: k,
        block: NONE,
        names: SPILLED,
        tag: Tag::Other,
        family: None,
        trace: 0,
        flaw: 0,
        lends: PhantomData,
    }
}

/// An entry of an [`Entries`], read a field at a time: most loops over a long history read one
/// or two fields of each entry, and making a whole [`Entry`] for each cost as much as the rules.
/// Its ids borrow from the skeleton.
#[derive(Clone, Copy)]
pub struct EntryRef<'s> {
    row: &'s Row<'s>,
    entries: &'s Entries<'s>,
}

impl<'s> EntryRef<'s> {
    /// The entry kept whole, when it did not fit a row.
    #[inline(always)]
    fn whole(self) -> Option<&'s Entry<'s>> {
        if self.row.names == SPILLED {
            self.entries.spilled.get(self.row.index as usize)
        } else {
            None
        }
    }

    #[inline(always)]
    fn names(self) -> (&'static str, &'static str) {
        let names = self.entries.names.get(usize::from(self.row.names));
        names.copied().unwrap_or_default()
    }

    /// What the entry is.
    #[inline(always)]
    pub fn kind(self) -> Kind {
        match self.whole() {
            Some(e) => e.kind,
            None if self.row.tag == Tag::Malformed => Kind::Malformed(self.names().1),
            None => self.row.tag.kind(""),
        }
    }

    /// Pairing family, for calls and outputs.
    #[inline(always)]
    pub fn family(self) -> Option<Family> {
        self.whole().map_or(self.row.family, |e| e.family)
    }

    /// Index of the source item.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.whole().map_or(self.row.index as usize, |e| e.index)
    }

    /// Position inside the source item.
    #[inline(always)]
    pub fn block(self) -> Option<usize> {
        match self.whole() {
            Some(e) => e.block(),
            None => (self.row.block != NONE).then_some(self.row.block as usize),
        }
    }

    /// The wire name of the item, for diagnostics.
    #[inline(always)]
    pub fn label(self) -> &'static str {
        self.whole().map_or_else(|| self.names().0, |e| e.label)
    }

    /// For a call: what the model's reasoning left on it.
    #[inline(always)]
    pub fn trace(self) -> Trace {
        let bits = self.row.trace;
        self.whole().map_or(
            Trace {
                reasoning: bits & REASONING != 0,
                thinking_first: bits & THINKING_FIRST != 0,
                signature: bits & SIGNATURE != 0,
            },
            |e| e.trace,
        )
    }

    /// A shape of the item its API refuses, if the adapter saw one.
    #[inline(always)]
    pub fn flaw(self) -> Option<Flaw> {
        match self.whole() {
            Some(e) => e.flaw,
            None => Flaw::ALL
                .get(usize::from(self.row.flaw).checked_sub(1)?)
                .copied(),
        }
    }

    /// The call id: `None` when absent, `Some("")` when empty.
    #[inline(always)]
    pub fn call_id(self) -> Option<&'s str> {
        match self.whole() {
            Some(e) => e.call_id.as_deref(),
            None => read_id(self.row.call_id, &self.entries.owned, &self.entries.lent),
        }
    }

    /// The call id when present and not empty.
    #[inline(always)]
    pub fn id(self) -> Option<&'s str> {
        self.call_id().filter(|id| !id.is_empty())
    }

    /// The server id of the item, when it has one.
    #[inline(always)]
    pub fn item_id(self) -> Option<&'s str> {
        match self.whole() {
            Some(e) => e.item_id.as_deref(),
            None => read_id(self.row.item_id, &self.entries.owned, &self.entries.lent),
        }
    }

    /// The whole entry, its ids borrowed.
    pub fn to_entry(self) -> Entry<'s> {
        Entry {
            kind: self.kind(),
            family: self.family(),
            call_id: self.call_id().map(Cow::Borrowed),
            index: self.index(),
            block: super::block32(self.block()),
            label: self.label(),
            item_id: self.item_id().map(Cow::Borrowed),
            trace: self.trace(),
            flaw: self.flaw(),
            // Not kept in a row: the copies it told apart are noted in `copies`.
            content: None,
        }
    }
}

impl fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_entry().fmt(f)
    }
}

impl PartialEq<Entry<'_>> for EntryRef<'_> {
    fn eq(&self, other: &Entry<'_>) -> bool {
        self.to_entry() == *other
    }
}

/// The entries of an [`Entries`] in order.
#[derive(Clone)]
pub struct Iter<'s, 'a> {
    rows: std::slice::Iter<'s, Row<'a>>,
    entries: &'s Entries<'a>,
}

impl<'s> Iterator for Iter<'s, '_> {
    type Item = EntryRef<'s>;

    #[inline(always)]
    fn next(&mut self) -> Option<EntryRef<'s>> {
        self.rows.next().map(|r| self.entries.view(r))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.rows.size_hint()
    }

    #[inline(always)]
    fn nth(&mut self, n: usize) -> Option<EntryRef<'s>> {
        self.rows.nth(n).map(|r| self.entries.view(r))
    }
}

impl DoubleEndedIterator for Iter<'_, '_> {
    #[inline(always)]
    fn next_back(&mut self) -> Option<Self::Item> {
        self.rows.next_back().map(|r| self.entries.view(r))
    }
}

impl ExactSizeIterator for Iter<'_, '_> {}

impl<'a> Extend<Entry<'a>> for Entries<'a> {
    fn extend<I: IntoIterator<Item = Entry<'a>>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.rows.reserve(iter.size_hint().0);
        iter.for_each(|e| self.push(e));
    }
}

impl<'a> FromIterator<Entry<'a>> for Entries<'a> {
    fn from_iter<I: IntoIterator<Item = Entry<'a>>>(iter: I) -> Self {
        let mut out = Entries::new();
        out.extend(iter);
        out
    }
}

impl<'a> From<Vec<Entry<'a>>> for Entries<'a> {
    fn from(v: Vec<Entry<'a>>) -> Self {
        v.into_iter().collect()
    }
}

impl<'a> IntoIterator for Entries<'a> {
    type Item = Entry<'a>;
    type IntoIter = std::vec::IntoIter<Entry<'a>>;

    /// The entries by value: ids the body lent stay lent, ids the skeleton owns are copied out.
    fn into_iter(self) -> Self::IntoIter {
        let id = |id: Id| match id.len {
            LENT => self.lent.get(id.at as usize).map(|&s| Cow::Borrowed(s)),
            _ => read_id(id, &self.owned, &[]).map(|s| Cow::Owned(s.to_owned())),
        };
        let out: Vec<Entry<'a>> = self
            .rows
            .iter()
            .map(|r| {
                let e = self.view(r);
                match e.whole() {
                    Some(_) => e.to_entry().into_owned(),
                    None => Entry {
                        family: e.family(),
                        call_id: id(r.call_id),
                        item_id: id(r.item_id),
                        ..Entry::new(e.kind(), e.index(), e.block(), e.label())
                            .with_trace(e.trace())
                    },
                }
            })
            .collect();
        out.into_iter()
    }
}

impl fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(EntryRef::to_entry))
            .finish()
    }
}

impl PartialEq for Entries<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .map(EntryRef::to_entry)
                .eq(other.iter().map(EntryRef::to_entry))
    }
}

impl Eq for Entries<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Entry<'static>> {
        let kinds = [
            Kind::Call,
            Kind::Output,
            Kind::Message(Role::User),
            Kind::Message(Role::Assistant),
            Kind::Other,
            Kind::Reasoning,
            Kind::EmptyCallList,
            Kind::Reference,
            Kind::Malformed("item is not a JSON object"),
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                let owned = i % 2 == 0;
                let id = |s: String| {
                    if owned {
                        Cow::Owned(s)
                    } else {
                        Cow::Borrowed("lent")
                    }
                };
                Entry::paired(
                    kind,
                    Family::Custom,
                    Some(id(format!("call_{i}"))),
                    i,
                    None,
                    "x",
                )
                .with_item_id((i % 3 != 0).then(|| id(format!("fc_{i}"))))
                .with_trace(Trace {
                    reasoning: i % 2 == 0,
                    thinking_first: i % 3 == 0,
                    signature: i % 5 == 0,
                })
            })
            .chain([
                Entry::new(Kind::Output, 9, Some(3), "function_call_output"),
                Entry::paired(
                    Kind::Call,
                    Family::Shell,
                    Some("".into()),
                    10,
                    Some(0),
                    "shell_call",
                ),
            ])
            .collect()
    }

    #[test]
    fn a_row_is_small() {
        assert!(std::mem::size_of::<Row<'_>>() <= 32);
    }

    #[test]
    fn entries_read_back_as_they_went_in() {
        let given = every_kind();
        let entries: Entries<'_> = given.iter().cloned().collect();
        assert_eq!(
            entries.iter().map(EntryRef::to_entry).collect::<Vec<_>>(),
            given
        );
        assert_eq!(entries.clone().into_iter().collect::<Vec<_>>(), given);
        assert_eq!(
            entries
                .clone()
                .into_owned()
                .iter()
                .map(EntryRef::to_entry)
                .collect::<Vec<_>>(),
            given
        );
        assert_eq!(entries.at(10).id(), None, "an empty id is no id");
        assert_eq!(entries.at(10).call_id(), Some(""));
        assert!(entries.get(11).is_none());
        for (i, e) in given.iter().enumerate() {
            let read = entries.at(i);
            assert_eq!(read, *e);
            assert_eq!(
                (read.kind(), read.family(), read.index()),
                (e.kind, e.family, e.index)
            );
            assert_eq!(
                (read.block(), read.label(), read.trace()),
                (e.block(), e.label, e.trace)
            );
            assert_eq!((read.id(), read.item_id()), (e.id(), e.item_id.as_deref()));
        }
    }

    #[test]
    fn entries_that_do_not_fit_a_row_are_kept_whole() {
        let far = usize::try_from(u64::from(u32::MAX) + 7).unwrap_or(usize::MAX);
        let mut given = every_kind();
        given.insert(2, Entry::new(Kind::Other, far, Some(far), "huge"));
        let entries: Entries<'_> = given.iter().cloned().collect();
        assert_eq!(
            entries.iter().map(EntryRef::to_entry).collect::<Vec<_>>(),
            given
        );
        assert_eq!(entries.at(2).index(), far);
        // A block past 32 bits (no message holds four billion) stays the last one.
        assert_eq!(entries.at(2).block(), Some(u32::MAX as usize));
        assert_eq!(entries.into_owned().into_iter().collect::<Vec<_>>(), given);
    }

    #[test]
    fn retain_truncate_and_clear_keep_order() {
        let given = every_kind();
        let mut entries: Entries<'_> = given.iter().cloned().collect();
        entries.retain(|e| e.index() % 2 == 1);
        let odd: Vec<_> = given.iter().filter(|e| e.index % 2 == 1).cloned().collect();
        assert_eq!(
            entries.iter().map(EntryRef::to_entry).collect::<Vec<_>>(),
            odd
        );
        entries.truncate(2);
        assert_eq!(entries.last().map(|e| e.index()), Some(3));
        entries.clear();
        assert!(entries.is_empty());
    }

    #[test]
    fn entries_know_whether_any_has_an_item_id() {
        let mut entries = Entries::new();
        entries.push(Entry::new(Kind::Message(Role::User), 0, None, "message"));
        assert!(!entries.may_have_item_ids());
        let with_id = Entry::new(Kind::Other, 1, None, "item").with_item_id(Some("rs_1".into()));
        entries.push_owned(with_id.clone());
        assert!(entries.may_have_item_ids());
        assert!(entries.clone().into_owned().may_have_item_ids());
        entries.clear();
        assert!(!entries.may_have_item_ids());
        entries.push(with_id);
        assert!(entries.may_have_item_ids());
    }
}
