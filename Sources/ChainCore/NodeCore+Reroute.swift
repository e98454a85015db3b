/// Requests this node forwarded and got back unexecuted: routed again here rather than refused
/// to a client that may not retry.
extension NodeCore {
    /// What becomes of a client request this node forwarded, which the other node refused
    /// without running it (it does not serve the chain, or the chain froze, in configuration
    /// `refusedAt`). `attempts`: how often it was forwarded so far; `firstRefusedMs` and
    /// `lastRefusedMs`: when its first and latest refusals came back.
    ///
    /// With an older configuration than the refusing node's, this node would send it to the same
    /// place: it waits for a newer one. On the first refusal, and on the first retry with a newer
    /// one, it routes it at once; after that (a new tail waiting for its old tail's barrier
    /// refuses reads for a while, say, or the refusing node has not caught up with this node's
    /// configuration yet), it tries again every `retryDelayMs`. A request
    /// that finds no place within a lease, or `maxForwardAttempts` tries, is refused to the
    /// client (`TRYAGAIN`), as before rerouting existed.
    ///
    /// `unreachable`: the request never left this node (the node it was for refused the
    /// connection: it is down). The caller passes its own epoch + 1 as `refusedAt`, so it waits
    /// for the configuration without that node, which the master publishes a lease after the
    /// node's last heartbeat: such a request waits two leases before it is refused.
    public func reroute(refusedAt: Epoch, attempts: Int, firstRefusedMs: UInt64, lastRefusedMs: UInt64, now: UInt64,
                        unreachable: Bool = false) -> Reroute {
        let patience = unreachable ? 2 * leaseMs : leaseMs
        if attempts >= Self.maxForwardAttempts || (now >= firstRefusedMs && now - firstRefusedMs >= patience) { return .giveUp }
        if epoch < refusedAt { return .waitForConfiguration }
        // A newer configuration than the refusing node's goes at once only on the first retry:
        // the route may well lead back to that node, which refuses again under its older epoch
        // until it catches up, and routing at once each time spent all the tries within
        // milliseconds (seen in `ReorderTests`: a plain client's write refused mid-reorder).
        if attempts <= 1 || (epoch > refusedAt && attempts <= 2) { return .now }
        return now >= lastRefusedMs && now - lastRefusedMs >= Self.rerouteRetryDelayMs ? .now : .waitForConfiguration
    }

    /// How often one request may be forwarded before its refusal reaches the client.
    public static let maxForwardAttempts = 10
    /// Between tries of a refused request under an unchanged configuration.
    public static let rerouteRetryDelayMs: UInt64 = 100

    public enum Reroute: Sendable, Equatable {
        /// Route it again with this node's configuration (it may run here, go elsewhere, or be
        /// held for a frozen chain), in its connection's order.
        case now
        /// Keep it, and the connection's later commands, until a newer configuration arrives.
        case waitForConfiguration
        /// Pass the refusal on to the client.
        case giveUp
    }
}
