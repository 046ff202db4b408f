//! The buffer pool: which buffers it keeps, and its counters.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rpc::buffer::{BufferPool, PoolConfig, PoolStats};

fn small_pool(buffers_per_class: usize) -> BufferPool {
    BufferPool::new(PoolConfig {
        class_sizes: vec![512, 4096, 65536],
        buffers_per_class,
        min_allocation: 0,
    })
}

#[test]
fn take_from_an_empty_class_is_a_miss_and_take_after_recycle_is_a_hit() {
    let pool = small_pool(4);
    let mut buf = pool.take(100);
    assert_eq!(pool.stats().misses, 1);
    assert_eq!(pool.stats().hits, 0);
    buf.extend_from_slice(b"hello");
    pool.recycle(buf.freeze());

    let again = pool.take(100);
    assert!(again.is_empty(), "a recycled buffer comes back cleared");
    assert!(again.capacity() >= 100);
    assert_eq!(pool.stats().hits, 1);
    assert_eq!(pool.stats().misses, 1);

    // Another class has no free buffer yet.
    let _other = pool.take(1000);
    assert_eq!(pool.stats().misses, 2);
    assert_eq!(pool.stats().hits, 1);
}

#[test]
fn take_allocates_the_smallest_class_that_fits() {
    let pool = small_pool(4);
    assert_eq!(pool.take(0).capacity(), 512);
    assert_eq!(pool.take(512).capacity(), 512);
    assert_eq!(pool.take(513).capacity(), 4096);
    assert_eq!(pool.take(65536).capacity(), 65536);
    // Larger than every class: exactly what was asked.
    assert_eq!(pool.take(65537).capacity(), 65537);
    assert_eq!(pool.stats().misses, 5);
}

