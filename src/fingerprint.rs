//! Sets of ids hashed in one pass before any lookup.
//!
//! In a long history each id is its own short string among kilobytes of tool output, so reading
//! its bytes is a cache miss. A map keyed by the strings reads them while it hashes, one id at a
//! time between the map's own work. Hashing every id first, in a loop whose iterations do not
//! depend on each other, lets the processor wait for many of those misses at once; the set then
//! compares strings only on a hash match, so lookups stay exact.

use std::hash::BuildHasher;

use hashbrown::{hash_table, HashTable};

/// The id of each entry, hashed. Ids come from the model and the server, so the hash is seeded
/// per call, and a fast one: hashing with SipHash was a tenth of the time of a check.
pub(crate) enum Keys<'s> {
    /// A long history's ids, their bytes copied in order into one string. Comparing an output's
    /// id with its call's then reads two neighbouring places in the string, not two strings
    /// scattered over the history: on 100k items those comparisons were a quarter of a check.
    Copied {
        /// Per entry: its id's hash folded to 32 bits (`0`: no id) and the low 32 bits of
        /// where its bytes start in `arena`; they end where the next entry's start. Eight
        /// bytes where a hash and a `&str` took twenty-four: in a long rollout this vector was
        /// the analysis's largest.
        at: Vec<(u32, u32)>,
        /// The entries from which the starts' high bits count one more: the arena passes
        /// 4 GiB at most a few times, so this is almost always empty.
        wraps: Vec<usize>,
        /// How many low bits of a start `at` keeps: 32 (fewer in a test, to pass the wraps).
        low_bits: u32,
        arena: String,
    },
    /// A short history's ids, where they lie: they are in cache already, and copying them was
    /// a tenth of a typed check of 10k items.
    Lent(Vec<(u64, &'s str)>),
}

impl<'s> Keys<'s> {
    /// The keys of `ids`, in order.
    pub(crate) fn new(ids: impl Iterator<Item = Option<&'s str>>) -> Keys<'s> {
        let state = foldhash::fast::RandomState::default();
        let copy = worth_warming(&ids);
        Keys::hashed_with(ids, |id| state.hash_one(id), copy, 32)
    }

    fn hashed_with(
        ids: impl Iterator<Item = Option<&'s str>>,
        hash: impl Fn(&str) -> u64,
        copy: bool,
        low_bits: u32,
    ) -> Keys<'s> {
        let hash = |id: Option<&str>| id.map_or(0, |id| hash(id).max(1));
        if !copy {
            return Keys::Lent(ids.map(|id| (hash(id), id.unwrap_or_default())).collect());
        }
        let (mut arena, mut wraps) = (String::new(), Vec::new());
        let mut entry = 0;
        let at = map_ids(ids, |id| {
            let start = arena.len();
            // The entry whose start first lies past each 4 GiB of ids.
            while wraps.len() < start >> low_bits {
                wraps.push(entry);
            }
            arena.push_str(id.unwrap_or_default());
            entry += 1;
            (fold(hash(id)), (start & ((1 << low_bits) - 1)) as u32)
        });
        Keys::Copied {
            at,
            wraps,
            low_bits,
            arena,
        }
    }

    /// How many entries the keys are of.
    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Keys::Copied { at, .. } => at.len(),
            Keys::Lent(at) => at.len(),
        }
    }

    /// Whether entry `i` has an id.
    pub(crate) fn has(&self, i: usize) -> bool {
        self.hash(i) != 0
    }

    fn hash(&self, i: usize) -> u64 {
        match self {
            Keys::Copied { at, .. } => at.get(i).map_or(0, |&(hash, _)| spread(hash)),
            Keys::Lent(at) => at.get(i).map_or(0, |&(hash, _)| hash),
        }
    }

    fn id(&self, i: usize) -> &str {
        match self {
            Keys::Copied {
                at,
                wraps,
                low_bits,
                arena,
            } => {
                let start = |i: usize| {
                    let high = if wraps.is_empty() {
                        0
                    } else {
                        wraps.partition_point(|&w| w <= i)
                    };
                    at.get(i).map(|&(_, low)| (high << low_bits) | low as usize)
                };
                let from = start(i).unwrap_or(0);
                let end = start(i + 1).unwrap_or(arena.len());
                arena.get(from..end).unwrap_or_default()
            }
            Keys::Lent(at) => at.get(i).map_or("", |&(_, id)| id),
        }
    }

    fn same(&self, i: u32, j: u32) -> bool {
        let (i, j) = (i as usize, j as usize);
        self.hash(i) == self.hash(j) && self.id(i) == self.id(j)
    }
}

