/// Where a replica's history of one chain ends: its last update's sequence and the epoch in which
/// the head assigned it (see `Update`). (0, 0) is an empty history.
public struct LogPosition: Sendable, Equatable, Hashable {
    public var seq: UInt64
    public var epoch: Epoch

    public init(seq: UInt64, epoch: Epoch) {
        self.seq = seq
        self.epoch = epoch
    }

    public static let empty = LogPosition(seq: 0, epoch: 0)
}

/// How a node joining a chain catches up with the chain's tail. A node that held the chain
/// before (it failed, was spliced out and came back, its data intact) needs only the updates it
/// missed — if its history is provably a prefix of the tail's and the tail still holds those
/// updates in its backlog. Anything else gets a full snapshot of the chain's data.
///
/// The proof is the joiner's last update: the tail holds an update with the same sequence and
/// epoch. Updates are named uniquely by (seq, epoch) and every replica applies a chain's updates
/// in order from the head that assigned them, so the first `seq` updates are then the same on
/// both. A joiner whose last update the tail has under another epoch, or not at all, holds
/// updates that never committed (it was a head that failed before forwarding them): only a
/// snapshot makes it right.
public enum CatchUp {
    public enum Plan: Sendable, Equatable {
        /// Send the updates after `seq` from the backlog.
        case suffix(after: UInt64)
        /// Send a snapshot of the chain's data (the joiner deletes what it holds first).
        case snapshot
    }

    /// - Parameters:
    ///   - have: the joiner's position.
    ///   - tail: the tail's position (its last applied update).
    ///   - backlog: the consecutive updates the tail still holds, ending at `tail.seq`.
    public static func plan(have: LogPosition, tail: LogPosition, backlog: UpdateBacklog) -> Plan {
        guard have.seq > 0, have.epoch > 0, have.seq <= tail.seq else { return .snapshot }
        let epochThere = have.seq == tail.seq ? tail.epoch : backlog.epoch(of: have.seq)
        guard epochThere == have.epoch else { return .snapshot }
        // Everything after `have` must still be in the backlog.
        guard have.seq == tail.seq || (backlog.contains(have.seq + 1) && backlog.last?.seq == tail.seq) else { return .snapshot }
        return .suffix(after: have.seq)
    }
}

/// The most recent updates a replica applied, in order and without gaps, up to a byte budget:
/// what a tail can send a returning node instead of a snapshot (like Redis's replication
/// backlog). Appending an update that does not follow the last one starts it afresh.
public struct UpdateBacklog: Sendable {
    public let capacityBytes: Int
    private var items: [Update] = []
    /// `byteEstimate` of each item, computed once.
    private var sizes: [Int] = []
    /// Index of the oldest kept update in `items` (dropped ones are compacted away lazily).
    private var start = 0
    public private(set) var bytes = 0

    public init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    public var isEmpty: Bool { start == items.count }
    public var firstSeq: UInt64? { isEmpty ? nil : items[start].seq }
    public var last: LogPosition? { isEmpty ? nil : LogPosition(seq: items[items.count - 1].seq, epoch: items[items.count - 1].epoch) }

    public func contains(_ seq: UInt64) -> Bool {
        guard let first = firstSeq, let last else { return false }
        return seq >= first && seq <= last.seq
    }

    public func epoch(of seq: UInt64) -> Epoch? {
        guard contains(seq), let first = firstSeq else { return nil }
        return items[start + Int(seq - first)].epoch
    }

    /// The kept updates after `seq` (all of them when `seq` precedes the first).
    public func updates(after seq: UInt64) -> ArraySlice<Update> {
        guard let first = firstSeq else { return [] }
        let from = seq < first ? start : start + Int(min(seq - first + 1, UInt64(items.count - start)))
        return items[from...]
    }

    public mutating func append(_ u: Update) {
        guard capacityBytes > 0 else { return }
        if let last, u.seq != last.seq + 1 { removeAll() }
        let size = u.byteEstimate
        items.append(u)
        sizes.append(size)
        bytes += size
        while bytes > capacityBytes && start < items.count - 1 {
            bytes -= sizes[start]
            start += 1
        }
        if start > 1024 && start * 2 > items.count {
            items.removeFirst(start)
            sizes.removeFirst(start)
            start = 0
        }
    }

    public mutating func removeAll() {
        items.removeAll()
        sizes.removeAll()
        start = 0
        bytes = 0
    }
}