#[test]
fn in_use_counts_buffers_taken_and_not_yet_given_back() {
    let pool = small_pool(4);
    let a = pool.take(10);
    let b = pool.take(10);
    let c = pool.take(5000);
    assert_eq!(pool.stats().in_use, 3);
    pool.give(a);
    assert_eq!(pool.stats().in_use, 2);
    pool.recycle(b.freeze());
    assert_eq!(pool.stats().in_use, 1);
    let d = pool.take(10);
    assert_eq!(pool.stats().in_use, 2);
    pool.give(c);
    pool.give(d);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn buffer_larger_than_the_largest_class_is_not_kept() {
    let pool = small_pool(4);
    for size in [65537, 65536 + 65536 / 2, 2 * 65536, 4 * 65536] {
        let before = pool.stats();
        let buf = pool.take(size);
        assert!(buf.capacity() >= size);
        pool.recycle(buf.freeze());
        let after = pool.stats();
        assert_eq!(after.discarded, before.discarded + 1, "size {size}");
        assert_eq!(after.returned, before.returned, "size {size}");
        assert_eq!(after.pooled_bytes, 0, "size {size}");
        assert_eq!(after.in_use, 0, "size {size}");
    }
    // Nothing was filed under the largest class either.
    let _ = pool.take(65536);
    assert_eq!(pool.stats().hits, 0);
}

#[test]
fn buffer_that_grew_past_the_largest_class_is_not_kept() {
    let pool = small_pool(4);
    let mut buf = pool.take(65536);
    buf.extend_from_slice(&vec![7; 65536 + 1]);
    assert!(buf.capacity() > 65536);
    pool.give(buf);
    assert_eq!(pool.stats().discarded, 1);
    assert_eq!(pool.stats().pooled_bytes, 0);
}

#[test]
fn full_class_discards_further_buffers() {
    let pool = small_pool(2);
    let bufs: Vec<BytesMut> = (0..3).map(|_| pool.take(4096)).collect();
    for buf in bufs {
        pool.give(buf);
    }
    let stats = pool.stats();
    assert_eq!(stats.returned, 2);
    assert_eq!(stats.discarded, 1);
    assert_eq!(stats.pooled_bytes, 2 * 4096);
    assert_eq!(stats.in_use, 0);
    // Only two are there to take.
    let _kept: Vec<BytesMut> = (0..3).map(|_| pool.take(4096)).collect();
    assert_eq!(pool.stats().hits, 2);
    assert_eq!(pool.stats().misses, 3 + 1);
}

#[test]
fn bytes_still_shared_elsewhere_is_not_taken_back() {
    let pool = small_pool(4);
    let mut buf = pool.take(100);
    buf.extend_from_slice(b"shared");
    let frozen = buf.freeze();
    let elsewhere = frozen.clone();
    pool.recycle(frozen);
    let stats = pool.stats();
    assert_eq!(stats.returned, 0);
    assert_eq!(stats.discarded, 1);
    assert_eq!(stats.pooled_bytes, 0);
    assert_eq!(stats.in_use, 0);
    // The other holder's bytes are untouched, and the pool has nothing to hand out.
    assert_eq!(&elsewhere[..], b"shared");
    let _ = pool.take(100);
    assert_eq!(pool.stats().hits, 0);
}

#[test]
fn slice_of_a_buffer_is_not_taken_back_while_the_rest_lives() {
    let pool = small_pool(4);
    let mut buf = pool.take(100);
    buf.extend_from_slice(b"header:body");
    let mut frozen = buf.freeze();
    let header = frozen.split_to(7);
    pool.recycle(frozen);
    assert_eq!(pool.stats().discarded, 1);
    assert_eq!(&header[..], b"header:");
}

#[test]
fn pooled_bytes_is_the_capacity_of_the_free_buffers() {
    let pool = small_pool(4);
    let a = pool.take(100);
    let b = pool.take(1000);
    let c = pool.take(1000);
    assert_eq!(pool.stats().pooled_bytes, 0);
    pool.give(a);
    assert_eq!(pool.stats().pooled_bytes, 512);
    pool.recycle(b.freeze());
    pool.give(c);
    assert_eq!(pool.stats().pooled_bytes, 512 + 2 * 4096);
    let _b = pool.take(4096);
    assert_eq!(pool.stats().pooled_bytes, 512 + 4096);
    let _a = pool.take(1);
    assert_eq!(pool.stats().pooled_bytes, 4096);
    assert_eq!(pool.stats().hits, 2);
}

#[test]
fn buffer_is_kept_in_the_largest_class_it_can_serve() {
    let pool = small_pool(4);
    pool.give(BytesMut::with_capacity(5000));
    assert_eq!(pool.stats().returned, 1);
    assert_eq!(pool.stats().pooled_bytes, 5000);
    // It serves the 4 KiB class...
    let buf = pool.take(4096);
    assert_eq!(pool.stats().hits, 1);
    assert!(buf.capacity() >= 5000);
    pool.give(buf);
    // ...and a request above its class that its real capacity still covers.
    let buf = pool.take(4097);
    assert_eq!(pool.stats().hits, 2);
    assert!(buf.capacity() >= 4097);
    // Not one beyond it.
    pool.give(buf);
    let _ = pool.take(5001);
    assert_eq!(pool.stats().misses, 1);
}

#[test]
fn buffer_smaller_than_every_class_is_not_kept() {
    let pool = small_pool(4);
    pool.give(BytesMut::with_capacity(100));
    assert_eq!(pool.stats().discarded, 1);
    assert_eq!(pool.stats().returned, 0);
    assert_eq!(pool.stats().pooled_bytes, 0);
}

#[test]
fn advanced_buffer_gets_its_room_back_when_nothing_else_shares_it() {
    let pool = small_pool(4);
    let mut buf = pool.take(512);
    buf.extend_from_slice(&[1; 512]);
    buf.advance(500);
    assert!(buf.capacity() < 512);
    pool.give(buf);
    assert_eq!(pool.stats().returned, 1);
    let again = pool.take(512);
    assert_eq!(pool.stats().hits, 1);
    assert!(again.capacity() >= 512);
}

#[test]
fn counters_balance_under_concurrent_use() {
    let pool = Arc::new(small_pool(8));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                for i in 0..1000 {
                    let mut buf = pool.take((i * 37 + t * 11) % 70_000);
                    buf.extend_from_slice(b"x");
                    pool.recycle(buf.freeze());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.hits + stats.misses, 4000);
    assert_eq!(stats.returned + stats.discarded, 4000);
    assert_eq!(stats.in_use, 0);
    assert!(stats.hits > 0);
    assert!(stats.pooled_bytes <= 8 * (512 + 4096 + 65536));
}

#[test]
fn default_pool_has_ascending_classes() {
    let pool = BufferPool::default();
    let classes: Vec<usize> = pool.class_sizes().collect();
    assert!(!classes.is_empty());
    assert!(classes.windows(2).all(|w| w[0] < w[1]), "{classes:?}");
    assert_eq!(pool.stats(), PoolStats::default());
    assert!(std::ptr::eq(BufferPool::global(), BufferPool::global()));
}

#[test]
#[should_panic(expected = "strictly ascending")]
fn new_panics_on_descending_classes() {
    BufferPool::new(PoolConfig {
        class_sizes: vec![4096, 512],
        buffers_per_class: 4,
        min_allocation: 0,
    });
}

#[test]
#[should_panic(expected = "strictly ascending")]
fn new_panics_on_repeated_classes() {
    BufferPool::new(PoolConfig {
        class_sizes: vec![512, 512, 4096],
        buffers_per_class: 4,
        min_allocation: 0,
    });
}

#[test]
#[should_panic(expected = "non-empty")]
fn new_panics_without_classes() {
    BufferPool::new(PoolConfig {
        class_sizes: vec![],
        buffers_per_class: 4,
        min_allocation: 0,
    });
}

#[test]
fn freeze_cuts_frames_from_one_allocation_and_reclaims_it_when_they_are_gone() {
    let pool = BufferPool::new(PoolConfig {
        class_sizes: vec![512, 4096],
        buffers_per_class: 4,
        min_allocation: 4096,
    });
    let mut frames = Vec::new();
    for i in 0..5 {
        let mut buf = pool.take(100);
        buf.extend_from_slice(format!("frame {i}").as_bytes());
        frames.push(pool.freeze(buf));
    }
    // One allocation served all five frames, which lie next to each other.
    assert_eq!(pool.stats().misses, 1);
    assert_eq!(pool.stats().hits, 4);
    let gap = frames[1].as_ptr() as usize - frames[0].as_ptr() as usize;
    assert_eq!(gap, frames[0].len());
    assert_eq!(&frames[4][..], b"frame 4");
    // With the frames gone, the whole allocation is reclaimed in place.
    let first = frames[0].as_ptr();
    drop(frames);
    let buf = pool.take(4096);
    assert!(buf.capacity() >= 4096);
    assert_eq!(buf.as_ptr(), first, "the same allocation, from its start");
    assert_eq!(pool.stats().misses, 1);
}

#[test]
fn frame_with_writes_in_the_parked_room_and_counts_a_take_and_a_give() {
    let pool = small_pool(4);
    let frame = pool
        .frame_with(100, |buf| {
            buf.extend_from_slice(b"first");
            Ok::<_, ()>(())
        })
        .unwrap();
    assert_eq!(&frame[..], b"first");
    assert_eq!((pool.stats().misses, pool.stats().hits), (1, 0));
    for i in 0..10 {
        let frame = pool
            .frame_with(100, |buf| {
                assert!(buf.is_empty());
                buf.extend_from_slice(format!("frame {i}").as_bytes());
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(frame, format!("frame {i}").as_bytes());
        pool.recycle(frame);
    }
    let stats = pool.stats();
    assert_eq!((stats.misses, stats.hits), (1, 10));
    // Each write was a take and a give (the room parked again); the recycled frames
    // were still sharing their allocation with it.
    assert_eq!((stats.returned, stats.discarded), (11, 10));
}

#[test]
fn frame_with_gives_the_buffer_back_empty_when_the_write_fails() {
    let pool = small_pool(4);
    pool.recycle(pool.frame_with(10, |_| Ok::<_, ()>(())).unwrap());
    let failed = pool.frame_with(10, |buf| {
        buf.extend_from_slice(b"half a message");
        Err("failed")
    });
    assert_eq!(failed.unwrap_err(), "failed");
    let frame = pool
        .frame_with(10, |buf| {
            assert!(buf.is_empty(), "the failed write left {buf:?}");
            buf.extend_from_slice(b"whole");
            Ok::<_, ()>(())
        })
        .unwrap();
    assert_eq!(&frame[..], b"whole");
    assert_eq!(pool.stats().misses, 1);
}

#[test]
fn frame_with_used_inside_a_write_takes_the_general_path() {
    let pool = small_pool(4);
    pool.recycle(pool.frame_with(10, |_| Ok::<_, ()>(())).unwrap());
    let outer = pool
        .frame_with(10, |buf| {
            let inner = pool
                .frame_with(10, |inner| {
                    inner.extend_from_slice(b"inner");
                    Ok::<_, ()>(())
                })
                .unwrap();
            buf.extend_from_slice(&inner);
            buf.extend_from_slice(b" in outer");
            Ok::<_, ()>(())
        })
        .unwrap();
    assert_eq!(&outer[..], b"inner in outer");
}

#[test]
fn a_room_that_grew_past_64_kib_goes_back_to_the_classes() {
    let pool = BufferPool::new(PoolConfig {
        class_sizes: vec![512, 4096, 1 << 20],
        buffers_per_class: 4,
        min_allocation: 0,
    });
    pool.recycle(pool.frame_with(10, |_| Ok::<_, ()>(())).unwrap());
    let frame = pool
        .frame_with(10, |buf| {
            buf.reserve(200_000);
            buf.extend_from_slice(&[b'x'; 1000]);
            Ok::<_, ()>(())
        })
        .unwrap();
    assert_eq!(frame.len(), 1000);
    // The room after the frame (about 199 KB) was filed under a class, not parked.
    let stats = pool.stats();
    assert_eq!(stats.in_use, 0);
    assert!(stats.pooled_bytes >= 199_000, "{stats:?}");
}
