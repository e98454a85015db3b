/// How keys are laid out in a node's store. Data keys carry their slot in front so that one
/// chain's data (a set of slot ranges) can be scanned, streamed and deleted as a unit; metadata
/// lives under its own prefix and is written in the same batch as the data it describes.
///
/// Data key: `d` + slot (2 bytes, big-endian) + bucket (2 bytes) + user key. The bucket is a
/// 16-bit hash of the whole key; tag, slot and bucket form the 5-byte prefix by which the
/// store's memtable hashes keys, so a memtable bucket holds about one key instead of a whole
/// slot's worth (see `RocksStore.init`).
///
/// Hash field key: `h` + the same slot and bucket as the hash's data key + the user key's length
/// (4 bytes) + user key + field. A hash's fields are one key range in one memtable bucket, and
/// a chain's slots cover them like its data keys (`slotTags`).
public enum KeyLayout {
    public static let dataTag: UInt8 = UInt8(ascii: "d")
    public static let metaTag: UInt8 = UInt8(ascii: "m")
    /// Bytes before the user key in a data key; also the store's memtable hash prefix.
    public static let dataPrefixLength = 5
    /// Shortest key the store may hold: every key must cover the memtable hash prefix.
    public static let minimumKeyLength = dataPrefixLength

    public static func dataKey(_ key: [UInt8]) -> [UInt8] {
        dataKey(key, slot: HashSlot.of(key))
    }

