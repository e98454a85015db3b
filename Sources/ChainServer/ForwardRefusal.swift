import ChainCore

/// The refusals of a forwarded request that ran nothing, so the node that forwarded it may
/// route it again (`NodeCore.reroute`). They are ordinary `TRYAGAIN` errors — a client that gets
/// one (after the forwarding node gave up, or from a node of an older version) reads a reason —
/// and the forwarding node recognises them by their fixed beginning.
enum ForwardRefusal: Equatable {
    /// This node does not serve the chain (any more), `by` does as far as it knows.
    case notServedHere(by: NodeID?)
    /// The chain froze for a reorder while the write was on its way.
    case frozen
    /// An earlier request of the same forwarding connection to this chain was refused; this one
    /// is too, so that requests routed again keep their order (see `ForwardingSession`).
    case refusedBefore

    func text(epoch: Epoch, chain: ChainID) -> String {
        let reason = switch self {
        case let .notServedHere(by): "is served by \(by ?? "nobody") now; retry"
        case .frozen: "froze for a reorder while this write was forwarded to its head; retry"
        case .refusedBefore: "was refused earlier on this forwarding connection; retry"
        }
        return "\(Self.prefix)\(epoch): chain \(chain) \(reason)"
    }

    private static let prefix = "TRYAGAIN chainstore epoch "
    private static let reasons = ["is served by ", "froze for a reorder while this write was forwarded", "was refused earlier on this forwarding"]

    /// The epoch and chain of a refusal this type wrote, or nil for any other error.
    static func parse(_ error: String) -> (epoch: Epoch, chain: ChainID)? {
        guard error.hasPrefix(prefix) else { return nil }
        var rest = error.utf8.dropFirst(prefix.utf8.count)
        guard let epoch = number(&rest, then: ": chain "), let chain = number(&rest, then: " ") else { return nil }
        let reason = Substring(rest)
        guard reasons.contains(where: { reason.hasPrefix($0) }) else { return nil }
        return (epoch, Int(chain))
    }

    /// Reads decimal digits and then `separator` from the front of `s`.
    private static func number(_ s: inout Substring.UTF8View, then separator: String) -> UInt64? {
        let digits = s.prefix { $0 >= 48 && $0 <= 57 }
        guard !digits.isEmpty, digits.count <= 19, let v = UInt64(Substring(digits)) else { return nil }
        s = s.dropFirst(digits.count)
        guard s.starts(with: separator.utf8) else { return nil }
        s = s.dropFirst(separator.utf8.count)
        return v
    }
}
