//! Memo tables: maps from a key to a value computed once, shared by the caches of `sysroot` and
//! `loader` across threads (a plan works on each ABI in a thread of its own).
//!
//! A value is computed outside the lock, so two threads asking for one key at the same moment may
//! both compute it; the first value stored is the one every later caller gets. The values are
//! cheap to clone (shared pointers, small enums). This module knows nothing about files.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// A hash map with foldhash's hasher: several times faster than std's SipHash on the short keys
/// graft hashes (paths, names, file identities), and still seeded at random per process, so a tree
/// cannot be built to make its names collide.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A thread-safe memo table.
#[derive(Debug)]
pub struct Memo<K, V> {
    map: Mutex<FastMap<K, V>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo { map: Mutex::new(FastMap::default()) }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The value stored for `key`, if any.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().get(key).cloned()
    }

    /// Stores `value` unless a value is already there; returns the stored one.
    pub fn insert(&self, key: K, value: V) -> V {
        self.lock().entry(key).or_insert(value).clone()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The table, even if a thread panicked while holding it (its entries are whole values).
    fn lock(&self) -> MutexGuard<'_, FastMap<K, V>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_stored_wins() {
        let memo: Memo<String, u32> = Memo::default();
        assert_eq!(memo.get("a"), None);
        assert_eq!(memo.insert("a".into(), 1), 1);
        assert_eq!(memo.insert("a".into(), 2), 1);
        assert_eq!(memo.get("a"), Some(1));
        memo.clear();
        assert_eq!(memo.get("a"), None);
    }

    #[test]
    fn shared_across_threads() {
        let memo: Memo<u32, u32> = Memo::default();
        std::thread::scope(|s| {
            for t in 0..4 {
                let memo = &memo;
                s.spawn(move || {
                    for k in 0..100 {
                        memo.insert(k, t);
                    }
                });
            }
        });
        assert!((0..100).all(|k| memo.get(&k).is_some_and(|v| v < 4)));
    }
}
