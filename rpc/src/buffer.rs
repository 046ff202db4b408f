//! A bounded pool of `BytesMut` buffers in size classes.
//!
//! Encoders take a buffer of at least the size they expect to write, write a message,
//! and hand it on as `Bytes`; once the writer has sent it, [`BufferPool::recycle`] takes
//! it back if no one else still holds a reference. Each class keeps at most a fixed
//! number of buffers, and a buffer that grew past the largest class is dropped rather
//! than kept, so the pool's memory is bounded by
//! `sum(class_size * buffers_per_class)`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

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
    hits: AtomicU64,
    misses: AtomicU64,
    taken: AtomicU64,
    gone: AtomicU64,
    returned: AtomicU64,
    discarded: AtomicU64,
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
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            gone: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        }
    }

    /// The process-wide pool with the default configuration.
    pub fn global() -> &'static BufferPool {
        static GLOBAL: OnceLock<BufferPool> = OnceLock::new();
        GLOBAL.get_or_init(BufferPool::default)
    }

    /// An empty buffer with room for at least `min_capacity` bytes.
    ///
    /// It comes from the smallest class that fits when one has a free buffer; otherwise
    /// a new one of that class's size is allocated. A request larger than every class
    /// allocates exactly what was asked, and that buffer will not be kept.
    pub fn take(&self, min_capacity: usize) -> BytesMut {
        self.taken.fetch_add(1, Ordering::Relaxed);
        let fitting = self.classes.iter().position(|c| c.size >= min_capacity);
        let Some(first) = fitting else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return BytesMut::with_capacity(min_capacity);
        };
        // The smallest class that fits first, then larger ones: a large buffer's
        // remaining room serves small messages as well.
        for class in &self.classes[first..] {
            let popped = class.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(buf) = popped {
                self.hits.fetch_add(1, Ordering::Relaxed);
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
                self.hits.fetch_add(1, Ordering::Relaxed);
                return buf;
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
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
    pub fn freeze(&self, mut buf: BytesMut) -> Bytes {
        let frame = buf.split().freeze();
        self.give(buf);
        frame
    }

    /// Gives a buffer back. It is cleared and kept in the largest class it can serve,
    /// unless that class is full or the buffer is larger than the largest class.
    pub fn give(&self, mut buf: BytesMut) {
        self.gone.fetch_add(1, Ordering::Relaxed);
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
            self.returned.fetch_add(1, Ordering::Relaxed);
        } else {
            self.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives back a frozen buffer if this was its last reference; a buffer still
    /// shared elsewhere is simply dropped here (and counted as discarded).
    pub fn recycle(&self, bytes: Bytes) {
        match bytes.try_into_mut() {
            Ok(buf) => self.give(buf),
            Err(_) => {
                self.gone.fetch_add(1, Ordering::Relaxed);
                self.discarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        let taken = self.taken.load(Ordering::Relaxed);
        let gone = self.gone.load(Ordering::Relaxed);
        PoolStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            in_use: taken.saturating_sub(gone),
            returned: self.returned.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            pooled_bytes: self
                .classes
                .iter()
                .map(|c| {
                    let free = c.free.lock().unwrap_or_else(|e| e.into_inner());
                    free.iter().map(|b| b.capacity() as u64).sum::<u64>()
                })
                .sum(),
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
