/// One master's part in the election over a store with leases and compare-and-swap (etcd), as a
/// pure state machine: the shell makes the requests and reports their results, with the time
/// each was *sent* (this master's monotonic clock, ms); this says whether to lead, and what every
/// write must compare.
///
/// The rules:
/// - Each master holds a lease and a candidate key attached to it. The candidate whose key has
///   the smallest create revision leads; a key vanishes when its lease expires or is revoked.
/// - A leader leads until the lease's TTL has passed since it sent the last renewal that
///   succeeded, less a margin — on its own clock. The store expires a lease no earlier than a
///   TTL after it *received* that renewal, so this master stops before anyone can take over.
/// - Every write compares the leader's own key's create revision (the key still exists: the
///   lease did not expire) and the state's last modification (no one else wrote since this
///   master read it). A failed compare ends leadership (`onFenced`).
public struct Candidacy: Sendable, Equatable {
    public private(set) var lease: Int64 = 0
    public private(set) var key = ""
    public private(set) var createRevision: Int64 = 0
    /// The state's modification revision as this leader last read or wrote it.
    public private(set) var stateRevision: Int64 = 0
    public private(set) var leading = false
    /// Counts the times leadership began here. A write made for an earlier term is refused: the
    /// state it holds was decided before this master read the store anew.
    public private(set) var term = 0
    /// Until when (own clock) the last renewal keeps this master leading.
    public private(set) var until: UInt64 = 0

    public init() {}

    /// What to do after seeing the candidates.
    public enum Decision: Sendable, Equatable {
        /// Lead; read the state first (`onLoaded`) when `load`.
        case lead(load: Bool)
        /// Another leads (its key's value: its address), or none is known.
        case follow(leader: String?)
    }

    /// How long a renewal keeps this master leading: the TTL less a fifth (at least 100 ms), for
    /// clock drift and the store's own delay in expiring leases.
    public static func validity(ttlSeconds: Int) -> UInt64 {
        let ttl = UInt64(max(ttlSeconds, 1)) * 1000
        return ttl - max(100, ttl / 5)
    }

    public var holdsLease: Bool { lease != 0 }

    /// A lease was granted for a request sent at `sentAt`, and the candidate key `key` created
    /// with it at `createRevision`.
    public mutating func onCampaigned(lease: Int64, key: String, createRevision: Int64, sentAt: UInt64, ttlSeconds: Int) {
        self.lease = lease
        self.key = key
        self.createRevision = createRevision
        leading = false
        until = sentAt + Self.validity(ttlSeconds: ttlSeconds)
    }

    /// A renewal sent at `sentAt` answered with `ttlSeconds` (0: the lease had expired). Returns
    /// false when the lease is gone (this master campaigns again, and leads no more).
    public mutating func onRenewed(sentAt: UInt64, ttlSeconds: Int) -> Bool {
        guard ttlSeconds > 0 else {
            let t = term
            self = Candidacy()
            term = t
            return false
        }
        until = sentAt + Self.validity(ttlSeconds: ttlSeconds)
        return true
    }

    /// The candidates' keys, oldest first, with their values (the masters' addresses).
    public mutating func onCandidates(_ keys: [(key: String, value: String)], now: UInt64) -> Decision {
        guard let first = keys.first, first.key == key, holdsLease, now < until else {
            leading = false
            return .follow(leader: keys.first?.value)
        }
        if leading { return .lead(load: false) }
        return .lead(load: true)
    }

    /// The state was read at revision `revision` (0: there is none yet): leadership begins.
    public mutating func onLoaded(stateRevision revision: Int64) {
        stateRevision = revision
        leading = true
        term += 1
    }

    /// What a write decided in `term` must compare now: nil when it may not be made at `now`.
    public func fence(now: UInt64, term writeTerm: Int) -> (key: String, createRevision: Int64, stateRevision: Int64)? {
        guard leading, createRevision != 0, now < until, writeTerm == term else { return nil }
        return (key, createRevision, stateRevision)
    }

    /// The state was seen at `revision` (every election round reads it). A leader that did not
    /// write it itself — someone else did (a master seeding a moved cluster, a foreign writer) —
    /// is no longer current: it leads no more until it reads the state anew. Returns whether it
    /// still leads.
    public mutating func onStateSeen(revision: Int64) -> Bool {
        guard leading else { return false }
        if revision != stateRevision { leading = false }
        return leading
    }

    /// A write succeeded; the state is now at `revision`.
    public mutating func onWritten(revision: Int64) { stateRevision = revision }

    /// A write's compare failed: another master leads, or wrote.
    public mutating func onFenced() { leading = false }

    /// The store could not be reached at `now`. Returns true when leadership has just lapsed.
    public mutating func onUnreachable(now: UInt64) -> Bool {
        guard leading, now >= until else { return false }
        leading = false
        return true
    }

    /// Gave the lease up (a clean shutdown).
    public mutating func onResigned() {
        let t = term
        self = Candidacy()
        term = t
    }
}
