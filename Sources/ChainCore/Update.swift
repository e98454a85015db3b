/// One key-value change inside an update. Keys are user keys; the store's layout is the
/// driver's business.
public enum Mutation: Sendable {
    case put(key: [UInt8], value: [UInt8])
    /// A put whose key and value share one array (what a replica decodes from a frame). The
    /// same change as `put` with those bytes: equal to it, hashed alike.
    case putPair(KeyValue)
    case delete(key: [UInt8])
    /// Deletes every key of the update's chain (`FLUSHALL`, chain by chain): one update, so
    /// every replica empties the chain at the same point of its history.
    case clearChain
    /// Sets one field of hash `key` (the hash's own value, with its field count, is a `put`).
    case putField(key: [UInt8], field: [UInt8], value: [UInt8])
    case deleteField(key: [UInt8], field: [UInt8])

    /// The key it changes (none for `clearChain`).
    public var key: ArraySlice<UInt8> {
        switch self {
        case let .put(k, _), let .delete(k), let .putField(k, _, _), let .deleteField(k, _): return k[...]
        case let .putPair(kv): return kv.key
        case .clearChain: return []
        }
    }

    /// The key and value of a put of either form.
    public var putBytes: (key: ArraySlice<UInt8>, value: ArraySlice<UInt8>)? {
        switch self {
        case let .put(k, v): return (k[...], v[...])
        case let .putPair(kv): return (kv.key, kv.value)
        default: return nil
        }
    }
}

extension Mutation: Equatable, Hashable {
    public static func == (a: Mutation, b: Mutation) -> Bool {
        switch (a, b) {
        case (.put, .put), (.put, .putPair), (.putPair, .put), (.putPair, .putPair):
            return a.putBytes! == b.putBytes!
        case let (.delete(x), .delete(y)): return x == y
        case (.clearChain, .clearChain): return true
        case let (.putField(k1, f1, v1), .putField(k2, f2, v2)): return k1 == k2 && f1 == f2 && v1 == v2
        case let (.deleteField(k1, f1), .deleteField(k2, f2)): return k1 == k2 && f1 == f2
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .put, .putPair:
            let (k, v) = putBytes!
            hasher.combine(0)
            hasher.combine(k)
            hasher.combine(v)
        case let .delete(k): hasher.combine(1); hasher.combine(k)
        case .clearChain: hasher.combine(2)
        case let .putField(k, f, v): hasher.combine(3); hasher.combine(k); hasher.combine(f); hasher.combine(v)
        case let .deleteField(k, f): hasher.combine(4); hasher.combine(k); hasher.combine(f)
        }
    }
}

/// Identifies one client request, so a retry after a failure returns the first result instead
/// of applying twice.
public struct RequestTag: Sendable, Equatable, Hashable, Codable {
    public var client: UInt64
    public var request: UInt64

    public init(client: UInt64, request: UInt64) {
        self.client = client
        self.request = request
    }
}

/// A write as it travels down a chain: its place in the chain's sequence, the epoch in which the
/// head assigned that place, its effect (the head executed the command; the others only apply
/// the result, so every replica ends up with identical bytes), the client's tag and the reply the
/// head computed.
///
/// (seq, epoch) names one update for good: a chain has one head per epoch, and a head numbers
/// its updates without gaps or reuse. So two replicas that both hold the update named (s, e)
/// hold the same first s updates (each got them in order through the chain from that head) —
/// the fact that lets a returning node catch up with the missing suffix only (`CatchUp`).
///
/// A class, immutable: an update is handed on several times per replica (to the store, to the
/// unacknowledged list, to the successor's outbox, to the backlog), and each hand-on of a
/// struct retained its mutations and its reply and went through an outlined copy; a reference
/// is one retain.
public final class Update: Sendable, Equatable, CustomStringConvertible {
    public let seq: UInt64
    /// The epoch of the head that assigned `seq` (0: unknown, from before epochs were recorded).
    public let epoch: Epoch
    public let mutations: Mutations
    public let tag: RequestTag?
    /// The encoded RESP reply for the client (recorded with the tag at every replica).
    public let reply: [UInt8]

    public init(seq: UInt64, epoch: Epoch = 0, mutations: Mutations, tag: RequestTag? = nil, reply: [UInt8] = []) {
        self.seq = seq
        self.epoch = epoch
        self.mutations = mutations
        self.tag = tag
        self.reply = reply
    }

    public static func == (a: Update, b: Update) -> Bool {
        a === b || (a.seq == b.seq && a.epoch == b.epoch && a.tag == b.tag && a.reply == b.reply && a.mutations == b.mutations)
    }

    public var description: String {
        "Update(seq: \(seq), epoch: \(epoch), mutations: \(mutations), tag: \(tag.map { "\($0)" } ?? "nil"), reply: \(reply))"
    }
}

extension Update {
    /// About how many bytes the update holds (for bounding buffers of updates). Counted through
    /// `Mutations.byteEstimate`, not by reducing over the collection: each element read through
    /// the subscript was a copy of the mutation (its arrays retained and released), about 200
    /// instructions an update on every replica (callgrind).
    public var byteEstimate: Int { 48 + reply.count + mutations.byteEstimate }
}

extension Mutation {
    /// About how many bytes the mutation holds.
    var byteEstimate: Int {
        switch self {
        case let .put(k, v): return k.count + v.count + 16
        case let .putPair(kv): return kv.storage.count + 16
        case let .delete(k): return k.count + 16
        case .clearChain: return 16
        case let .putField(k, f, v): return k.count + f.count + v.count + 16
        case let .deleteField(k, f): return k.count + f.count + 16
        }
    }
}
