//! How a skeleton keeps its entries: one small row per entry.
//!
//! Long histories have hundreds of thousands of entries, each read many times by the rules. An
//! [`Entry`] is 120 bytes (two `Cow` ids, `usize` positions, a `&str` label); a row is 48: ids the
//! body lends stay borrowed, ids it cannot lend go into one string the skeleton owns, positions
//! take 32 bits, and each distinct label is kept once. A row that cannot be packed (a position
//! past 32 bits, more distinct labels than 16 bits count, more owned id text than 32 bits
//! address) is kept whole on the side, so nothing is ever lost or cut.

use std::borrow::Cow;
use std::fmt;

use super::{Entry, Family, Kind, Role, Trace};

/// The entries of a [`Skeleton`](super::Skeleton), in document order.
///
/// Entries go in as [`Entry`] values and come out as [`Entry`] values whose ids borrow from the
/// skeleton.
///
/// ```
/// use toolseq::skeleton::{Entries, Entry, Family, Kind, Role};
///
/// let mut entries = Entries::new();
/// entries.push(Entry::paired(Kind::Call, Family::Function, Some("call_1".into()), 0, None, "function_call"));
/// entries.push(Entry::new(Kind::Message(Role::User), 1, None, "message"));
/// assert_eq!(entries.len(), 2);
/// assert_eq!(entries.at(0).id(), Some("call_1"));
/// assert_eq!(entries.iter().map(|e| e.index).collect::<Vec<_>>(), [0, 1]);
/// ```
#[derive(Clone, Default)]
pub struct Entries<'a> {
    rows: Vec<Row<'a>>,
    /// The ids the source could not lend (unescaped, or read from text since dropped).
    owned: String,
    /// Each distinct `(label, malformed reason)` pair, by address.
    names: Vec<(&'static str, &'static str)>,
    /// Entries that did not fit a row, whole.
    spilled: Vec<Entry<'a>>,
}

/// An id as a row keeps it.
#[derive(Clone, Copy)]
enum Id<'a> {
    Lent(&'a str),
    /// `owned[start..start + len]`; `start` [`NONE`] for no id.
    Owned {
        start: u32,
        len: u32,
    },
}

/// In a 32-bit position: nothing.
const NONE: u32 = u32::MAX;
/// In a row's `names`: the row is `spilled[row.index]`.
const SPILLED: u16 = u16::MAX;

const NO_ID: Id<'static> = Id::Owned {
    start: NONE,
    len: 0,
};

