import ChainCore
import ChainWire

/// One peer's chain messages of a loop turn, coalesced per chain: the updates to send it and the
/// latest acknowledgement, sent at the end of the turn as one write. Chains are indexed by number,
/// not hashed (a dictionary keyed by chain hashed it for every update: about 300 instructions a
/// write and node at 12 chains, with the regrowth of tables emptied each turn).
struct PeerOutbox {
    let peer: NodeID
    /// The chains with something to send this turn, in the order first touched.
    private var chains: [ChainID] = []
    private var updates = ChainIndexed<[Update]>()
    private var acks = ChainIndexed<UInt64>()
    /// How many updates each chain sent last turn: its next list starts with room for as many
    /// (a list leaves with its frame; grown from empty it was reallocated five or six times a turn).
    private var lastCounts = ChainIndexed<Int>()

    init(peer: NodeID) { self.peer = peer }

    var isEmpty: Bool { chains.isEmpty }

    mutating func add(_ update: Update, chain: ChainID) {
        touch(chain)
        let room = lastCounts[chain] ?? 0
        updates.update(chain, orMake: Self.emptyList(room: room)) { $0.append(update) }
    }

    mutating func add(contentsOf more: [Update], chain: ChainID) {
        touch(chain)
        let room = lastCounts[chain] ?? 0
        updates.update(chain, orMake: Self.emptyList(room: room)) { $0.append(contentsOf: more) }
    }

    private static func emptyList(room: Int) -> [Update] {
        var list: [Update] = []
        list.reserveCapacity(min(room, 1024))
        return list
    }

    /// Acknowledgements are cumulative: the latest of the turn stands for the others.
    mutating func ack(_ seq: UInt64, chain: ChainID) {
        touch(chain)
        acks[chain] = seq
    }

    /// The turn's frames (updates, then acknowledgements, chains in the order touched), leaving
    /// the outbox empty.
    mutating func takeFrames(epoch: Epoch) -> [PeerFrame] {
        var frames: [PeerFrame] = []
        frames.reserveCapacity(2 * chains.count)
        for chain in chains {
            if let u = updates.removeValue(forKey: chain) {
                lastCounts[chain] = u.count
                frames.append(.updates(epoch: epoch, chain: chain, u))
            }
        }
        for chain in chains {
            if let seq = acks.removeValue(forKey: chain) { frames.append(.ack(epoch: epoch, chain: chain, seq: seq)) }
        }
        // Popped, not `removeAll(keepingCapacity:)` (a generic range replacement).
        while !chains.isEmpty { chains.removeLast() }
        return frames
    }

    private mutating func touch(_ chain: ChainID) {
        if updates[chain] == nil && acks[chain] == nil { chains.append(chain) }
    }
}
