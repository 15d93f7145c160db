//! Which accepted connections are served: bounds per worker and per client address.
//!
//! Checked once per connection at accept, before anything is read: a connection over a
//! limit is closed at once and counted. The per-address count is shared by all workers (an
//! address spreads over them by `SO_REUSEPORT` hashing), in sharded maps touched only at
//! accept and close, never per request. IPv6 addresses count per /64, as the failure
//! limits do: one host can pick any address in its /64.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Independent locks for the per-address counts (accepts from different addresses on
/// different workers rarely meet).
const ADDRESS_SHARDS: usize = 16;

/// Connections refused at accept, by reason (process-wide, for logs, tests and metrics).
#[derive(Debug, Default)]
pub struct AdmissionCounters {
    pub over_worker_limit: AtomicU64,
    pub over_address_limit: AtomicU64,
}

/// The process-wide per-address counts.
#[derive(Debug)]
pub struct AddressLimit {
    max_per_address: usize,
    shards: Vec<Mutex<HashMap<IpAddr, usize>>>,
    pub counters: AdmissionCounters,
}

impl AddressLimit {
    /// `max_per_address` 0 means no limit.
    pub fn new(max_per_address: usize) -> Arc<AddressLimit> {
        Arc::new(AddressLimit {
            max_per_address,
            shards: (0..ADDRESS_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            counters: AdmissionCounters::default(),
        })
    }

    fn shard(&self, key: &IpAddr) -> &Mutex<HashMap<IpAddr, usize>> {
        // A fixed-key hash is enough here: it only spreads lock contention.
        let hash = ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(key);
        &self.shards[hash as usize % ADDRESS_SHARDS]
    }

    /// Counts one more connection from `ip`, unless that would exceed the limit.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        if self.max_per_address == 0 {
            return Some(AddressSlot {
                limit: None,
                key: ip,
            });
        }
        let key = address_key(ip);
        let mut counts = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            limit: Some(Arc::clone(self)),
            key,
        })
    }
}

/// One connection's place in the per-address count; given back on drop.
#[derive(Debug)]
struct AddressSlot {
    limit: Option<Arc<AddressLimit>>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(limit) = &self.limit else {
            return;
        };
        let mut counts = limit
            .shard(&self.key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// One worker's gate: its own connection count plus the shared per-address counts.
#[derive(Debug)]
pub struct Admission {
    open: Rc<Cell<usize>>,
    max_per_worker: usize,
    addresses: Arc<AddressLimit>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    WorkerFull,
    AddressFull,
}

impl Admission {
    /// `max_per_worker` 0 means no limit.
    pub fn new(max_per_worker: usize, addresses: Arc<AddressLimit>) -> Admission {
        Admission {
            open: Rc::new(Cell::new(0)),
            max_per_worker,
            addresses,
        }
    }

    /// A permit for a connection from `ip`, held for as long as it is served.
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refused> {
        if self.max_per_worker > 0 && self.open.get() >= self.max_per_worker {
            self.addresses
                .counters
                .over_worker_limit
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refused::WorkerFull);
        }
        let Some(address) = self.addresses.acquire(ip) else {
            self.addresses
                .counters
                .over_address_limit
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refused::AddressFull);
        };
        self.open.set(self.open.get() + 1);
        Ok(Permit {
            open: Rc::clone(&self.open),
            _address: address,
        })
    }

    /// Client connections this worker serves right now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.get()
    }
}

/// An admitted connection; dropping it (however the connection ends) frees its places.
#[derive(Debug)]
pub struct Permit {
    open: Rc<Cell<usize>>,
    _address: AddressSlot,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.open.set(self.open.get() - 1);
    }
}

/// IPv4-mapped IPv6 counts as IPv4; other IPv6 addresses per /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn limits_per_worker_and_per_address_and_frees_on_drop() {
        let addresses = AddressLimit::new(2);
        let one = Admission::new(3, Arc::clone(&addresses));
        let two = Admission::new(3, Arc::clone(&addresses));
        let a1 = one.admit(ip("10.0.0.1")).unwrap();
        let _a2 = two.admit(ip("::ffff:10.0.0.1")).unwrap();
        // The address is full across both workers.
        assert_eq!(one.admit(ip("10.0.0.1")).unwrap_err(), Refused::AddressFull);
        let _b = one.admit(ip("10.0.0.2")).unwrap();
        let _c = one.admit(ip("2001:db8::1")).unwrap();
        // Same /64.
        let _d = two.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(
            two.admit(ip("2001:db8::3")).unwrap_err(),
            Refused::AddressFull
        );
        assert_eq!(one.open(), 3);
        assert_eq!(one.admit(ip("10.0.0.9")).unwrap_err(), Refused::WorkerFull);
        drop(a1);
        assert_eq!(one.open(), 2);
        let _again = one.admit(ip("10.0.0.1")).unwrap();
        let counters = &addresses.counters;
        assert_eq!(counters.over_address_limit.load(Ordering::Relaxed), 2);
        assert_eq!(counters.over_worker_limit.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn zero_means_no_limit() {
        let admission = Admission::new(0, AddressLimit::new(0));
        let permits: Vec<_> = (0..1000)
            .map(|_| admission.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(admission.open(), 1000);
        drop(permits);
        assert_eq!(admission.open(), 0);
    }
}
