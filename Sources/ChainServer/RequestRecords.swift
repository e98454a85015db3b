import ChainCore

/// The results of the tagged requests this node applied, by chain, client and request: a retry
/// of a request finds the update it became and its first reply here, on any replica of its chain.
/// Kept in memory (the store has them in its turn entries, `TurnLog`), bounded by `capacity`:
/// past it the oldest records go first. Loop-thread only.
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
    private(set) var table: [ID: Record] = [:]
    /// Records in the order they were made, oldest at `head`; trimmed in blocks.
    private var order: [(id: ID, turn: UInt64)] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { table.count }

    subscript(_ id: ID) -> Record? { table[id] }

    mutating func insert(_ id: ID, seq: UInt64, reply: [UInt8], turn: UInt64) {
        table[id] = Record(seq: seq, reply: reply, turn: turn)
        order.append((id, turn))
        while order.count - head > capacity {
            let (old, oldTurn) = order[head]
            head += 1
            // Removed and, in the rare case it was recorded again since, put back: one lookup.
            if let r = table.removeValue(forKey: old), r.turn != oldTurn { table[old] = r }
        }
        // Shifting the array on every eviction would cost a copy of it per write.
        if head >= 4096 && head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    /// Forgets every record of `chain` (its data was dropped; its history restarts from a copy).
    mutating func drop(_ chain: ChainID) {
        table = table.filter { $0.key.chain != chain }
    }

    /// Every record of `chain` (a snapshot for a joiner).
    func records(of chain: ChainID) -> [(ID, Record)] {
        table.filter { $0.key.chain == chain }.map { ($0.key, $0.value) }
    }
}
