/// A bounded cache of store values in front of RocksDB, so that hot reads cost a hash lookup
/// instead of a memtable or SST search. Absent keys are cached too (as nil). Eviction is CLOCK:
/// a hand sweeps the slots, giving a second chance to entries read since its last pass.
///
/// The cache is write-through and loop-confined: every update passes through `DataView`, which
/// updates the cache in the same step, so it never disagrees with the store.
final class ValueCache {
    private struct Slot {
        var key: ByteKey
        var value: ArraySlice<UInt8>?
        var referenced: Bool
    }

    let capacityBytes: Int
    private var index: [ByteKey: Int] = [:]
    private var slots: [Slot?] = []
    private var freeSlots: [Int] = []
    private var hand = 0
    private(set) var bytes = 0
    private(set) var hits = 0
    private(set) var misses = 0
    /// Bookkeeping cost of one entry beyond its key and value bytes.
    static let entryOverhead = 80

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    var count: Int { index.count }

    /// `.some(value)` on a hit (value nil: known absent), nil on a miss.
    func lookup(_ key: ByteKey) -> ArraySlice<UInt8>?? {
        guard let i = index[key] else {
            misses += 1
            return nil
        }
        hits += 1
        slots[i]!.referenced = true
        return .some(slots[i]!.value)
    }

    func store(_ key: ByteKey, _ value: ArraySlice<UInt8>?) {
        let size = Self.size(key, value)
        guard capacityBytes > 0, size <= capacityBytes / 8 else {
            remove(key)
            return
        }
        // One lookup finds the key's slot or enters the slot a new key gets (a free one, or one
        // past the end: no existing key maps to either).
        let fresh = freeSlots.last ?? slots.count
        let i = Self.value(&index[key, default: fresh])
        if i == fresh {
            if freeSlots.isEmpty { slots.append(nil) } else { freeSlots.removeLast() }
            slots[i] = Slot(key: key, value: value, referenced: false)
            bytes += size
        } else {
            bytes += size - Self.size(slots[i]!.key, slots[i]!.value)
            slots[i]!.value = value
            slots[i]!.referenced = true
        }
        while bytes > capacityBytes { evictOne() }
    }

    /// Reads a dictionary entry through `_modify`, which inserts the default of a missing key.
    private static func value(_ v: inout Int) -> Int { v }

    /// Replaces the value of `key` if it is cached; adds nothing.
    /// (An empty cache — a chain's middle member caches nothing — answers without hashing.)
    func refresh(_ key: ByteKey, _ value: ArraySlice<UInt8>?) {
        guard !index.isEmpty, let i = index[key] else { return }
        let size = Self.size(key, value)
        guard size <= capacityBytes / 8 else { return remove(key) }
        bytes += size - Self.size(slots[i]!.key, slots[i]!.value)
        slots[i]!.value = value
        while bytes > capacityBytes { evictOne() }
    }

    func remove(_ key: ByteKey) {
        guard !index.isEmpty, let i = index.removeValue(forKey: key) else { return }
        bytes -= Self.size(slots[i]!.key, slots[i]!.value)
        slots[i] = nil
        freeSlots.append(i)
    }

    func removeAll() {
        index.removeAll()
        slots.removeAll()
        freeSlots.removeAll()
        hand = 0
        bytes = 0
    }

    private func evictOne() {
        // Bounded: after one full sweep every reference bit is clear.
        for _ in 0..<(2 * slots.count + 1) {
            if hand >= slots.count { hand = 0 }
            defer { hand += 1 }
            guard let s = slots[hand] else { continue }
            if s.referenced {
                slots[hand]!.referenced = false
                continue
            }
            remove(s.key)
            return
        }
    }

    private static func size(_ key: ByteKey, _ value: ArraySlice<UInt8>?) -> Int {
        key.bytes.count + (value?.count ?? 0) + entryOverhead
    }
}
