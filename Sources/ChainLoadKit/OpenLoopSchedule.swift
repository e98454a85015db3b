/// The send times of an open-loop run (`--rate`): the run's total rate is split evenly over the
/// clients, and client `c` sends its `k`-th operation at `start + offset(c) + k × interval`,
/// whether or not earlier ones have finished (clients are staggered so that they do not send
/// in bursts). Latency is measured from this *intended* time, so a stall that makes a client
/// fall behind shows up in every operation it delayed instead of being hidden — the correction
/// for coordinated omission. Pure: times are nanoseconds on the caller's clock.
public struct OpenLoopSchedule: Sendable, Equatable {
    public let start: UInt64
    /// Nanoseconds between two operations of one client.
    public let interval: UInt64
    public let clients: Int

    public init(start: UInt64, rate: Double, clients: Int) {
        self.start = start
        self.clients = max(clients, 1)
        interval = UInt64((Double(self.clients) / max(rate, 1e-9) * 1e9).rounded())
    }

    /// When client `client` should send its operation number `k` (from 0).
    public func intended(client: Int, op k: Int) -> UInt64 {
        start + UInt64(client % clients) * interval / UInt64(clients) + UInt64(k) * interval
    }

    /// Latency of an operation intended at `intended` that completed at `completed`.
    public static func latency(intended: UInt64, completed: UInt64) -> UInt64 {
        completed > intended ? completed - intended : 0
    }
}
