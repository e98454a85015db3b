/// One client operation on one key of a register store, as a client saw it.
public struct HistoryOp: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Wrote `value` (nil: deleted).
        case write([UInt8]?)
        /// Read `value` (nil: the key did not exist).
        case read([UInt8]?)
    }

    public var client: Int
    public var key: [UInt8]
    public var kind: Kind
    /// When the request was sent (any monotonic unit).
    public var invoked: UInt64
    /// When its reply arrived; nil when the outcome is unknown (timeout, lost connection): a write
    /// may then have taken effect at any time after `invoked`, or never.
    public var completed: UInt64?
    /// Where the operation stands in its client's program order (nil: unknown). Operations of
    /// one client that both completed take effect in this order even when they were in flight
    /// together (a pipeline): the session-order guarantee, checked with the rest.
    public var sequence: UInt64?

    public init(client: Int, key: [UInt8], kind: Kind, invoked: UInt64, completed: UInt64?, sequence: UInt64? = nil) {
        self.client = client
        self.key = key
        self.kind = kind
        self.invoked = invoked
        self.completed = completed
        self.sequence = sequence
    }

    public var description: String {
        func s(_ v: [UInt8]?) -> String { v.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" } ?? "nil" }
        let what: String
        switch kind {
        case let .write(v): what = "write \(s(v))"
        case let .read(v): what = "read → \(s(v))"
        }
        return "client \(client) \(what) [\(invoked), \(completed.map(String.init) ?? "?")]"
    }
}

/// A recorder that several client threads can share (chainload --check, tests).
public final class HistoryRecorder: @unchecked Sendable {
    private var ops: [HistoryOp] = []
    private let lock = NSLockLite()

    public init() {}

    public func record(_ op: HistoryOp) {
        lock.withLock { ops.append(op) }
    }

    public var history: [HistoryOp] { lock.withLock { ops } }
}

/// A tiny pthread mutex (this module avoids Foundation).
final class NSLockLite: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return body()
    }
}

#if canImport(Glibc)
import Glibc
#endif
