#ifndef CHAINSTORE_CROCKSDB_SHIM_H
#define CHAINSTORE_CROCKSDB_SHIM_H
// RocksDB's C API. Nothing else is needed from Swift: errors come back as malloc'd strings that the
// Storage module frees with rocksdb_free.
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

// A fixed-length prefix extractor that also turns off RocksDB's per-operation perf counters on
// every thread that calls it.
//
// Why: RocksDB keeps its perf level per thread, counting by default, and a counting thread pays
// two thread-local lookups through the shared library (`__tls_get_addr`) on every key
// comparison. `rocksdb_set_perf_level` only reaches the calling thread, and the C API runs no
// code of ours on RocksDB's own flush and compaction threads, where sorting a hashed memtable
// for a flush makes about thirty comparisons per entry: the counters were a third of a flush
// (callgrind). A flush or compaction asks the prefix extractor whether each key it writes has a
// prefix, so that question turns counting off on its thread: from a thread's second table on,
// its sorting is not counted. (Not done in `transform`, which every memtable insert calls on the
// event loop, where counting is off from the start.)
// It behaves exactly as RocksDB's own `NewFixedPrefixTransform` and carries the same name, so
// tables written with either keep their prefix filters.

typedef struct {
    size_t length;
    char name[48];
} chainstore_prefix_state;

// Setting the level is one thread-local store; the importer emits no thread-local variable of a
// header to remember that it was done.
static inline void chainstore_perf_counters_off_here(void) {
    rocksdb_set_perf_level(1);  // rocksdb::PerfLevel::kDisable
}

static inline void chainstore_prefix_destroy(void *state) { free(state); }

static inline char *chainstore_prefix_transform(void *state, const char *key, size_t length, size_t *dst_length) {
    (void)length;
    *dst_length = ((chainstore_prefix_state *)state)->length;
    return (char *)key;
}

static inline unsigned char chainstore_prefix_in_domain(void *state, const char *key, size_t length) {
    (void)key;
    chainstore_perf_counters_off_here();
    return length >= ((chainstore_prefix_state *)state)->length;
}

static inline unsigned char chainstore_prefix_in_range(void *state, const char *key, size_t length) {
    (void)key;
    return length == ((chainstore_prefix_state *)state)->length;
}

static inline const char *chainstore_prefix_name(void *state) { return ((chainstore_prefix_state *)state)->name; }

/// A fixed-prefix extractor of `length` bytes (NULL if out of memory); the options that take it
/// own it.
static inline rocksdb_slicetransform_t *chainstore_fixed_prefix_create(size_t length) {
    chainstore_prefix_state *s = (chainstore_prefix_state *)malloc(sizeof *s);
    if (s == NULL) return NULL;
    s->length = length;
    snprintf(s->name, sizeof s->name, "rocksdb.FixedPrefix.%zu", length);
    return rocksdb_slicetransform_create(s, chainstore_prefix_destroy, chainstore_prefix_transform,
                                         chainstore_prefix_in_domain, chainstore_prefix_in_range,
                                         chainstore_prefix_name);
}
#endif
