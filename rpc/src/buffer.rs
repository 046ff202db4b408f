//! A bounded pool of `BytesMut` buffers in size classes.
//!
//! Encoders take a buffer of at least the size they expect to write, write a message,
//! and hand it on as `Bytes`; once the writer has sent it, [`BufferPool::recycle`] takes
//! it back if no one else still holds a reference. Each class keeps at most a fixed
//! number of buffers, and a buffer that grew past the largest class is dropped rather
//! than kept, so the pool's memory is bounded by
//! `sum(class_size * buffers_per_class)`, plus at most one buffer of up to 64 KiB per
//! thread that uses the pool (the room [`BufferPool::freeze`] keeps for that thread's
//! next take).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{Bytes, BytesMut};

/// The sizes and depth of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Capacities of the classes, ascending.
    pub class_sizes: Vec<usize>,
    /// How many free buffers each class keeps at most.
    pub buffers_per_class: usize,
    /// The least a new buffer holds, so that many small messages are cut from one
    /// allocation (see [`BufferPool::freeze`]); 0 allocates exactly the class size.
    pub min_allocation: usize,
}

impl Default for PoolConfig {
    /// Classes of 512 B, 4 KiB, 64 KiB and 1 MiB, 64 buffers each (at most about 68 MiB
    /// kept, and far less unless large messages were in flight); new buffers hold at
    /// least 8 KiB.
    fn default() -> Self {
        PoolConfig {
            class_sizes: vec![512, 4 << 10, 64 << 10, 1 << 20],
            buffers_per_class: 64,
            min_allocation: 8 << 10,
        }
    }
}

/// Counters of a pool, read with [`BufferPool::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PoolStats {
    /// Takes served from a free buffer.
    pub hits: u64,
    /// Takes that had to allocate.
    pub misses: u64,
    /// Buffers taken and not yet given back (or dropped).
    pub in_use: u64,
    /// Buffers given back and kept.
    pub returned: u64,
    /// Buffers given back and dropped (too large, too small, class full, or shared).
    pub discarded: u64,
    /// Bytes of capacity held by free buffers in the pool.
    pub pooled_bytes: u64,
}

struct Class {
    size: usize,
    free: Mutex<Vec<BytesMut>>,
}

/// The pool's counters. Taken is hits + misses and given back is returned +
/// discarded, so that a take and a give each touch one counter.
#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    returned: AtomicU64,
    discarded: AtomicU64,
}

/// The most room a thread keeps parked; a larger remainder goes back to the classes,
/// so that parking adds at most this much per thread to the pool's bound.
const PARKED_MAX: usize = 64 << 10;

/// How many takes and gives a thread's slot counts before it adds them to its pool's
/// counters, so that another thread's [`BufferPool::stats`] lags by fewer than this.
const FLUSH_EVERY: u64 = 64;

/// A thread's slot: the room left after its last [`BufferPool::freeze`], and the
/// takes and gives the slot served, not yet added to the pool's counters.
///
/// A server encodes each answer on the thread that ran the call, so the next answer
/// there takes the room back without a lock, a search of the classes or a shared
/// counter: those were three quarters of a small answer's cost on the server's path.
struct Parked {
    /// The address of `pool`'s counters, compared on every access; 0 for a free slot.
    key: usize,
    /// The counters of the pool the room and the counts belong to. The `Arc` keeps
    /// the address from being reused for another pool while the slot holds it.
    pool: Option<Arc<Counters>>,
    room: Option<BytesMut>,
    hits: u64,
    returned: u64,
    discarded: u64,
}

impl Parked {
    /// Counts a take or a give, adding the counts to the pool's every so often.
    fn counted(&mut self) {
        if self.hits + self.returned + self.discarded >= FLUSH_EVERY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(pool) = &self.pool else {
            return;
        };
        if self.hits > 0 {
            pool.hits.fetch_add(self.hits, Ordering::Relaxed);
        }
        if self.returned > 0 {
            pool.returned.fetch_add(self.returned, Ordering::Relaxed);
        }
        if self.discarded > 0 {
            pool.discarded.fetch_add(self.discarded, Ordering::Relaxed);
        }
        self.hits = 0;
        self.returned = 0;
        self.discarded = 0;
    }

    /// Whether the slot is free for another pool: unused, or its pool is gone (the
    /// `Arc` is held only here).
    fn is_free(&self) -> bool {
        self.pool.as_ref().is_none_or(|p| Arc::strong_count(p) == 1)
    }
}