/// A 64-bit hash folded to the 32 bits [`Keys::Copied`] keeps; `0` stays `0` (no id) and no
/// other hash becomes it.
fn fold(hash: u64) -> u32 {
    if hash == 0 {
        return 0;
    }
    ((hash >> 32) as u32 ^ hash as u32).max(1)
}

/// A folded hash spread back over 64 bits: the table picks a slot by the low bits and tells
/// slots apart by the top seven. An odd multiplier maps no hash but `0` to `0`.
fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A set of ids, each standing for the first entry holding it. A slot keeps only the entry's
/// position, four bytes where a map from ids held thirty-two, and the id is found through the
/// entry: for 100k calls the table fits in the processor's second-level cache.
pub(crate) struct IdSet {
    table: HashTable<u32>,
}

impl IdSet {
    /// An empty set with room for `capacity` ids: growing it would move every slot.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        IdSet {
            table: HashTable::with_capacity(capacity),
        }
    }

    /// The entry that first held the id of entry `i`; `None`, and `i` recorded, if none did (or
    /// entry `i` holds no id).
    pub(crate) fn insert(&mut self, keys: &Keys, i: u32) -> Option<u32> {
        self.insert_with(i, |j| keys.hash(j as usize), |a, b| keys.same(a, b))
    }

    /// The entry that first held the id of entry `i`.
    pub(crate) fn get(&self, keys: &Keys, i: u32) -> Option<u32> {
        let hash = Some(keys.hash(i as usize)).filter(|&h| h != 0)?;
        self.table.find(hash, |&j| keys.same(j, i)).copied()
    }

    /// [`insert`](IdSet::insert) for ids hashed in `hashes` (`0`: no id) and compared by `same`.
    pub(crate) fn insert_hashed(
        &mut self,
        hashes: &[u64],
        i: u32,
        same: impl Fn(u32, u32) -> bool,
    ) -> Option<u32> {
        let hash_of = |j: u32| hashes.get(j as usize).copied().unwrap_or(0);
        self.insert_with(i, hash_of, |a, b| hash_of(a) == hash_of(b) && same(a, b))
    }

    fn insert_with(
        &mut self,
        i: u32,
        hash_of: impl Fn(u32) -> u64,
        same: impl Fn(u32, u32) -> bool,
    ) -> Option<u32> {
        let hash = Some(hash_of(i)).filter(|&h| h != 0)?;
        match self.table.entry(hash, |&j| same(j, i), |&j| hash_of(j)) {
            hash_table::Entry::Occupied(first) => Some(*first.get()),
            hash_table::Entry::Vacant(slot) => {
                slot.insert(i);
                None
            }
        }
    }
}

/// The hash of each id, in order, `0` for none, the id left where it lies: for ids whose only
/// comparisons are between true duplicates (item ids, which no output points to), where copying
/// them into an arena cost 7% of a typed check on 100k items and saved nothing, and a hash match
/// can afford to find both ids again. Empty when no id is there: histories of calls and outputs
/// often carry no item ids, and a key per entry was a tenth of the peak memory of checking them.
pub(crate) fn hashes_in_place<'s>(ids: impl Iterator<Item = Option<&'s str>>) -> Vec<u64> {
    let state = foldhash::fast::RandomState::default();
    let (mut hashes, mut absent) = (Vec::new(), 0);
    let room = ids.size_hint().0;
    each_id(ids, |id| match id {
        None if hashes.is_empty() => absent += 1,
        _ => {
            if hashes.is_empty() {
                hashes.reserve_exact(room.max(absent + 1));
                hashes.resize(absent, 0);
            }
            hashes.push(id.map_or(0, |id| state.hash_one(id).max(1)));
        }
    });
    hashes
}

