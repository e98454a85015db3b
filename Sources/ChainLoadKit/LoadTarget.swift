import ChainClient
import RESP

/// One load-generating client's connection(s) to the system under test.
public protocol LoadTarget: AnyObject {
    /// Sends `op` on `key` and returns the error kind, or nil on success.
    func perform(_ op: Operation, key: [UInt8], value: [UInt8]) -> String?
    /// Sends a batch of operations (pipelined where the target allows) and returns each one's
    /// error kind or nil.
    func performBatch(_ ops: [(Operation, [UInt8])], value: [UInt8]) -> [String?]
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

    public func perform(_ op: Operation, key: [UInt8], value: [UInt8]) -> String? {
        do {
            let r = try client.execute(op == .get ? [Array("GET".utf8), key] : [Array("SET".utf8), key, value])
            return ErrorKind.of(r)
        } catch {
            return "unavailable"
        }
    }

    public func performBatch(_ ops: [(Operation, [UInt8])], value: [UInt8]) -> [String?] {
        ops.map { perform($0.0, key: $0.1, value: value) }
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

    public func perform(_ op: Operation, key: [UInt8], value: [UInt8]) -> String? {
        performBatch([(op, key)], value: value)[0]
    }

    public func performBatch(_ ops: [(Operation, [UInt8])], value: [UInt8]) -> [String?] {
        // Each connection gets its own pipeline; with one connection, reads and writes share it
        // and keep their order. `plan` remembers where each operation's reply will be.
        let shared = reader === writer
        var writes: [[[UInt8]]] = []
        var reads: [[[UInt8]]] = []
        var plan: [(read: Bool, index: Int, waits: Bool)] = []
        for (op, key) in ops {
            if op == .get {
                if shared { plan.append((false, writes.count, false)); writes.append([Array("GET".utf8), key]) }
                else { plan.append((true, reads.count, false)); reads.append([Array("GET".utf8), key]) }
            } else {
                plan.append((false, writes.count, waitReplicas > 0))
                writes.append([Array("SET".utf8), key, value])
                if waitReplicas > 0 { writes.append([Array("WAIT".utf8), Array(String(waitReplicas).utf8), Array("0".utf8)]) }
            }
        }
        do {
            let wr = writes.isEmpty ? [] : try writer.pipeline(writes)
            let rr = reads.isEmpty ? [] : try reader.pipeline(reads)
            return plan.map { p in
                let replies = p.read ? rr : wr
                var err = ErrorKind.of(replies[p.index])
                if p.waits, err == nil, case let .integer(n) = replies[p.index + 1], n < waitReplicas { err = "wait_short" }
                return err
            }
        } catch {
            return ops.map { _ in "connection" }
        }
    }
}
