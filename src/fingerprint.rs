//! Maps keyed by ids hashed in one pass before any lookup.
//!
//! In a long history each id is its own short string among kilobytes of tool output, so reading
//! its bytes is a cache miss. A map keyed by the strings reads them while it hashes, one id at a
//! time between the map's own work. Hashing every id first, in a loop whose iterations do not
//! depend on each other, lets the processor wait for many of those misses at once; the map then
//! compares strings only on a hash match, so lookups stay exact.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

/// An id with its hash, computed once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key<'s> {
    hash: u64,
    id: &'s str,
}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.id == other.id
    }
}

impl Eq for Key<'_> {}

/// A map from ids hashed by [`keys`].
pub(crate) type IdMap<'s, V> = HashMap<Key<'s>, V, PassThrough>;

/// A new [`IdMap`] with room for `capacity` ids.
pub(crate) fn id_map<'s, V>(capacity: usize) -> IdMap<'s, V> {
    HashMap::with_capacity_and_hasher(capacity, PassThrough)
}

/// The key of each id, in order, its bytes copied into `arena`. Ids come from the model and the
/// server, so the hash is seeded per call, and a fast one: hashing with SipHash was a tenth of the
/// time of a check. Comparing an output's id with its call's then reads two neighbouring places
/// in the arena, not two strings scattered over the history: on 100k items those comparisons were
/// a quarter of a check.
pub(crate) fn keys<'s, 'a>(
    ids: impl Iterator<Item = Option<&'s str>>,
    arena: &'a mut String,
) -> Vec<Option<Key<'a>>> {
    let state = foldhash::fast::RandomState::default();
    let spans: Vec<Option<(u64, usize)>> = ids
        .map(|id| {
            id.map(|id| {
                arena.push_str(id);
                (state.hash_one(id), id.len())
            })
        })
        .collect();
    let arena: &'a str = arena;
    let mut at = 0;
    spans
        .into_iter()
        .map(|span| {
            span.map(|(hash, len)| {
                at += len;
                Key {
                    hash,
                    id: &arena[at - len..at],
                }
            })
        })
        .collect()
}

/// Hands a [`Key`]'s hash to the map unchanged.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = Passed;

    fn build_hasher(&self) -> Passed {
        Passed(0)
    }
}

/// The hasher of [`PassThrough`].
#[derive(Debug)]
pub(crate) struct Passed(u64);

impl Hasher for Passed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    // Only `Key` is hashed with this hasher, and it writes one u64; anything else still hashes
    // to something that depends on every byte.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_compare_the_ids_not_only_their_hashes() {
        let mut arena = String::new();
        let k = keys(["call_a", "call_b", "call_a"].into_iter().map(Some), &mut arena);
        let mut map = id_map(2);
        map.insert(k[0].unwrap(), 0);
        assert_eq!(map.get(&k[2].unwrap()), Some(&0));
        assert_eq!(map.get(&k[1].unwrap()), None);
        // Two ids with one forced hash are still two keys.
        let forged = Key {
            hash: k[0].unwrap().hash,
            id: "call_b",
        };
        assert_eq!(map.get(&forged), None);
    }
}
