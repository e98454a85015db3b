#ifndef CHAINSTORE_CROCKSDB_SHIM_H
#define CHAINSTORE_CROCKSDB_SHIM_H
// RocksDB's C API. Nothing else is needed from Swift: errors come back as malloc'd strings that the
// Storage module frees with rocksdb_free.
#include <rocksdb/c.h>
#endif