#[derive(Clone, Copy)]
struct Row<'a> {
    call_id: Id<'a>,
    item_id: Id<'a>,
    index: u32,
    block: u32,
    names: u16,
    tag: Tag,
    family: Option<Family>,
    trace: u8,
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

    /// Gives back room no entry uses.
    pub fn shrink_to_fit(&mut self) {
        self.rows.shrink_to_fit();
        self.owned.shrink_to_fit();
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
        let row = self.pack(&e, |owned, id| match id {
            Cow::Borrowed(s) => Some(Id::Lent(s)),
            Cow::Owned(s) => own(owned, s),
        });
        self.push_row(row, || e);
    }

    /// Appends an entry, copying its ids, so that what it was read from can go at once.
    pub fn push_owned(&mut self, e: Entry<'_>) {
        let row = self.pack(&e, |owned, id| own(owned, id));
        self.push_row(row, || e.into_owned());
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
        mut keep: impl FnMut(&mut String, &Cow<'b, str>) -> Option<Id<'a>>,
    ) -> Option<Row<'a>> {
        let (tag, why) = Tag::of(e.kind);
        let index = u32::try_from(e.index).ok().filter(|&i| i != NONE)?;
        let block = match e.block {
            None => NONE,
            Some(b) => u32::try_from(b).ok().filter(|&b| b != NONE)?,
        };
        let mut id = |id: &Option<Cow<'b, str>>| match id {
            None => Some(NO_ID),
            Some(id) => keep(&mut self.owned, id),
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

    #[inline]
    fn read(&self, r: &Row<'a>) -> Entry<'_> {
        read(r, &self.owned, &self.names, &self.spilled)
    }

    /// The `i`th entry.
    ///
    /// # Panics
    /// When `i` is not below [`len`](Entries::len), like indexing a slice.
    #[inline]
    pub fn at(&self, i: usize) -> Entry<'_> {
        self.read(&self.rows[i])
    }

    /// The `i`th entry, if there is one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Entry<'_>> {
        self.rows.get(i).map(|r| self.read(r))
    }

    /// The call id of the `i`th entry when present and not empty, as [`Entry::id`] says, but
    /// borrowed from the skeleton rather than from an entry read from it.
    #[inline]
    pub fn id(&self, i: usize) -> Option<&str> {
        self.rows.get(i).and_then(|r| self.id_of(r))
    }

    /// The server item id of the `i`th entry, when it has one.
    #[inline]
    pub fn item_id(&self, i: usize) -> Option<&str> {
        self.rows.get(i).and_then(|r| self.item_id_of(r))
    }

    /// [`id`](Entries::id) of every entry, in order.
    #[inline]
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = Option<&str>> + ExactSizeIterator + '_ {
        self.rows.iter().map(|r| self.id_of(r))
    }

    /// [`item_id`](Entries::item_id) of every entry, in order.
    #[inline]
    pub fn item_ids(
        &self,
    ) -> impl DoubleEndedIterator<Item = Option<&str>> + ExactSizeIterator + '_ {
        self.rows.iter().map(|r| self.item_id_of(r))
    }

    #[inline]
    fn id_of(&self, r: &Row<'a>) -> Option<&str> {
        let id = match r.names {
            SPILLED => self.spilled.get(r.index as usize)?.call_id.as_deref(),
            _ => read_id(r.call_id, &self.owned),
        };
        id.filter(|id| !id.is_empty())
    }

    #[inline]
    fn item_id_of(&self, r: &Row<'a>) -> Option<&str> {
        match r.names {
            SPILLED => self.spilled.get(r.index as usize)?.item_id.as_deref(),
            _ => read_id(r.item_id, &self.owned),
        }
    }

    /// The last entry, if there is one.
    pub fn last(&self) -> Option<Entry<'_>> {
        self.rows.last().map(|r| self.read(r))
    }

    /// The entries in order.
    #[inline]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Entry<'_>> + ExactSizeIterator + '_ {
        self.rows.iter().map(|r| self.read(r))
    }

    /// Keeps the entries `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry<'_>) -> bool) {
        let kept: Vec<bool> = self.iter().map(|e| keep(&e)).collect();
        let mut kept = kept.into_iter();
        self.rows.retain(|_| kept.next().unwrap_or(false));
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        self.rows.truncate(n);
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.owned.clear();
        self.spilled.clear();
    }

    /// The same entries, owning their ids, so the body they were read from can go.
    pub fn into_owned(self) -> Entries<'static> {
        let Entries {
            rows,
            mut owned,
            names,
            spilled,
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
                let call_id = keep(&mut owned, r.call_id);
                let item_id = keep(&mut owned, r.item_id);
                if let (Some(call_id), Some(item_id)) = (call_id, item_id) {
                    return Row {
                        call_id,
                        item_id,
                        index: r.index,
                        block: r.block,
                        names: r.names,
                        tag: r.tag,
                        family: r.family,
                        trace: r.trace,
                    };
                }
                owned.truncate(mark);
                let whole = read(&r, &owned, &names, &[]).into_owned();
                spilled.push(whole);
                spilled_row(u32::try_from(spilled.len() - 1).unwrap_or(NONE))
            })
            .collect();
        Entries {
            rows,
            owned,
            names,
            spilled,
        }
    }
}

/// Copies `s` into `owned`; `None` when `owned` would outgrow 32-bit positions.
fn own(owned: &mut String, s: &str) -> Option<Id<'static>> {
    let start = u32::try_from(owned.len()).ok()?;
    let len = u32::try_from(s.len()).ok()?;
    start.checked_add(len).filter(|&end| end < NONE)?;
    owned.push_str(s);
    Some(Id::Owned { start, len })
}

