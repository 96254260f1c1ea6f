//! A memory budget for the request bodies the whole server holds at once.
//!
//! The body limit bounds one request; the in-flight limit bounds how many are
//! answered together. Their product (4 MiB × 512 by default) is far more than a pod's
//! memory limit, so a burst of large reviews could get the webhook OOM-killed — and
//! with `failurePolicy: Ignore`, pods created meanwhile would go unprotected without a
//! word. The budget bounds the product: every body reserves its bytes before they are
//! buffered, and keeps them until its answer is written. Ordinary bodies (up to 64 KiB)
//! reserve from a quarter of the budget of their own, so a queue of large bodies never
//! holds up the pods of everyday traffic. A request that cannot reserve
//! within a short wait is refused at once (HTTP 429); the apiserver then applies the
//! webhook's failure policy to that one pod, while every other request is answered.
//!
//! Memory given back after a burst must also leave the process: glibc's allocator
//! keeps freed heap memory, and raises its mmap threshold after large frees so the
//! next large bodies land on the heap too. [`tune_allocator`] pins the threshold (large
//! bodies are mapped and unmapped whole) and the last large reservation to end trims
//! what the heap holds.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bytes are reserved in units of this many bytes (a semaphore permit each).
const UNIT: usize = 1024;

/// Bodies up to this size are ordinary pods (3–10 KB, rarely more) and reserve from
/// their own share of the budget, so a queue of large bodies never delays them.
const SMALL_BODY: usize = 64 * 1024;

/// A reservation at least this large trims the heap when it ends the burst.
const TRIM_AFTER_BYTES: usize = 1024 * 1024;

/// The bytes of request bodies the server may hold at once: a quarter for ordinary
/// bodies, the rest for large ones.
#[derive(Debug)]
pub struct BodyBudget {
    small: Pool,
    large: Pool,
    /// How long a request may wait for room before it is refused.
    wait: Duration,
}

/// One share of the budget.
#[derive(Debug)]
struct Pool {
    units: Semaphore,
    total_units: usize,
}

/// The budget had no room within the wait.
#[derive(Debug, thiserror::Error)]
#[error("the server is holding its whole request-body budget ({budget} bytes); try again")]
pub struct Exhausted {
    /// The whole budget, in bytes.
    pub budget: usize,
}

/// Bytes reserved for one request body; given back when dropped.
#[derive(Debug)]
pub struct Reservation<'b> {
    budget: &'b BodyBudget,
    permit: SemaphorePermit<'b>,
    /// Whether the permit is from the large share.
    large: bool,
}

impl BodyBudget {
    /// A budget of `bytes`, in which a body of `max_body` bytes always fits; requests
    /// wait at most `wait` for room.
    pub fn new(bytes: usize, max_body: usize, wait: Duration) -> Self {
        let small = (bytes / 4).max(SMALL_BODY);
        let large = bytes.saturating_sub(small).max(max_body);
        BodyBudget {
            small: Pool::new(small),
            large: Pool::new(large),
            wait,
        }
    }

    /// Reserves room for a body of `bytes`, waiting at most the budget's wait.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation<'_>, Exhausted> {
        let large = bytes > SMALL_BODY;
        let permit = self.acquire(large, bytes).await?;
        Ok(Reservation {
            budget: self,
            permit,
            large,
        })
    }

    /// Bytes currently free in both shares, for tests.
    pub fn available_bytes(&self) -> usize {
        (self.small.units.available_permits() + self.large.units.available_permits()) * UNIT
    }

    fn pool(&self, large: bool) -> &Pool {
        if large { &self.large } else { &self.small }
    }

    async fn acquire(&self, large: bool, bytes: usize) -> Result<SemaphorePermit<'_>, Exhausted> {
        let pool = self.pool(large);
        let units = bytes.div_ceil(UNIT);
        let exhausted = || Exhausted {
            budget: (self.small.total_units + self.large.total_units) * UNIT,
        };
        // More than the whole share can never fit: say so now rather than wait.
        let wanted = u32::try_from(units)
            .ok()
            .filter(|_| units <= pool.total_units)
            .ok_or_else(exhausted)?;
        match tokio::time::timeout(self.wait, pool.units.acquire_many(wanted)).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or the semaphore was closed (it never is).
            _ => Err(exhausted()),
        }
    }
}

