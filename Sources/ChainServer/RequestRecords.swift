import ChainCore

/// The results of the tagged requests this node applied, by chain, client and request: a retry
/// of a request finds the update it became and its first reply here, on any replica of its chain.
/// Kept in memory (the store has them in its turn entries, `TurnLog`), bounded by `capacity`:
/// past it the oldest records go first. Loop-thread only.
///
/// Every replica records every tagged write, so this is on the write path three times. It is an
/// open-addressed table (linear probing, at most 5/8 full) under a seeded mix of the three ids:
/// a `Dictionary` keyed by them hashed each with SipHash, and with its growth cost about 1k
/// instructions a write per node (callgrind); the mix is a few multiplications. The seed is
/// random per process, so clients cannot choose ids that collide.
struct RequestRecords {
    struct ID: Hashable {
        var chain: ChainID
        var client: UInt64
        var request: UInt64
    }

    struct Record {
        var seq: UInt64
        var reply: [UInt8]
        /// The turn entry that holds it (eviction checks it was not recorded again since).
        var turn: UInt64
    }

    let capacity: Int
    private(set) var count = 0
    /// Slots in the table (see `slots(for:)`).
    var slotCount: Int { ids.count }
    /// Slot keys; `vacant` marks a free slot (chains are numbered from 0).
    private var ids: [ID]
    /// `records[i]` belongs to `ids[i]`; nil where vacant (no reference to keep then).
    private var records: [Record?]
    private var mask: Int
    private let seed: UInt64
    /// Records in the order they were made: appended until `capacity` of them, then a ring
    /// whose oldest entry, at `head`, each new one replaces. (Trimmed in blocks instead, the
    /// list moved a quarter million entries, 8 MB, every quarter million writes.)
    private var order: [(id: ID, turn: UInt64)] = []
    private var head = 0

    private static let vacant = ID(chain: .min, client: 0, request: 0)

    /// The table is made at the size `capacity` records need, once: grown by doubling on the
    /// loop, its last rebuilds moved a hundred thousand records and more in one step, stalls of
    /// 10–20 ms in a fresh node's first quarter million tagged writes (the slowest replicated
    /// writes of a fresh cluster were 27–45 ms, 16 ms once the table was full). The price is its
    /// memory from the start: about 25 MB at the default capacity, which a busy node reaches
    /// anyway.
    init(capacity: Int, seed: UInt64 = .random(in: .min ... .max)) {
        self.capacity = max(1, capacity)
        self.seed = seed
        let slots = Self.slots(for: self.capacity)
        ids = Array(repeating: Self.vacant, count: slots)
        records = Array(repeating: nil, count: slots)
        mask = slots - 1
    }

    /// The fewest slots (a power of two) that keep `capacity` records and one more at most 5/8 full.
    static func slots(for capacity: Int) -> Int {
        var slots = 1024
        while (capacity + 1) * 8 > slots * 5 { slots *= 2 }
        return slots
    }

    subscript(_ id: ID) -> Record? {
        let (i, found) = probe(id)
        return found ? records[i] : nil
    }

    mutating func insert(_ id: ID, seq: UInt64, reply: [UInt8], turn: UInt64) {
        // (Never true while evictions keep `count` within `capacity`; a table too full would
        // probe forever, so it stays as the guard.)
        if (count + 1) * 8 > ids.count * 5 { rebuild(slots: ids.count * 2) }
        let (i, found) = probe(id)
        records[i] = Record(seq: seq, reply: reply, turn: turn)
        if !found {
            ids[i] = id
            count += 1
        }
        guard order.count == capacity else { return order.append((id, turn)) }
        let (old, oldTurn) = order[head]
        order[head] = (id, turn)
        head = head + 1 == capacity ? 0 : head + 1
        // The oldest goes, unless it was recorded again since (a later turn).
        let (j, present) = probe(old)
        if present && records[j]?.turn == oldTurn { remove(at: j) }
    }

    /// Forgets every record of `chain` (its data was dropped; its history restarts from a copy).
    /// Deleted in place, slot by slot (a slot whose record went is looked at again: a later
    /// member of its probe run may have moved back into it). A new table, as before, was a 25 MB
    /// allocation and a move of every record on the loop at each chain a node drops.
    mutating func drop(_ chain: ChainID) {
        var i = 0
        while i < ids.count {
            if ids[i].chain == chain { remove(at: i) } else { i += 1 }
        }
    }

    /// Every record of `chain` (a snapshot for a joiner).
    func records(of chain: ChainID) -> [(ID, Record)] {
        entries { $0.chain == chain }
    }

    private func entries(where keep: (ID) -> Bool) -> [(ID, Record)] {
        var out: [(ID, Record)] = []
        for i in ids.indices where ids[i] != Self.vacant && keep(ids[i]) {
            if let r = records[i] { out.append((ids[i], r)) }
        }
        return out
    }

    /// The slot holding `id`, or the free slot where it would go.
    private func probe(_ id: ID) -> (Int, Bool) {
        var i = home(id)
        while true {
            let at = ids[i]
            if at == id { return (i, true) }
            if at.chain == Self.vacant.chain { return (i, false) }
            i = (i + 1) & mask
        }
    }

    private func home(_ id: ID) -> Int { Self.home(id, seed: seed, mask: mask) }

    private static func home(_ id: ID, seed: UInt64, mask: Int) -> Int {
        var x = (id.client ^ seed) &* 0x9E37_79B9_7F4A_7C15
        x ^= (id.request ^ (x >> 29)) &* 0xBF58_476D_1CE4_E5B9
        x ^= UInt64(truncatingIfNeeded: id.chain) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        x = x &* 0xD6E8_FEB8_6659_FD93
        x ^= x >> 32
        return Int(truncatingIfNeeded: x) & mask
    }

    /// Deletes slot `at`, moving later members of its probe run back so every key stays
    /// reachable from its home slot without tombstones (Knuth's algorithm R).
    private mutating func remove(at: Int) {
        var hole = at
        var j = at
        while true {
            j = (j + 1) & mask
            let id = ids[j]
            if id.chain == Self.vacant.chain { break }
            let h = home(id)
            // The key at j may fill the hole unless its home lies cyclically in (hole, j].
            let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if !stays {
                ids[hole] = id
                records[hole] = records[j]
                hole = j
            }
        }
        ids[hole] = Self.vacant
        records[hole] = nil
        count -= 1
    }


    /// Places every record into a fresh table of `slots` slots, moving them
    /// rather than copying (a copy is a retain and a release of its reply), through raw
    /// buffers (element access checks uniqueness and bounds each time).
    private mutating func rebuild(slots: Int) {
        let oldIDs = ids
        var oldRecords: [Record?] = []
        swap(&oldRecords, &records)
        var newIDs = Array(repeating: Self.vacant, count: slots)
        var newRecords = [Record?](repeating: nil, count: slots)
        let newMask = slots - 1
        let seed = seed
        var placed = 0
        newIDs.withUnsafeMutableBufferPointer { toIDs in
            newRecords.withUnsafeMutableBufferPointer { toRecords in
                oldRecords.withUnsafeMutableBufferPointer { fromRecords in
                    for i in oldIDs.indices where oldIDs[i] != Self.vacant {
                        var j = Self.home(oldIDs[i], seed: seed, mask: newMask)
                        while toIDs[j] != Self.vacant { j = (j + 1) & newMask }
                        toIDs[j] = oldIDs[i]
                        swap(&toRecords[j], &fromRecords[i])
                        placed += 1
                    }
                }
            }
        }
        ids = newIDs
        records = newRecords
        mask = newMask
        count = placed
    }
}
