import ChainCore

/// The chain-protocol frames are the node core's messages on the wire.
extension PeerFrame {
    public init(_ message: NodeCore.Message) {
        switch message {
        case let .updates(e, c, us): self = .updates(epoch: e, chain: c, us)
        case let .ack(e, c, seq): self = .ack(epoch: e, chain: c, seq: seq)
        case let .barrier(e, c, seq): self = .barrier(epoch: e, chain: c, seq: seq)
        case let .syncRequest(e, c, t, have): self = .syncRequest(epoch: e, chain: c, transfer: t, have: have)
        case let .syncSuffix(e, c, t, after, us, last): self = .syncSuffix(epoch: e, chain: c, transfer: t, after: after, updates: us, last: last)
        case let .syncChunk(e, c, t, snap, entries, last): self = .syncChunk(epoch: e, chain: c, transfer: t, snapshot: snap, entries: entries, last: last)
        }
    }

    /// The core's message this frame carries; nil for the link's own frames (handshake, errors).
    public var chainMessage: NodeCore.Message? {
        switch self {
        case let .updates(e, c, us): return .updates(epoch: e, chain: c, us)
        case let .ack(e, c, seq): return .ack(epoch: e, chain: c, seq: seq)
        case let .barrier(e, c, seq): return .barrier(epoch: e, chain: c, seq: seq)
        case let .syncRequest(e, c, t, have): return .syncRequest(epoch: e, chain: c, transfer: t, have: have)
        case let .syncSuffix(e, c, t, after, us, last): return .syncSuffix(epoch: e, chain: c, transfer: t, after: after, updates: us, last: last)
        case let .syncChunk(e, c, t, snap, entries, last): return .syncChunk(epoch: e, chain: c, transfer: t, snapshot: snap, entries: entries, last: last)
        // (A turn frame carries several messages: its receiver takes them out section by section.)
        case .hello, .challenge, .auth, .error, .turn: return nil
        }
    }
}
