/// The order guarantee of one client connection: **a command observes every earlier command of
/// the same connection** (read-your-writes, monotonic reads), as Redis executes a connection's
/// commands one after the other.
///
/// In a chain, a write takes effect at the head and a read at the tail, often two different
/// nodes: a pipelined `GET` sent on to the tail could overtake the `SET` before it that is still
/// travelling down the chain. So every command that leaves this node's hands (a write waiting to
/// commit, a request forwarded to another node) stays *outstanding* until its reply is known,
/// and a later command on the same chain may start only while every outstanding command of that
/// chain went to the same place: there, one FIFO path (this node's own sequence of updates, or
/// the one forwarding connection to that node) keeps them in order. Anything else waits until the
/// outstanding commands have answered — by then a write has committed (the tail applied it) and a
/// read has been served, so what follows observes them and cannot be observed by them.
///
/// Commands of different chains touch different keys and never wait for each other; a command
/// that spans every chain (`scope` nil) waits for everything outstanding. Pure: no clocks, no IO.
public struct SessionOrder: Sendable, Equatable {
    /// Where one chain's outstanding commands run (all at one node: `mayStart` sees to it),
    /// and how many there are; `chain` nil: commands that span every chain.
    struct Place: Sendable, Equatable {
        var chain: ChainID?
        var node: NodeID
        var count: Int
    }

    /// A few at most (the chains one pipeline is waiting on): a short array, scanned, costs less
    /// on the write path than hashing into dictionaries.
    private var places: [Place] = []

    public init() {}

    /// No command of this connection is outstanding.
    public var isEmpty: Bool { places.isEmpty }
    /// Outstanding commands.
    public var count: Int { places.reduce(0) { $0 + $1.count } }

    /// May a command on `chain` (nil: one that spans every chain) run at `node` now?
    public func mayStart(chain: ChainID?, at node: NodeID) -> Bool {
        guard let chain else { return places.isEmpty }
        for p in places {
            guard let c = p.chain else { return false }
            if c == chain { return p.node == node }
        }
        return true
    }

    /// A command on `chain` started at `node` and answers later (it must have been allowed by
    /// `mayStart`).
    public mutating func started(chain: ChainID?, at node: NodeID) {
        if let i = places.firstIndex(where: { $0.chain == chain }) {
            places[i].count += 1
        } else {
            places.append(Place(chain: chain, node: node, count: 1))
        }
    }

    /// One outstanding command on `chain` answered. The caller reports each started command
    /// once; an unknown chain is ignored. Returns whether it was outstanding.
    @discardableResult
    public mutating func finished(chain: ChainID?) -> Bool {
        guard let i = places.firstIndex(where: { $0.chain == chain }) else { return false }
        places[i].count -= 1
        if places[i].count == 0 { places.swapAt(i, places.count - 1); places.removeLast() }
        return true
    }
}