/// `f` of each id, in order, the ids read in chunks when there are enough of them.
fn map_ids<'s, T>(
    ids: impl Iterator<Item = Option<&'s str>>,
    mut f: impl FnMut(Option<&'s str>) -> T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(ids.size_hint().0);
    each_id(ids, |id| out.push(f(id)));
    out
}

/// Calls `f` with each id, in order, the ids read in chunks when there are enough of them.
fn each_id<'s>(ids: impl Iterator<Item = Option<&'s str>>, f: impl FnMut(Option<&'s str>)) {
    if worth_warming(&ids) {
        warmed(ids).for_each(f);
    } else {
        ids.for_each(f);
    }
}

/// Whether there are enough ids to miss the cache. A short history's ids are in it already, and
/// going through chunks would only cost time: up to a fifth of a check of 1k items.
fn worth_warming(ids: &impl Iterator) -> bool {
    ids.size_hint().0 >= 16_384
}

/// `ids`, unchanged, each chunk of them read once before the first of the chunk is yielded.
///
/// Every id of a long history is its own cache miss, and nearly its own page. Reading the first
/// byte of a chunk's ids in a loop that does nothing else lets the processor wait for the whole
/// chunk's misses at once; the chunk is small enough that its lines and page translations are
/// still there when the ids are hashed: 5–9% off a typed check of 100k items.
fn warmed<'s, I: Iterator<Item = Option<&'s str>>>(ids: I) -> Warmed<'s, I> {
    Warmed {
        ids,
        chunk: Vec::with_capacity(Warmed::<I>::CHUNK),
        next: 0,
    }
}

struct Warmed<'s, I> {
    ids: I,
    chunk: Vec<Option<&'s str>>,
    next: usize,
}

impl<I> Warmed<'_, I> {
    const CHUNK: usize = 256;
}

