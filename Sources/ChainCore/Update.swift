/// One key-value change inside an update. Keys are user keys; the store's layout is the
/// driver's business.
public enum Mutation: Sendable, Equatable, Hashable {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])

    public var key: [UInt8] {
        switch self {
        case let .put(k, _), let .delete(k): return k
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

/// A write as it travels down a chain: its place in the chain's sequence, its effect (the
/// head executed the command; the others only apply the result, so every replica ends up with
/// identical bytes), the client's tag and the reply the head computed.
public struct Update: Sendable, Equatable {
    public var seq: UInt64
    public var mutations: [Mutation]
    public var tag: RequestTag?
    /// The encoded RESP reply for the client (recorded with the tag at every replica).
    public var reply: [UInt8]

    public init(seq: UInt64, mutations: [Mutation], tag: RequestTag? = nil, reply: [UInt8] = []) {
        self.seq = seq
        self.mutations = mutations
        self.tag = tag
        self.reply = reply
    }
}
