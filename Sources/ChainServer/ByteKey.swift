/// A byte-string dictionary key that hashes its bytes in one call (an `[UInt8]` key would feed
/// the hasher one byte at a time).
///
/// It may be part of a larger array: a replica's copy of a put holds key and value in one.
struct ByteKey: Hashable {
    let bytes: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }
    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteKey, b: ByteKey) -> Bool { a.bytes == b.bytes }
}

/// Byte-wise (the store's) order, for key ranges.
extension ByteKey: Comparable {
    static func < (a: ByteKey, b: ByteKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}