impl<'s, I: Iterator<Item = Option<&'s str>>> Iterator for Warmed<'s, I> {
    type Item = Option<&'s str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == self.chunk.len() {
            self.chunk.clear();
            self.next = 0;
            self.chunk.extend(self.ids.by_ref().take(Self::CHUNK));
            let first_bytes = self.chunk.iter().flatten().fold(0, |acc, id| {
                acc ^ id.as_bytes().first().copied().unwrap_or(0)
            });
            std::hint::black_box(first_bytes);
        }
        let id = *self.chunk.get(self.next)?;
        self.next += 1;
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let held = self.chunk.len() - self.next;
        let (low, high) = self.ids.size_hint();
        (low + held, high.map(|h| h + held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_compare_the_ids_not_only_their_hashes() {
        let ids = ["call_a", "call_b", "call_a", "", "call_c", "call_b"];
        let id = |s: &'static str| Some(s).filter(|s| !s.is_empty());
        for copy in [false, true] {
            // Every id hashed alike: only the comparison tells them apart.
            let k = Keys::hashed_with(ids.into_iter().map(id), |_| 42, copy, 32);
            assert_eq!(matches!(k, Keys::Copied { .. }), copy);
            assert_eq!(
                (0..6).map(|i| k.has(i)).collect::<Vec<_>>(),
                ids.map(|s| !s.is_empty())
            );
            let mut set = IdSet::with_capacity(2);
            assert_eq!(set.get(&k, 0), None);
            assert_eq!(set.insert(&k, 0), None);
            assert_eq!(set.insert(&k, 1), None);
            assert_eq!(set.insert(&k, 2), Some(0));
            assert_eq!(set.insert(&k, 3), None, "no id, nothing recorded");
            assert_eq!(set.get(&k, 3), None);
            assert_eq!(set.get(&k, 2), Some(0));
            assert_eq!(set.get(&k, 4), None);
            assert_eq!(set.insert(&k, 4), None);
            assert_eq!(set.get(&k, 5), Some(1));
        }
    }

    #[test]
    fn warming_changes_nothing_it_yields() {
        let names: Vec<String> = (0..600).map(|n| format!("call_{n}")).collect();
        let ids: Vec<Option<&str>> = names
            .iter()
            .enumerate()
            .map(|(n, id)| match n % 7 {
                0 => None,
                1 => Some(""),
                _ => Some(id.as_str()),
            })
            .collect();
        let mut warm = warmed(ids.iter().copied());
        assert_eq!(warm.size_hint(), (600, Some(600)));
        warm.next();
        assert_eq!(warm.size_hint(), (599, Some(599)), "a held chunk counts");
        assert_eq!(warmed(ids.iter().copied()).collect::<Vec<_>>(), ids);
        assert_eq!(warmed(std::iter::empty()).next(), None);
    }

    #[test]
    fn hashes_in_place_are_made_from_the_first_id_on() {
        assert!(hashes_in_place([None, None, None].into_iter()).is_empty());
        let ids = [None, None, Some("fc_1"), None, Some("fc_1"), Some("fc_2")];
        let h = hashes_in_place(ids.into_iter());
        assert_eq!(h.len(), ids.len());
        assert_eq!(
            h.iter().map(|&h| h != 0).collect::<Vec<_>>(),
            ids.map(|id| id.is_some())
        );
        let same = |a: u32, b: u32| ids[a as usize] == ids[b as usize];
        let mut set = IdSet::with_capacity(1);
        assert_eq!(
            set.insert_hashed(&h, 0, same),
            None,
            "no id, nothing recorded"
        );
        assert_eq!(set.insert_hashed(&h, 2, same), None);
        assert_eq!(set.insert_hashed(&h, 4, same), Some(2));
        assert_eq!(set.insert_hashed(&h, 5, same), None);
    }

    #[test]
    fn a_hash_match_between_different_ids_is_no_duplicate() {
        // Every id hashed alike: only the comparison tells them apart.
        let hashes = [7_u64; 3];
        let ids = ["fc_1", "fc_2", "fc_1"];
        let same = |a: u32, b: u32| ids[a as usize] == ids[b as usize];
        let mut set = IdSet::with_capacity(3);
        let firsts: Vec<_> = (0..3)
            .map(|i| set.insert_hashed(&hashes, i, same))
            .collect();
        assert_eq!(firsts, [None, None, Some(0)]);
    }

    #[test]
    fn ids_past_the_reach_of_a_start_are_found_again() {
        // Starts keep 3 low bits here, 32 in use: the arena passes 8 bytes several times, once
        // inside one id and once by two boundaries at a time.
        let ids = [
            Some("call_1"),
            None,
            Some("call_22"),
            Some("c"),
            Some("a_much_longer_id"),
            Some(""),
            Some("x"),
        ];
        let k = Keys::hashed_with(ids.into_iter(), |id| id.len() as u64, true, 3);
        let Keys::Copied { wraps, .. } = &k else {
            panic!("copied");
        };
        assert!(wraps.len() >= 3, "{wraps:?}");
        let got: Vec<&str> = (0..ids.len()).map(|i| k.id(i)).collect();
        assert_eq!(got, ids.map(Option::unwrap_or_default));
    }

    #[test]
    fn a_long_history_is_keyed_as_a_short_one() {
        let names: Vec<String> = (0..20_000)
            .map(|n| format!("call_{}", n % 15_000))
            .collect();
        let ids = || names.iter().map(|id| Some(id.as_str())).chain([None]);
        assert!(worth_warming(&ids()));
        let k = Keys::new(ids());
        assert!(matches!(k, Keys::Copied { .. }));
        let got: Vec<Option<&str>> = (0..k.len())
            .map(|i| Some(k.id(i)).filter(|_| k.has(i)))
            .collect();
        assert_eq!(got, ids().collect::<Vec<_>>());
        let hashes = hashes_in_place(ids());
        let all: Vec<_> = ids().collect();
        let same = |a: u32, b: u32| all[a as usize] == all[b as usize];
        let mut set = IdSet::with_capacity(15_000);
        let mut in_place = IdSet::with_capacity(15_000);
        for i in 0..k.len() as u32 {
            let first = set.insert(&k, i);
            assert_eq!(first, in_place.insert_hashed(&hashes, i, same));
            match i {
                0..15_000 | 20_000 => assert_eq!(first, None),
                _ => assert_eq!(first, Some(i - 15_000), "a repeated id finds its first"),
            }
        }
    }
}
