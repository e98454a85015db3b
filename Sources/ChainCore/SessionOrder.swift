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
    /// Outstanding commands by reply token, with their chain (nil: every chain).
    private var chainOf: [UInt64: ChainID?] = [:]
    /// Per chain: where its outstanding commands run (all at one node: `mayStart` sees to it)
    /// and how many there are.
    private var perChain: [ChainID: Place] = [:]
    /// Outstanding commands that span every chain.
    private var spanning = 0

    struct Place: Sendable, Equatable {
        var node: NodeID
        var count: Int
    }

    public init() {}

    /// No command of this connection is outstanding.
    public var isEmpty: Bool { chainOf.isEmpty }
    public var count: Int { chainOf.count }

    /// May a command on `chain` (nil: one that spans every chain) run at `node` now?
    public func mayStart(chain: ChainID?, at node: NodeID) -> Bool {
        guard let chain else { return chainOf.isEmpty }
        guard spanning == 0 else { return false }
        guard let place = perChain[chain] else { return true }
        return place.node == node
    }

    /// A command started at `node` and answers later under `token` (it must have been allowed
    /// by `mayStart`).
    public mutating func started(token: UInt64, chain: ChainID?, at node: NodeID) {
        chainOf[token] = .some(chain)
        guard let chain else { spanning += 1; return }
        perChain[chain, default: Place(node: node, count: 0)].count += 1
    }

    /// The command under `token` answered (unknown tokens are ignored). Returns whether it was
    /// outstanding.
    @discardableResult
    public mutating func finished(token: UInt64) -> Bool {
        guard let entry = chainOf.removeValue(forKey: token) else { return false }
        guard let chain = entry else { spanning -= 1; return true }
        if let place = perChain[chain], place.count > 1 {
            perChain[chain]!.count -= 1
        } else {
            perChain.removeValue(forKey: chain)
        }
        return true
    }
}
