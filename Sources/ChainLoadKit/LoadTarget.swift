import ChainClient
import RESP

/// One operation of a batch: what, on which key, and the value a SET writes.
public struct LoadOp: Sendable {
    public var op: Operation
    public var key: [UInt8]
    public var value: [UInt8]

    public init(_ op: Operation, key: [UInt8], value: [UInt8]) {
        self.op = op
        self.key = key
        self.value = value
    }
}

/// How one operation ended: its error kind (nil on success) and, for a successful GET, the
/// value read (nil when the key was absent).
public struct OpResult: Sendable, Equatable {
    public var error: String?
    public var value: [UInt8]?

    public init(error: String?, value: [UInt8]? = nil) {
        self.error = error
        self.value = value
    }

    static func of(_ reply: RESPValue) -> OpResult {
        if let e = ErrorKind.of(reply) { return OpResult(error: e) }
        if case let .bulk(v) = reply { return OpResult(error: nil, value: v) }
        return OpResult(error: nil)
    }
}

/// One load-generating client's connection(s) to the system under test.
public protocol LoadTarget: AnyObject {
    /// Sends a batch of operations (pipelined where the target allows) and returns how each
    /// one ended, in order.
    func performBatch(_ ops: [LoadOp]) -> [OpResult]
    /// Where an operation is served (node id and chain), for per-node and per-chain figures;
    /// nil when the target has no such notion.
    func placement(of op: LoadOp) -> (node: String, chain: Int)?
}

public extension LoadTarget {
    func placement(of op: LoadOp) -> (node: String, chain: Int)? { nil }
}

/// Error kinds as counted in reports.
enum ErrorKind {
    static func of(_ v: RESPValue) -> String? {
        guard case let .error(e) = v else { return nil }
        let word = e.split(separator: " ").first.map(String.init) ?? "ERR"
        return word.lowercased()
    }
}

/// A chainstore cluster through the smart client (routes writes to heads and reads to tails,
/// follows reconfigurations, retries with the same tag).
public final class ClusterTarget: LoadTarget {
    private let client: ClusterClient

    public init(master: String) throws {
        client = try ClusterClient(master: master)
    }

    public func placement(of op: LoadOp) -> (node: String, chain: Int)? {
        guard let c = client.config else { return nil }
        let chain = c.chain(forKey: op.key)
        guard let node = op.op == .get ? c.chains[chain].tail : c.chains[chain].head else { return nil }
        return (node, chain)
    }

    public func performBatch(_ ops: [LoadOp]) -> [OpResult] {
        ops.map { o in
            do {
                let get = [Array("GET".utf8), o.key], set = [Array("SET".utf8), o.key, o.value]
                switch o.op {
                case .get: return OpResult.of(try client.execute(get))
                case .set, .insert: return OpResult.of(try client.execute(set))
                case .rmw:
                    let read = OpResult.of(try client.execute(get))
                    guard read.error == nil else { return read }
                    let write = OpResult.of(try client.execute(set))
                    return OpResult(error: write.error, value: read.value)
                }
            } catch {
                return OpResult(error: "unavailable")
            }
        }
    }
}

/// Any RESP endpoint (Redis, one chainstore node). Reads may go to another address (a replica);
/// with `waitReplicas` every SET is followed by `WAIT n 0` on the same connection, and counts as
/// failed unless n replicas acknowledged it.
public final class RESPTarget: LoadTarget {
    private let writer: RESPClient
    private let reader: RESPClient
    private let waitReplicas: Int

    public init(write: HostPort, read: HostPort?, waitReplicas: Int, timeoutMs: Int = 5000) throws {
        writer = try RESPClient(host: write.host, port: write.port, timeoutMs: timeoutMs)
        if let read, read != write {
            reader = try RESPClient(host: read.host, port: read.port, timeoutMs: timeoutMs)
        } else {
            reader = writer
        }
        self.waitReplicas = waitReplicas
    }

    public func performBatch(_ ops: [LoadOp]) -> [OpResult] {
        // A read-modify-write needs its read's answer before its write: such batches go one
        // operation (and round trip) at a time.
        if ops.contains(where: { $0.op == .rmw }) {
            return ops.map { o in
                guard o.op == .rmw else { return performBatch([o])[0] }
                let read = performBatch([LoadOp(.get, key: o.key, value: [])])[0]
                guard read.error == nil else { return read }
                return OpResult(error: performBatch([LoadOp(.set, key: o.key, value: o.value)])[0].error, value: read.value)
            }
        }
        // Each connection gets its own pipeline; with one connection, reads and writes share it
        // and keep their order. `plan` remembers where each operation's reply will be.
        let shared = reader === writer
        var writes: [[[UInt8]]] = []
        var reads: [[[UInt8]]] = []
        var plan: [(read: Bool, index: Int, waits: Bool)] = []
        for o in ops {
            if o.op == .get {
                if shared { plan.append((false, writes.count, false)); writes.append([Array("GET".utf8), o.key]) }
                else { plan.append((true, reads.count, false)); reads.append([Array("GET".utf8), o.key]) }
            } else {
                plan.append((false, writes.count, waitReplicas > 0))
                writes.append([Array("SET".utf8), o.key, o.value])
                if waitReplicas > 0 { writes.append([Array("WAIT".utf8), Array(String(waitReplicas).utf8), Array("0".utf8)]) }
            }
        }
        do {
            let wr = writes.isEmpty ? [] : try writer.pipeline(writes)
            let rr = reads.isEmpty ? [] : try reader.pipeline(reads)
            return plan.map { p in
                let replies = p.read ? rr : wr
                var result = OpResult.of(replies[p.index])
                if p.waits, result.error == nil, case let .integer(n) = replies[p.index + 1], n < waitReplicas { result.error = "wait_short" }
                return result
            }
        } catch {
            return ops.map { _ in OpResult(error: "connection") }
        }
    }
}
