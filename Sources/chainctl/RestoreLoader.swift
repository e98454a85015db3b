import ChainClient
import ChainCore
import ChainSecurity
import Foundation
import RESP
import Synchronization

/// Writes a backup's keys into a cluster through the chains' heads, `parallel` chain files at a
/// time. Each worker pipelines commands per head; when a pipeline meets a reconfiguration
/// (`TRYAGAIN`, `MOVED`, a lost connection) its commands are run again one by one through the
/// smart client, which follows the new configuration. Every command is idempotent into an empty
/// cluster (SET to a value, HSET of a field, PEXPIREAT to a time), so running one twice is
/// harmless.
struct RestoreLoader {
    let m: MasterOption
    let dir: String
    let manifest: BackupManifest
    let cutoffMs: UInt64
    let parallel: Int

    private struct Shared {
        var next = 0
        var written = 0
        var failure: String?
    }

    /// Returns how many keys it wrote.
    func run() throws -> Int {
        let shared = Mutex(Shared())
        let group = DispatchGroup()
        let files = manifest.chains.map { (dir as NSString).appendingPathComponent($0.file) }
        let (masters, credentials, token, tls) = (try m.address, try m.credentials, try m.token, try m.tls)
        let cutoff = cutoffMs
        for _ in 0..<min(parallel, files.count) {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do {
                    let client = try ClusterClient(masters: masters, retryBudgetMs: 30_000, credentials: credentials, token: token, tls: tls)
                    var writer = PipelinedWriter(client: client, credentials: credentials, tls: tls)
                    while true {
                        let i: Int? = shared.withLock { s in
                            guard s.failure == nil, s.next < files.count else { return nil }
                            s.next += 1
                            return s.next - 1
                        }
                        guard let i else { return }
                        let n = try Self.load(files[i], cutoffMs: cutoff, into: &writer)
                        shared.withLock { $0.written += n }
                    }
                } catch {
                    shared.withLock { s in if s.failure == nil { s.failure = "\(error)" } }
                }
            }
            thread.stackSize = 1 << 22
            thread.start()
        }
        group.wait()
        return try shared.withLock { s in
            if let f = s.failure { throw CtlError("restore stopped: \(f)") }
            return s.written
        }
    }

    /// One chain file: strings as `SET [PXAT]`, hashes as `HSET` runs, then their expiries.
    static func load(_ path: String, cutoffMs: UInt64, into writer: inout PipelinedWriter) throws -> Int {
        var live = LiveContent(nowMs: cutoffMs)
        var written = 0
        var hashExpiries: [([UInt8], UInt64)] = []
        var fieldRun: [[UInt8]] = []
        var runBytes = 0
        func endRun() throws {
            if !fieldRun.isEmpty { try writer.add(fieldRun) }
            fieldRun = []
            runBytes = 0
        }
        try BackupFiles.forEachRecord(path) { k, v in
            guard live.isLive(storeKey: k, value: v) else { return }
            if let key = KeyLayout.userKey(fromDataKey: k) {
                guard let value = StoredValue(raw: v) else {
                    throw CtlError("key '\(String(decoding: key.prefix(64), as: UTF8.self))' has a value in a format this chainctl does not know")
                }
                written += 1
                switch value.type {
                case .string:
                    var cmd: [[UInt8]] = [Array("SET".utf8), key, Array(value.payload)]
                    if let t = value.expiresAtMs { cmd += [Array("PXAT".utf8), Array(String(t).utf8)] }
                    try writer.add(cmd)
                case .hash:
                    if let t = value.expiresAtMs { hashExpiries.append((key, t)) }
                }
            } else if let (key, field) = KeyLayout.fieldParts(fromFieldKey: k) {
                if fieldRun.count >= 1001 || runBytes >= 1 << 20 || (!fieldRun.isEmpty && fieldRun[1] != key) { try endRun() }
                if fieldRun.isEmpty { fieldRun = [Array("HSET".utf8), key] }
                fieldRun += [field, v]
                runBytes += field.count + v.count
            }
        }
        try endRun()
        // A hash's expiry goes after all its fields are in.
        try writer.flushAll()
        for (key, t) in hashExpiries { try writer.add([Array("PEXPIREAT".utf8), key, Array(String(t).utf8)]) }
        try writer.flushAll()
        return written
    }
}

/// Commands pipelined per chain head (`RestoreLoader`).
struct PipelinedWriter {
    let client: ClusterClient
    let credentials: Credentials?
    let tls: TLSContext?
    private var connections: [NodeID: RESPClient] = [:]
    private var pending: [NodeID: (address: String, commands: [[[UInt8]]], bytes: Int)] = [:]
    static let maxCommands = 256
    static let maxBytes = 1 << 20

    init(client: ClusterClient, credentials: Credentials?, tls: TLSContext?) {
        self.client = client
        self.credentials = credentials
        self.tls = tls
    }

    mutating func add(_ command: [[UInt8]]) throws {
        guard let r = client.route(command), r.isWrite else { return try oneByOne([command]) }
        let size = command.reduce(0) { $0 + $1.count }
        pending[r.node, default: (r.address, [], 0)].commands.append(command)
        pending[r.node]!.bytes += size
        if pending[r.node]!.commands.count >= Self.maxCommands || pending[r.node]!.bytes >= Self.maxBytes { try flush(r.node) }
    }

    mutating func flushAll() throws {
        for node in pending.keys.sorted() { try flush(node) }
    }

    private mutating func flush(_ node: NodeID) throws {
        guard let batch = pending.removeValue(forKey: node), !batch.commands.isEmpty else { return }
        let replies: [RESPValue]
        do {
            let c: RESPClient
            if let open = connections[node], open.isOpen { c = open } else {
                guard let a = HostPort(batch.address) else { return try oneByOne(batch.commands) }
                c = try RESPClient(host: a.host, port: a.port, timeoutMs: 10_000, credentials: credentials, tls: tls)
                connections[node] = c
            }
            replies = try c.pipeline(batch.commands)
        } catch {
            connections[node]?.close()
            connections[node] = nil
            return try oneByOne(batch.commands)
        }
        for (i, reply) in replies.enumerated() {
            guard case let .error(e) = reply else { continue }
            if Self.isRouting(e) { return try oneByOne(Array(batch.commands[i...])) }
            throw Self.failure(batch.commands[i], e)
        }
    }

    /// Through the smart client, which retries and follows reconfigurations.
    private func oneByOne(_ commands: [[[UInt8]]]) throws {
        for c in commands {
            let reply: RESPValue
            do { reply = try client.execute(c) } catch { throw Self.failure(c, "\(error)") }
            if case let .error(e) = reply { throw Self.failure(c, e) }
        }
    }

    static func isRouting(_ e: String) -> Bool {
        e.hasPrefix("TRYAGAIN") || e.hasPrefix("MOVED") || e.hasPrefix("CLUSTERDOWN") || e.hasPrefix("ASK")
    }

    static func failure(_ command: [[UInt8]], _ e: String) -> CtlError {
        CtlError("\(String(decoding: command[0], as: UTF8.self)) '\(String(decoding: command[1].prefix(64), as: UTF8.self))': \(e)")
    }
}
