/// A `WriteBatch` in RocksDB's own encoding of a write batch, written in one pass into memory of
/// ours and handed to RocksDB whole (`rocksdb_writebatch_create_from`). Adding the operations one
/// call at a time (`rocksdb_writebatch_put`) cost about 470 instructions a put — an append to a
/// C++ string per slice, varints and bookkeeping through several layers — on every replica of
/// every write (callgrind, standalone SET).
///
/// The encoding is the one RocksDB's write-ahead log holds (`WriteBatch::rep_`), so it cannot
/// change without breaking the replay of older logs: a 12-byte header — the sequence number
/// (fixed 64-bit little-endian; the write assigns it) and the operation count (fixed 32-bit) —
/// then each operation of the default column family as a type byte and length-prefixed slices
/// (varint32 length, then the bytes): put `0x01` key value, delete `0x00` key, range deletion
/// `0x0F` begin end. RocksDB checks the count and every record when it applies the batch, so a
/// mistake here is an error from the write, not silent damage (`StoreContractTests` write every
/// kind of operation through it).
enum BatchEncoding {
    static let headerBytes = 12
    static let putType: UInt8 = 0x01
    static let deleteType: UInt8 = 0x00
    static let rangeDeletionType: UInt8 = 0x0F

    /// The largest slice the format holds (its length is a varint32).
    static let maxSliceBytes = Int(UInt32.max)

    enum Measure: Equatable {
        /// The encoded size.
        case bytes(Int)
        /// A key shorter than the memtable's hash prefix (RocksDB would hash bytes past it).
        case keyTooShort(length: Int)
        /// A key or value too long for the format.
        case sliceTooLarge(length: Int)
    }

    /// The encoded size of `ops`, or why they cannot be encoded: the first key shorter than
    /// `minimumKeyLength` (range deletions live in their own, ordered, memtable, so only their
    /// bounds may be shorter), or a slice over `maxSlice` (`maxSliceBytes`; a test gives less). One
    /// pass for all: each pass over the operations retains and releases their arrays.
    static func measure(_ ops: UnsafeBufferPointer<WriteBatch.Op>, minimumKeyLength: Int,
                        maxSlice: Int = maxSliceBytes) -> Measure {
        var n = headerBytes
        for i in ops.indices {
            // The slices' lengths, and the key's when it must cover the hash prefix.
            let first: Int, second: Int?, key: Int?
            switch ops[i] {
            case let .put(k, v): (first, second, key) = (k.count, v.count, k.count)
            case let .delete(k): (first, second, key) = (k.count, nil, k.count)
            case let .putPrefixed(p, rest, v): (first, second, key) = (p.count + rest.count, v.count, p.count + rest.count)
            case let .putPrefixedShared(p, shared, split):
                (first, second, key) = (p.count + split.keyCount, shared.count - split.valueStart, p.count + split.keyCount)
            case let .deletePrefixed(p, rest): (first, second, key) = (p.count + rest.count, nil, p.count + rest.count)
            case let .deleteRange(s, e): (first, second, key) = (s.count, e.count, nil)
            }
            if let key, key < minimumKeyLength { return .keyTooShort(length: key) }
            let longest = max(first, second ?? 0)
            if longest > maxSlice { return .sliceTooLarge(length: longest) }
            n += 1 + sliceBytes(first) + (second.map(sliceBytes) ?? 0)
        }
        return .bytes(n)
    }

    /// Writes `ops` into `out`, which holds exactly the bytes `measure` counted.
    static func encode(_ ops: UnsafeBufferPointer<WriteBatch.Op>, into out: UnsafeMutableRawBufferPointer) {
        let base = out.baseAddress!
        base.storeBytes(of: UInt64(0).littleEndian, as: UInt64.self)
        (base + 8).storeBytes(of: UInt32(truncatingIfNeeded: ops.count).littleEndian, as: UInt32.self)
        var at = headerBytes
        func byte(_ b: UInt8) {
            base.storeBytes(of: b, toByteOffset: at, as: UInt8.self)
            at += 1
        }
        func varint(_ value: Int) {
            var v = UInt32(truncatingIfNeeded: value)
            while v >= 0x80 {
                byte(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            byte(UInt8(v))
        }
        func bytes(_ a: [UInt8]) {
            a.withUnsafeBytes { src in
                if let p = src.baseAddress { (base + at).copyMemory(from: p, byteCount: src.count) }
            }
            at += a.count
        }
        func bytes(_ a: ArraySlice<UInt8>) {
            a.withUnsafeBytes { src in
                if let p = src.baseAddress { (base + at).copyMemory(from: p, byteCount: src.count) }
            }
            at += a.count
        }
        func slice(_ a: ArraySlice<UInt8>) {
            varint(a.count)
            bytes(a)
        }
        func slice(_ a: [UInt8]) {
            varint(a.count)
            bytes(a)
        }
        func prefixedSlice(_ p: KeyPrefix, _ rest: [UInt8]) { prefixedSlice(p, rest[...]) }
        func prefixedSlice(_ p: KeyPrefix, _ rest: ArraySlice<UInt8>) {
            varint(p.count + rest.count)
            var be = p.packed.bigEndian
            withUnsafeBytes(of: &be) { (base + at).copyMemory(from: $0.baseAddress!, byteCount: p.count) }
            at += p.count
            bytes(rest)
        }
        for i in ops.indices {
            switch ops[i] {
            case let .put(k, v):
                byte(putType)
                slice(k)
                slice(v)
            case let .delete(k):
                byte(deleteType)
                slice(k)
            case let .putPrefixed(p, rest, v):
                byte(putType)
                prefixedSlice(p, rest)
                slice(v)
            case let .putPrefixedShared(p, shared, split):
                byte(putType)
                prefixedSlice(p, split.key(shared))
                slice(split.value(shared))
            case let .deletePrefixed(p, rest):
                byte(deleteType)
                prefixedSlice(p, rest)
            case let .deleteRange(s, e):
                byte(rangeDeletionType)
                slice(s)
                slice(e)
            }
        }
        precondition(at == out.count, "write batch encoded to \(at) bytes, \(out.count) reserved")
    }

    /// Bytes of a slice of `count` bytes with its varint32 length.
    @inline(__always) static func sliceBytes(_ count: Int) -> Int {
        count + (count < 1 << 7 ? 1 : count < 1 << 14 ? 2 : count < 1 << 21 ? 3 : count < 1 << 28 ? 4 : 5)
    }
}