impl Drop for Parked {
    /// When the thread ends or the slot turns to another pool: the room is dropped
    /// (its pool counted it given back when it was parked) and the counts are added.
    fn drop(&mut self) {
        self.flush();
    }
}

/// How many pools a thread keeps a slot for: a process where one thread runs a
/// client and a server (a current-thread runtime) has a pool on each side, and a
/// single slot would make them evict each other's room on every call.
const SLOTS: usize = 4;

thread_local! {
    static PARKED: RefCell<[Parked; SLOTS]> = const {
        RefCell::new(
            [const {
                Parked {
                    key: 0,
                    pool: None,
                    room: None,
                    hits: 0,
                    returned: 0,
                    discarded: 0,
                }
            }; SLOTS],
        )
    };
}

/// A bounded pool of `BytesMut` buffers in size classes.
///
/// # Examples
///
/// ```
/// use rpc::buffer::BufferPool;
///
/// let pool = BufferPool::default();
/// let mut buf = pool.take(100);
/// buf.extend_from_slice(b"hello");
/// pool.recycle(buf.freeze());
/// let again = pool.take(100);
/// assert!(again.is_empty() && again.capacity() >= 100);
/// assert_eq!(pool.stats().hits, 1);
/// ```
pub struct BufferPool {
    classes: Vec<Class>,
    buffers_per_class: usize,
    min_allocation: usize,
    counters: Arc<Counters>,
}

impl BufferPool {
    /// A pool with the given classes.
    ///
    /// # Panics
    ///
    /// When `class_sizes` is empty or not strictly ascending.
    pub fn new(config: PoolConfig) -> Self {
        assert!(
            !config.class_sizes.is_empty() && config.class_sizes.windows(2).all(|w| w[0] < w[1]),
            "buffer pool classes must be non-empty and strictly ascending, got {:?}",
            config.class_sizes
        );
        BufferPool {
            classes: config
                .class_sizes
                .iter()
                .map(|&size| Class {
                    size,
                    free: Mutex::new(Vec::with_capacity(config.buffers_per_class)),
                })
                .collect(),
            buffers_per_class: config.buffers_per_class,
            min_allocation: config.min_allocation,
            counters: Arc::default(),
        }
    }