/// `id`, copied into `owned` when lent.
fn keep(owned: &mut String, id: Id<'_>) -> Option<Id<'static>> {
    match id {
        Id::Lent(s) => own(owned, s),
        Id::Owned { start, len } => Some(Id::Owned { start, len }),
    }
}

fn read_id<'s>(id: Id<'s>, owned: &'s str) -> Option<&'s str> {
    match id {
        Id::Lent(s) => Some(s),
        Id::Owned { start, len } if start != NONE => {
            let start = start as usize;
            owned.get(start..start + len as usize)
        }
        Id::Owned { .. } => None,
    }
}

/// The entry a row stands for.
#[inline(always)]
fn read<'s>(
    r: &Row<'s>,
    owned: &'s str,
    names: &[(&'static str, &'static str)],
    spilled: &'s [Entry<'_>],
) -> Entry<'s> {
    if r.names == SPILLED {
        return spilled.get(r.index as usize).map_or_else(
            || Entry::new(Kind::Other, 0, None, ""),
            |e| Entry {
                call_id: e.call_id.as_deref().map(Cow::Borrowed),
                item_id: e.item_id.as_deref().map(Cow::Borrowed),
                ..*e
            },
        );
    }
    let (label, why) = names.get(usize::from(r.names)).copied().unwrap_or_default();
    Entry {
        kind: r.tag.kind(why),
        family: r.family,
        call_id: read_id(r.call_id, owned).map(Cow::Borrowed),
        index: r.index as usize,
        block: (r.block != NONE).then_some(r.block as usize),
        label,
        item_id: read_id(r.item_id, owned).map(Cow::Borrowed),
        trace: Trace {
            reasoning: r.trace & REASONING != 0,
            thinking_first: r.trace & THINKING_FIRST != 0,
            signature: r.trace & SIGNATURE != 0,
        },
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
    }
}

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

    /// The entries by value; ids the skeleton owns are copied out.
    fn into_iter(self) -> Self::IntoIter {
        let lent = |id: Id<'a>| match id {
            Id::Lent(s) => Some(Cow::Borrowed(s)),
            id => read_id(id, &self.owned).map(|s| Cow::Owned(s.to_owned())),
        };
        let out: Vec<Entry<'a>> = self
            .rows
            .iter()
            .map(|r| {
                let e = read(r, &self.owned, &self.names, &self.spilled);
                if r.names == SPILLED {
                    return e.into_owned();
                }
                Entry {
                    kind: e.kind,
                    family: e.family,
                    call_id: lent(r.call_id),
                    index: e.index,
                    block: e.block,
                    label: e.label,
                    item_id: lent(r.item_id),
                    trace: e.trace,
                }
            })
            .collect();
        out.into_iter()
    }
}

impl fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Entries<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
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
        assert!(std::mem::size_of::<Row<'_>>() <= 48);
    }

    #[test]
    fn entries_read_back_as_they_went_in() {
        let given = every_kind();
        let entries: Entries<'_> = given.iter().cloned().collect();
        assert_eq!(entries.iter().collect::<Vec<_>>(), given);
        assert_eq!(entries.clone().into_iter().collect::<Vec<_>>(), given);
        assert_eq!(
            entries.clone().into_owned().iter().collect::<Vec<_>>(),
            given
        );
        let ids: Vec<_> = given.iter().map(Entry::id).collect();
        assert_eq!(entries.ids().collect::<Vec<_>>(), ids);
        let item_ids: Vec<_> = given.iter().map(|e| e.item_id.as_deref()).collect();
        assert_eq!(entries.item_ids().collect::<Vec<_>>(), item_ids);
        assert_eq!(entries.id(10), None, "an empty id is no id");
        assert_eq!(entries.at(10).call_id.as_deref(), Some(""));
        assert_eq!(entries.get(11), None);
    }

    #[test]
    fn entries_that_do_not_fit_a_row_are_kept_whole() {
        let far = usize::try_from(u64::from(u32::MAX) + 7).unwrap_or(usize::MAX);
        let mut given = every_kind();
        given.insert(2, Entry::new(Kind::Other, far, Some(far), "huge"));
        let entries: Entries<'_> = given.iter().cloned().collect();
        assert_eq!(entries.iter().collect::<Vec<_>>(), given);
        assert_eq!(entries.into_owned().into_iter().collect::<Vec<_>>(), given);
    }

    #[test]
    fn retain_truncate_and_clear_keep_order() {
        let given = every_kind();
        let mut entries: Entries<'_> = given.iter().cloned().collect();
        entries.retain(|e| e.index % 2 == 1);
        let odd: Vec<_> = given.iter().filter(|e| e.index % 2 == 1).cloned().collect();
        assert_eq!(entries.iter().collect::<Vec<_>>(), odd);
        entries.truncate(2);
        assert_eq!(entries.last().map(|e| e.index), Some(3));
        entries.clear();
        assert!(entries.is_empty());
    }
}
