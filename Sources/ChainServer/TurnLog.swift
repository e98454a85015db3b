import ChainCore
import ChainWire
import Storage

/// What the store says about the histories of the chains held here: where each one ends, and
/// the results of recent tagged requests (`RequestRecords`). Every loop turn that changes either
/// writes one entry (`TurnEntry`) in the same store batch as the turn's data, so a crash never
/// separates them. A write therefore costs one store entry for its data plus a share of one per
/// turn, where a record and a position per chain each cost an entry before.
///
/// The entries fill a ring of `ringSlots` keys (turn mod ring), overwritten in place: no
/// deletions, and the newest `ringSlots` turns survive a restart. At start the ring is replayed
/// oldest first: positions come from the newest entry (each carries every chain's), records from
/// all of them, a chain's drop forgetting its records before it. Loop-thread only.
final class TurnLog {
    static let ringSlots: UInt64 = 16_384
    /// Records kept in memory, all chains together (about 100 bytes each).
    static let defaultCapacity = 1 << 18

    /// Where each chain held here ends, as of the latest update applied (pending ones included).
    /// Indexed by chain number, not hashed: set on every replica for every update applied.
    private(set) var positions = ChainIndexed<LogPosition>()
    private(set) var records: RequestRecords
    /// The newest turn entry made (0: none yet).
    private(set) var lastTurn: UInt64 = 0
    /// Turn entries found damaged at start (skipped).
    private(set) var damagedEntries = 0
    /// The store could not be read at start: nothing was recovered.
    private(set) var loadError: StoreError?
    /// This turn's record and drop events, encoded as they happen.
    private var events = ByteWriter(capacity: 4096)
    /// The last entry's value, kept to encode the next one into (`takeEntry`).
    private var entry: [UInt8] = []
    private var dirty = false

    init(store: any KVStore, capacity: Int = defaultCapacity) {
        records = RequestRecords(capacity: capacity)
        do {
            try load(store)
        } catch {
            loadError = error
            positions = ChainIndexed()
            records = RequestRecords(capacity: capacity)
        }
    }

    func position(_ chain: ChainID) -> LogPosition { positions[chain] ?? .empty }

    func setPosition(_ chain: ChainID, _ position: LogPosition) {
        positions[chain] = position
        dirty = true
    }

    /// A tagged request became update `seq` of `chain`, answered with `reply`.
    func record(chain: ChainID, tag: RequestTag, seq: UInt64, reply: [UInt8]) {
        records.insert(.init(chain: chain, client: tag.client, request: tag.request), seq: seq, reply: reply, turn: lastTurn + 1)
        TurnEntry.appendRecord(chain: chain, client: tag.client, request: tag.request, seq: seq, reply: reply, to: &events)
        dirty = true
    }

    func recorded(chain: ChainID, tag: RequestTag) -> RequestRecords.Record? {
        records[.init(chain: chain, client: tag.client, request: tag.request)]
    }

    /// The chain's data is gone here: its position and records with it.
    func drop(_ chain: ChainID) {
        positions.removeValue(forKey: chain)
        records.drop(chain)
        TurnEntry.appendDrop(chain: chain, to: &events)
        dirty = true
    }

    /// The turn's entry (key, value), if the turn changed anything here: it goes into the
    /// turn's store batch. The key comes as a store key prefix (the whole key), so neither it
    /// nor, once the store has the previous batch, the value is a new array.
    func takeEntry() -> (key: KeyPrefix, value: [UInt8])? {
        guard dirty else { return nil }
        lastTurn += 1
        TurnEntry.encode(turn: lastTurn, positions: positions, events: events.bytes, into: &entry)
        events.bytes.removeAll(keepingCapacity: true)
        dirty = false
        return (Self.packedKey(lastTurn), entry)
    }

    static func key(_ turn: UInt64) -> [UInt8] { KeyLayout.turnKey(slot: slot(turn)) }

    static func packedKey(_ turn: UInt64) -> KeyPrefix {
        KeyPrefix(packed: KeyLayout.packedTurnKey(slot: slot(turn)), count: KeyLayout.turnKeyLength)
    }

    private static func slot(_ turn: UInt64) -> UInt32 { UInt32(turn % ringSlots) }

    /// The positions a store snapshot holds, taken when `newestTurn` was the newest entry made:
    /// the newest entry in the snapshot (batches reach the store in order, so it holds a prefix
    /// of the turns). A store without turn entries has its positions under the per-chain keys of
    /// earlier versions.
    static func positions(in store: any KVStore, at snapshot: StoreSnapshot, newestTurn: UInt64,
                          chains: [ChainID]) throws(StoreError) -> [ChainID: LogPosition] {
        var turn = newestTurn
        while turn > 0 && newestTurn - turn < ringSlots {
            if let v = try store.get(key(turn), at: snapshot), let h = TurnEntry.decodeHeader(v), h.turn == turn {
                return h.positions
            }
            turn -= 1
        }
        var found: [ChainID: LogPosition] = [:]
        for chain in chains {
            found[chain] = ChainMetadata.decodePosition(try store.get(ChainMetadata.appliedKey(chain), at: snapshot))
        }
        return found
    }

    private func load(_ store: any KVStore) throws(StoreError) {
        var entries: [(turn: UInt64, value: [UInt8])] = []
        try store.scan(prefix: [KeyLayout.turnTag], from: nil, at: nil) { _, v in
            if let h = TurnEntry.decodeHeader(v) { entries.append((h.turn, v)) } else { damagedEntries += 1 }
            return true
        }
        guard !entries.isEmpty else { return try loadLegacyPositions(store) }
        entries.sort { $0.turn < $1.turn }
        for (turn, value) in entries {
            guard let entry = TurnEntry.decode(value) else {
                damagedEntries += 1
                continue
            }
            for event in entry.events {
                switch event {
                case let .record(chain, client, request, seq, reply):
                    records.insert(.init(chain: chain, client: client, request: request), seq: seq, reply: reply, turn: turn)
                case let .drop(chain):
                    records.drop(chain)
                }
            }
            positions = ChainIndexed(entry.positions)
            lastTurn = turn
        }
    }

    /// A store written before turn entries: one position key per chain (records stay under
    /// their old keys, which `ChainNode` still consults for a retry not found here).
    private func loadLegacyPositions(_ store: any KVStore) throws(StoreError) {
        for chain in 0..<1024 {
            let p = ChainMetadata.decodePosition(try store.get(ChainMetadata.appliedKey(chain)))
            if p != .empty { positions[chain] = p }
        }
        // The first entry carries them into the ring.
        dirty = positions.count > 0
    }
}