    public static func dataKey(_ key: [UInt8], slot: Int) -> [UInt8] {
        let prefix = dataPrefix(key, slot: slot)
        // Built in stack memory and copied once: appended byte by byte, each append checks
        // capacity and uniqueness (about 200 instructions a key, on every replica of every
        // write); `Array(unsafeUninitializedCapacity:)` allocates through an unspecialized
        // path of the standard library that looks metadata up (+250).
        let n = key.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + dataPrefixLength) { out in
            for i in 0..<dataPrefixLength { out[i] = UInt8(truncatingIfNeeded: prefix >> (56 - 8 * i)) }
            if n > 0 {
                key.withUnsafeBufferPointer { (out.baseAddress! + dataPrefixLength).update(from: $0.baseAddress!, count: n) }
            }
            return Array(out)
        }
    }

    /// The `dataPrefixLength` bytes in front of `key` in its data key (tag, slot, bucket),
    /// packed from the most significant byte down: a store batch can take the key as this
    /// prefix plus the user key's own array, with no data key array made per write.
    public static func dataPrefix(_ key: [UInt8], slot: Int) -> UInt64 { dataPrefix(key[...], slot: slot) }

    public static func dataPrefix(_ key: ArraySlice<UInt8>, slot: Int) -> UInt64 {
        var h: UInt32 = 2_166_136_261  // FNV-1a, folded to 16 bits
        for b in key { h = (h ^ UInt32(b)) &* 16_777_619 }
        let bucket = UInt64(UInt16(truncatingIfNeeded: h ^ (h >> 16)))
        return UInt64(dataTag) << 56 | UInt64(UInt16(truncatingIfNeeded: slot)) << 40 | bucket << 24
    }

    public static let fieldTag: UInt8 = UInt8(ascii: "h")
    /// The tags of keys that belong to a slot (a chain's data): values, and hash fields.
    public static let slotTags: [UInt8] = [dataTag, fieldTag]

    /// The prefix of every field key of hash `key`.
    public static func fieldPrefix(_ key: [UInt8]) -> [UInt8] {
        var k = dataKey(key)
        k[0] = fieldTag
        var length = UInt32(key.count).bigEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Array($0) }
        k.insert(contentsOf: lengthBytes, at: dataPrefixLength)
        return k
    }

    public static func fieldKey(_ key: [UInt8], _ field: [UInt8]) -> [UInt8] { fieldPrefix(key) + field }

    /// The key that starts `slot` among keys tagged `tag` (one of `slotTags`).
    public static func slotPrefix(_ slot: Int, tag: UInt8) -> [UInt8] {
        [tag, UInt8(slot >> 8), UInt8(slot & 0xff)]
    }

    /// Whether store key `k` is data of one of `slots` (a value or a hash field).
    public static func isSlotKey(_ k: [UInt8], in slots: Range<Int>) -> Bool {
        k.count >= dataPrefixLength && slotTags.contains(k[0]) && slots.contains(Int(k[1]) << 8 | Int(k[2]))
    }

    /// The prefix shared by every data key in `slot`.
    public static func slotPrefix(_ slot: Int) -> [UInt8] {
        [dataTag, UInt8(slot >> 8), UInt8(slot & 0xff)]
    }

    /// The user key inside a data key, nil if this is not a data key.
    public static func userKey(fromDataKey k: [UInt8]) -> [UInt8]? {
        guard k.count >= dataPrefixLength, k[0] == dataTag else { return nil }
        return Array(k[dataPrefixLength...])
    }

    public static let recordTag: UInt8 = UInt8(ascii: "i")

    /// Where a tagged request's result is recorded in one chain: `i` + chain (2 bytes) + spread
    /// (2 bytes) + ring slot (2 bytes) + client id (8 bytes), all big-endian. Per chain the
    /// records are one key range, so a join copies them with the chain's data and a node that
    /// leaves deletes them. The spread, a 16-bit mix of ring slot and client, completes the
    /// 5-byte memtable hash prefix: with the ring slot alone there, every client's records of one
    /// slot shared a bucket (clients number their requests alike), and each insert walked a skip
    /// list of them — 2k instructions per write per replica, measured with callgrind.
    public static func recordKey(chain: Int, ring: Int, client: UInt64) -> [UInt8] {
        let mixed = (UInt64(ring) &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ (client &* 0xC2B2_AE3D_27D4_EB4F)
        let spread = UInt16(truncatingIfNeeded: mixed >> 48)
        var k = [UInt8]()
        k.reserveCapacity(15)
        k.append(recordTag)
        k.append(UInt8((chain >> 8) & 0xff))
        k.append(UInt8(chain & 0xff))
        k.append(UInt8(spread >> 8))
        k.append(UInt8(spread & 0xff))
        k.append(UInt8((ring >> 8) & 0xff))
        k.append(UInt8(ring & 0xff))
        withUnsafeBytes(of: client.bigEndian) { k.append(contentsOf: $0) }
        return k
    }

    /// The chain and client named by a record key (`recordKey`), nil for any other key.
    public static func recordKeyParts(_ k: [UInt8]) -> (chain: Int, client: UInt64)? {
        guard k.count == 15, k[0] == recordTag else { return nil }
        var client: UInt64 = 0
        for b in k[7..<15] { client = client << 8 | UInt64(b) }
        return (Int(k[1]) << 8 | Int(k[2]), client)
    }

    public static let turnTag: UInt8 = UInt8(ascii: "t")

    /// Slot `slot` of the ring of turn entries (`TurnLog`): `t` + the slot (4 bytes,
    /// big-endian), so that every slot has its own memtable bucket.
    public static func turnKey(slot: UInt32) -> [UInt8] {
        [turnTag, UInt8(slot >> 24), UInt8((slot >> 16) & 0xff), UInt8((slot >> 8) & 0xff), UInt8(slot & 0xff)]
    }

    /// The same key packed from the most significant byte down, as a store batch takes a key
    /// prefix (no array made per turn).
    public static func packedTurnKey(slot: UInt32) -> UInt64 {
        UInt64(turnTag) << 56 | UInt64(slot) << 24
    }

    public static let turnKeyLength = 5

    /// The prefix of every record of `chain`.
    public static func recordPrefix(chain: Int) -> [UInt8] {
        [recordTag, UInt8((chain >> 8) & 0xff), UInt8(chain & 0xff)]
    }

    /// `m` + a 4-byte hash of the name + the name: node-level and chain-level metadata. The hash
    /// gives every metadata key its own memtable bucket; without it all of them would share the
    /// bucket of their common first bytes, and with every write updating some of them (a chain's
    /// applied sequence, a client's recorded results) that one bucket would grow long enough to
    /// make every insert a linear walk.
    public static func metaKey(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8)
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return [metaTag, UInt8(h >> 24), UInt8((h >> 16) & 0xff), UInt8((h >> 8) & 0xff), UInt8(h & 0xff)] + bytes
    }
}

extension KeyLayout {
    /// The slot a data or field key belongs to (nil for any other key).
    public static func slot(ofSlotKey k: [UInt8]) -> Int? {
        guard k.count >= dataPrefixLength, slotTags.contains(k[0]) else { return nil }
        return Int(k[1]) << 8 | Int(k[2])
    }

    /// The hash key and field inside a field key, nil if this is not a well-formed field key.
    public static func fieldParts(fromFieldKey k: [UInt8]) -> (key: [UInt8], field: [UInt8])? {
        guard k.count >= dataPrefixLength + 4, k[0] == fieldTag else { return nil }
        let p = dataPrefixLength
        let length = Int(k[p]) << 24 | Int(k[p + 1]) << 16 | Int(k[p + 2]) << 8 | Int(k[p + 3])
        guard k.count >= p + 4 + length else { return nil }
        return (Array(k[(p + 4)..<(p + 4 + length)]), Array(k[(p + 4 + length)...]))
    }
}