impl Pool {
    fn new(bytes: usize) -> Self {
        let total_units = bytes.div_ceil(UNIT).max(1);
        Pool {
            units: Semaphore::new(total_units),
            total_units,
        }
    }
}

impl Reservation<'_> {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permit.num_permits() * UNIT
    }

    /// Grows the reservation by `bytes`; a body that outgrows the ordinary share
    /// moves to the large one (its small permit is given back once it has).
    pub async fn grow(&mut self, bytes: usize) -> Result<(), Exhausted> {
        let total = self.bytes() + bytes;
        if self.large || total <= SMALL_BODY {
            let more = self.budget.acquire(self.large, bytes).await?;
            self.permit.merge(more);
        } else {
            self.permit = self.budget.acquire(true, total).await?;
            self.large = true;
        }
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let units = self.permit.num_permits();
        let pool = self.budget.pool(self.large);
        // The permit is released right after this returns: when it is all that is
        // still out, this large body ends the burst, and the heap is trimmed once.
        let last_out = pool.units.available_permits() + units == pool.total_units;
        if units * UNIT >= TRIM_AFTER_BYTES && last_out {
            trim_heap();
        }
    }
}

/// Makes large allocations go straight to the kernel and back (glibc only): a fixed
/// mmap threshold, which also stops glibc from raising it after large frees.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; any value is accepted.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Gives the heap's free memory back to the kernel (glibc only).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim walks the allocator's own free lists; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn large_bodies_are_bounded_and_given_back() {
        // 8 MiB: 2 MiB for ordinary bodies, 6 MiB for large ones.
        let budget = BodyBudget::new(8 * MIB, MIB, Duration::from_millis(20));
        let a = budget.reserve(4 * MIB).await.unwrap();
        assert_eq!(a.bytes(), 4 * MIB);
        // 4 + 4 > 6: refused after the wait.
        assert!(budget.reserve(4 * MIB).await.is_err());
        let mut b = budget.reserve(MIB + 1).await.unwrap();
        assert_eq!(b.bytes(), MIB + UNIT, "rounded up to whole units");
        assert!(
            b.grow(MIB).await.is_err(),
            "nothing left in the large share"
        );
        drop(a);
        b.grow(4 * MIB).await.unwrap();
        drop(b);
        assert_eq!(budget.available_bytes(), 8 * MIB);
    }

    #[tokio::test]
    async fn ordinary_bodies_pass_while_large_ones_hold_their_whole_share() {
        let budget = BodyBudget::new(8 * MIB, MIB, Duration::from_millis(20));
        let held = budget.reserve(6 * MIB).await.unwrap();
        assert!(budget.reserve(MIB).await.is_err());
        let small: Vec<_> = reserve_each(&budget, 100, 8 * UNIT).await;
        assert!(
            small.iter().all(|r| r.is_ok()),
            "every ordinary body got room"
        );
        drop((held, small));
    }

    async fn reserve_each(
        budget: &BodyBudget,
        n: usize,
        bytes: usize,
    ) -> Vec<Result<Reservation<'_>, Exhausted>> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(budget.reserve(bytes).await);
        }
        out
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_moves_to_the_large_share_as_it_grows() {
        let budget = BodyBudget::new(8 * MIB, MIB, Duration::from_millis(20));
        let mut r = budget.reserve(0).await.unwrap();
        r.grow(SMALL_BODY).await.unwrap();
        assert!(!r.large);
        r.grow(UNIT).await.unwrap();
        assert!(r.large);
        assert_eq!(r.bytes(), SMALL_BODY + UNIT);
        assert_eq!(budget.available_bytes(), 8 * MIB - SMALL_BODY - UNIT);
    }

    #[tokio::test]
    async fn more_than_a_whole_share_is_refused_without_waiting() {
        let budget = BodyBudget::new(4 * MIB, MIB, Duration::from_secs(3600));
        let err = budget.reserve(4 * MIB).await.unwrap_err();
        assert_eq!(err.budget, 4 * MIB);
    }

    #[tokio::test]
    async fn a_waiting_request_gets_room_freed_during_its_wait() {
        let budget = std::sync::Arc::new(BodyBudget::new(4 * MIB, MIB, Duration::from_secs(5)));
        let held = budget.reserve(3 * MIB).await.unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(2 * MIB).await.map(|r| r.bytes()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert_eq!(waiter.await.unwrap().unwrap(), 2 * MIB);
    }
}