    /// The process-wide pool with the default configuration.
    pub fn global() -> &'static BufferPool {
        static GLOBAL: OnceLock<BufferPool> = OnceLock::new();
        GLOBAL.get_or_init(BufferPool::default)
    }

    /// An empty buffer with room for at least `min_capacity` bytes.
    ///
    /// It is the room this thread's last [`BufferPool::freeze`] left when that fits;
    /// else it comes from the smallest class that fits when one has a free buffer;
    /// otherwise a new one of that class's size is allocated. A request larger than
    /// every class allocates exactly what was asked, and that buffer will not be kept.
    pub fn take(&self, min_capacity: usize) -> BytesMut {
        if let Some(buf) = self.unpark(min_capacity) {
            return buf;
        }
        let fitting = self.classes.iter().position(|c| c.size >= min_capacity);
        let Some(first) = fitting else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return BytesMut::with_capacity(min_capacity);
        };
        // The smallest class that fits first, then larger ones: a large buffer's
        // remaining room serves small messages as well.
        for class in &self.classes[first..] {
            let popped = class.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(buf) = popped {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return buf;
            }
        }
        // A smaller class may hold the room left at the end of a larger allocation,
        // which is whole again once the frames cut from it are gone.
        for class in self.classes[..first].iter().rev() {
            let mut free = class.free.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(position) = free.iter_mut().position(|b| b.try_reclaim(min_capacity)) {
                let buf = free.swap_remove(position);
                drop(free);
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return buf;
            }
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        BytesMut::with_capacity(self.classes[first].size.max(self.min_allocation))
    }

    /// Turns an encoded message into a frame and keeps the buffer's remaining room.
    ///
    /// `BytesMut::freeze` allocates when the buffer has spare room; splitting the
    /// message off instead shares the allocation, so the frame costs no allocation and
    /// the room after it serves the next messages. Once every frame cut from an
    /// allocation is dropped, [`BufferPool::give`] reclaims the whole allocation in
    /// place.
    ///
    /// The room is parked for the calling thread's next [`BufferPool::take`] (a room
    /// of up to 64 KiB; a larger one goes back to the classes), and that take costs
    /// neither a lock nor a search of the classes.
    ///
    /// # Examples
    ///
    /// ```
    /// use rpc::buffer::BufferPool;
    ///
    /// let pool = BufferPool::default();
    /// let mut buf = pool.take(64);
    /// buf.extend_from_slice(b"{}");
    /// let frame = pool.freeze(buf);
    /// assert_eq!(&frame[..], b"{}");
    /// ```
    pub fn freeze(&self, buf: BytesMut) -> Bytes {
        let mut buf = Some(buf);
        if let Some(frame) = self.park_and_cut(&mut buf) {
            if let Some(rest) = buf {
                self.give(rest);
            }
            return frame;
        }
        let mut buf = buf.expect("not parked");
        let frame = buf.split().freeze();
        self.give(buf);
        frame
    }

    /// Writes one message with `write` into a buffer of at least `min_capacity` bytes
    /// and cuts it off as a frame: [`BufferPool::take`], `write`, then
    /// [`BufferPool::freeze`], in one step.
    ///
    /// When this thread has room parked for this pool, `write` writes into it where
    /// it lies and the frame is cut there: one visit to the thread's slot instead of
    /// two, and no move of the buffer, which was a third of a small answer's cost on
    /// the server's path. The counters count it as a take and a give, as the three
    /// calls would.
    ///
    /// # Errors
    ///
    /// What `write` returns; the buffer goes back to the pool, emptied.
    ///
    /// # Examples
    ///
    /// ```
    /// use rpc::buffer::BufferPool;
    /// use rpc::message::{encode_result, Id};
    ///
    /// let pool = BufferPool::default();
    /// let id = Id::from_json("1").unwrap();
    /// let frame = pool.frame_with(512, |buf| encode_result(buf, id, &3)).unwrap();
    /// assert_eq!(&frame[..], br#"{"jsonrpc":"2.0","id":1,"result":3}"#);
    /// ```
    pub fn frame_with<E>(
        &self,
        min_capacity: usize,
        write: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<Bytes, E> {
        let mut write = Some(write);
        // `write` may be a user's `Serialize` that uses this pool itself: the slot is
        // then in use, and that inner use takes the general path.
        let in_place = self.slot(false, |parked| {
            let room = parked.room.as_mut()?;
            if room.capacity() < min_capacity && !room.try_reclaim(min_capacity) {
                return None;
            }
            room.clear();
            let out = write.take()?(room);
            let out = match out {
                Ok(()) => Ok(room.split().freeze()),
                Err(err) => {
                    room.clear();
                    Err(err)
                }
            };
            parked.hits += 1;
            // A room that grew past what a slot keeps goes back to the classes (and
            // is counted there); one that did not stays, given back.
            let grown = if room.capacity() > PARKED_MAX {
                parked.room.take()
            } else {
                parked.returned += 1;
                None
            };
            parked.counted();
            Some((out, grown))
        });
        if let Some((out, grown)) = in_place.flatten() {
            if let Some(grown) = grown {
                self.give(grown);
            }
            return out;
        }
        let write = write.expect("`write` runs once");
        let mut buf = self.take(min_capacity);
        match write(&mut buf) {
            Ok(()) => Ok(self.freeze(buf)),
            Err(err) => {
                self.give(buf);
                Err(err)
            }
        }
    }

    /// Runs `f` on this thread's slot for this pool; with `claim`, a thread without
    /// one takes a free slot or one whose pool is gone (its `Arc` held only there).
    /// `None` when there is no slot (or the thread is ending).
    #[inline]
    fn slot<R>(&self, claim: bool, f: impl FnOnce(&mut Parked) -> R) -> Option<R> {
        let key = Arc::as_ptr(&self.counters) as usize;
        PARKED
            .try_with(|slots| {
                let mut slots = slots.try_borrow_mut().ok()?;
                let at = match slots.iter().position(|p| p.key == key) {
                    Some(at) => at,
                    None if claim => {
                        let free = slots.iter().position(Parked::is_free)?;
                        // The slot's last pool is gone: its counts go to its
                        // counters, and its room is dropped.
                        slots[free] = Parked {
                            key,
                            pool: Some(Arc::clone(&self.counters)),
                            room: None,
                            hits: 0,
                            returned: 0,
                            discarded: 0,
                        };
                        free
                    }
                    None => return None,
                };
                Some(f(&mut slots[at]))
            })
            .ok()
            .flatten()
    }

    /// This thread's parked room, if it holds `min_capacity` bytes (once the frames
    /// cut from it are gone, its whole allocation counts).
    #[inline]
    fn unpark(&self, min_capacity: usize) -> Option<BytesMut> {
        self.slot(false, |parked| {
            let room = parked.room.as_mut()?;
            if room.capacity() < min_capacity && !room.try_reclaim(min_capacity) {
                return None;
            }
            // A write that panicked in `frame_with` may have left bytes behind.
            room.clear();
            parked.hits += 1;
            parked.counted();
            parked.room.take()
        })
        .flatten()
    }

    /// Parks `buf` in this thread's slot and cuts the frame off it there, so that the
    /// room after the frame is never moved after the cut (moving a buffer just
    /// written cost more than the cut). The parked room counts as given back.
    ///
    /// A slot that already holds a room keeps the larger one: the smaller comes back
    /// in `buf`, to be given to the classes. `None` (with `buf` untouched) when the
    /// room would exceed 64 KiB, the thread has no slot for this pool, or the parked
    /// room is the larger.
    #[inline]
    fn park_and_cut(&self, buf: &mut Option<BytesMut>) -> Option<Bytes> {
        let room = buf.as_ref().map_or(0, |b| b.capacity() - b.len());
        if room > PARKED_MAX {
            return None;
        }
        self.slot(true, |parked| {
            match &mut parked.room {
                None => parked.room = buf.take(),
                Some(old) if old.capacity() < room => {
                    // The smaller room leaves the slot: a take, then a give.
                    std::mem::swap(old, buf.as_mut()?);
                    parked.hits += 1;
                }
                Some(_) => return None,
            }
            parked.returned += 1;
            parked.counted();
            Some(parked.room.as_mut()?.split().freeze())
        })
        .flatten()
    }

    /// Gives a buffer back. It is cleared and kept in the largest class it can serve,
    /// unless that class is full or the buffer is larger than the largest class.
    pub fn give(&self, mut buf: BytesMut) {
        buf.clear();
        let largest = self.classes.last().map_or(0, |c| c.size);
        // A buffer that was advanced may have lost the room at its front; reclaiming it
        // is free when nothing else shares the allocation.
        let class = self
            .classes
            .iter()
            .rev()
            .find(|c| buf.capacity() >= c.size || buf.try_reclaim(c.size));
        let capacity = buf.capacity();
        let kept = match class {
            Some(class) if capacity <= largest => {
                let mut free = class.free.lock().unwrap_or_else(|e| e.into_inner());
                if free.len() < self.buffers_per_class {
                    free.push(buf);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if kept {
            self.counters.returned.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives back a frozen buffer if this was its last reference; a buffer still
    /// shared elsewhere is simply dropped here (and counted as discarded).
    pub fn recycle(&self, bytes: Bytes) {
        match bytes.try_into_mut() {
            Ok(buf) => self.give(buf),
            // A frame cut by `freeze` while the room after it lives on: the writer
            // recycles every frame it sent, so this is counted in the thread's slot
            // when the slot is this pool's.
            Err(_) => {
                let counted = self.slot(false, |parked| {
                    parked.discarded += 1;
                    parked.counted();
                });
                if counted.is_none() {
                    self.counters.discarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// A snapshot of the counters.
    ///
    /// A room parked by [`BufferPool::freeze`] counts as given back. A thread's slot
    /// adds its counts to the pool's every 64 takes and gives and when the thread
    /// ends, so another thread's counts may lag by that much; the calling thread's
    /// own are exact, and only its own room counts in `pooled_bytes`.
    pub fn stats(&self) -> PoolStats {
        // This thread's slot: its counts not yet added, and its room.
        let (own_hits, own_returned, own_discarded, parked) = self
            .slot(false, |p| {
                let room = p.room.as_ref().map_or(0, |r| r.capacity() as u64);
                (p.hits, p.returned, p.discarded, room)
            })
            .unwrap_or((0, 0, 0, 0));
        let hits = self.counters.hits.load(Ordering::Relaxed) + own_hits;
        let misses = self.counters.misses.load(Ordering::Relaxed);
        let returned = self.counters.returned.load(Ordering::Relaxed) + own_returned;
        let discarded = self.counters.discarded.load(Ordering::Relaxed) + own_discarded;
        PoolStats {
            hits,
            misses,
            in_use: (hits + misses).saturating_sub(returned + discarded),
            returned,
            discarded,
            pooled_bytes: parked
                + self
                    .classes
                    .iter()
                    .map(|c| {
                        let free = c.free.lock().unwrap_or_else(|e| e.into_inner());
                        free.iter().map(|b| b.capacity() as u64).sum::<u64>()
                    })
                    .sum::<u64>(),
        }
    }

    /// The capacities of the classes.
    pub fn class_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.classes.iter().map(|c| c.size)
    }
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool")
            .field("class_sizes", &self.class_sizes().collect::<Vec<_>>())
            .field("stats", &self.stats())
            .finish()
    }
}
