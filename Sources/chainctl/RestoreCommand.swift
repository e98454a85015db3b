import ArgumentParser
import ChainClient
import ChainCore
import Foundation
import RESP

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Check a backup, load it into an empty cluster, and compare the cluster with it.",
        discussion: """
        First every file of the backup is checked against its manifest (size, SHA-256, key count, \
        content digest); a corrupt or incomplete backup is refused before anything is written. Then the \
        cluster must hold no keys. The keys are written through the chains' heads like any client's \
        (SET … PXAT, HSET, PEXPIREAT), so the target may have another number of chains or nodes. Keys \
        whose expiry has passed are not written. Last, every chain's tail is asked for its key count and \
        digest, and they must equal what the backup holds (less what has expired since).
        """)

    @OptionGroup var m: MasterOption
    @Argument(help: "Backup directory (written by chainctl backup).") var dir: String
    @Flag(name: .customLong("check-only"), help: "Only check the backup's files; write nothing.") var checkOnly = false
    @Option(help: "Connections writing at once.") var parallel = 4
    @Option(help: "Seconds to wait for the restored cluster to match the backup.") var timeout: Double = 30

    func validate() throws {
        if !(1...64).contains(parallel) { throw ValidationError("--parallel must be 1-64") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let manifest = try BackupCheck.manifest(in: dir)
        let keys = try BackupCheck.verify(manifest, in: dir)
        print("backup \(dir): \(manifest.chains.count) chains, \(keys) keys, taken at epoch \(manifest.epoch) (\(manifest.started_at)); every file matches its manifest")
        if checkOnly { return }

        let held = try RestoreCheck.tailDigests(m, timeout: timeout).1.values.reduce(ContentDigest()) { var d = $0; d.merge($1.content); return d }
        guard held.keys == 0 && held.digest == 0 else {
            throw CtlError("the cluster is not empty (it holds \(held.keys) keys): restore loads only into an empty cluster; FLUSHALL it or start a new one")
        }
        let cutoffMs = BackupFiles.now()
        let start = Date()
        let written = try RestoreLoader(m: m, dir: dir, manifest: manifest, cutoffMs: cutoffMs, parallel: parallel).run()
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "wrote %d keys in %.1f s (%.0f keys/s)", written, seconds, seconds > 0 ? Double(written) / seconds : 0))
        try RestoreCheck.waitForMatch(m, dir: dir, manifest: manifest, cutoffMs: cutoffMs, timeout: timeout)
    }
}

/// Compares a cluster with a backup: each chain's tail reports its live keys and digest
/// (`CS.DIGEST LIVE`, over the client port with the data commands' credentials and TLS) and its
/// clock; the backup's records are summed per chain of the cluster's layout, leaving out what had
/// expired when the restore began or has by the tail's clock.
enum RestoreCheck {
    struct TailDigest {
        var node: NodeID
        var nowMs: UInt64
        var content: ContentDigest
    }

    /// Each chain's live content at its tail; tries again (a new configuration, a tail not yet
    /// serving) until `timeout` seconds have passed.
    static func tailDigests(_ m: MasterOption, timeout: Double) throws -> (Configuration, [Int: TailDigest]) {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                let config = try m.configuration()
                return (config, try tailDigests(m, config))
            } catch let e as CtlError {
                guard Date() < deadline else { throw e }
                usleep(300_000)
            }
        }
    }

    private static func tailDigests(_ m: MasterOption, _ config: Configuration) throws -> [Int: TailDigest] {
        var byTail: [NodeID: [Int]] = [:]
        for (i, chain) in config.chains.enumerated() {
            guard let tail = chain.tail else { throw CtlError("chain \(i) has no tail in epoch \(config.epoch)") }
            byTail[tail, default: []].append(i)
        }
        let (credentials, tls) = (try m.credentials, try m.tls)
        var out: [Int: TailDigest] = [:]
        for (tail, chains) in byTail {
            guard let node = config.node(tail), let a = HostPort(node.client) else { throw CtlError("no address for \(tail)") }
            let reply: RESPValue
            do {
                let c = try RESPClient(host: a.host, port: a.port, timeoutMs: 60_000, credentials: credentials, tls: tls)
                defer { c.close() }
                reply = try c.call((["CS.DIGEST", "LIVE"] + chains.map(String.init)).map { Array($0.utf8) })
            } catch {
                throw CtlError("cannot read \(tail)'s digests: \(error)")
            }
            if case let .error(e) = reply { throw CtlError("\(tail): \(e)") }
            guard case let .array(rows?) = reply, rows.count == chains.count else { throw CtlError("\(tail) answered CS.DIGEST with \(reply)") }
            for row in rows {
                guard case let .array(x?) = row, x.count == 4, case let .integer(chain) = x[0], case let .integer(keys) = x[1],
                      case let .bulk(hex?) = x[2], let digest = UInt64(String(decoding: hex, as: UTF8.self), radix: 16),
                      case let .integer(now) = x[3] else { throw CtlError("\(tail) answered CS.DIGEST with \(reply)") }
                out[Int(chain)] = TailDigest(node: tail, nowMs: UInt64(now), content: ContentDigest(keys: Int(keys), digest: digest))
            }
        }
        return out
    }

    /// What each chain of a `chainCount`-chain cluster should hold of the backup, reading at the
    /// given clocks.
    static func expected(dir: String, manifest: BackupManifest, chainCount: Int, cutoffMs: UInt64, nowMs: [Int: UInt64]) throws -> [Int: ContentDigest] {
        var sums: [Int: ContentDigest] = [:]
        for c in manifest.chains {
            var filters: [Int: LiveContent] = [:]
            try BackupFiles.forEachRecord((dir as NSString).appendingPathComponent(c.file)) { k, v in
                guard let slot = KeyLayout.slot(ofSlotKey: k) else { return }
                let chain = slot * chainCount / HashSlot.count
                let at = max(cutoffMs, nowMs[chain] ?? 0)
                guard filters[chain, default: LiveContent(nowMs: at)].isLive(storeKey: k, value: v) else { return }
                sums[chain, default: ContentDigest()].add(storeKey: k, value: v)
            }
        }
        return sums
    }

    static func waitForMatch(_ m: MasterOption, dir: String, manifest: BackupManifest, cutoffMs: UInt64, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var problem = ""
        repeat {
            let (config, tails) = try tailDigests(m, timeout: max(1, deadline.timeIntervalSinceNow))
            let want = try expected(dir: dir, manifest: manifest, chainCount: config.chains.count, cutoffMs: cutoffMs,
                                    nowMs: tails.mapValues(\.nowMs))
            let wrong = tails.keys.sorted().filter { tails[$0]!.content != (want[$0] ?? ContentDigest()) }
            if wrong.isEmpty {
                let total = tails.values.reduce(0) { $0 + $1.content.keys }
                print("restored cluster matches the backup: \(total) keys in \(config.chains.count) chains, every chain's key count and digest equal")
                return
            }
            let c = wrong[0]
            let have = tails[c]!.content, should = want[c] ?? ContentDigest()
            problem = "chain \(c) at \(tails[c]!.node) holds \(have.keys) keys (digest \(have.digestHex)), the backup gives \(should.keys) (digest \(should.digestHex))"
                + (wrong.count > 1 ? "; \(wrong.count - 1) more chains differ" : "")
            usleep(500_000)
        } while Date() < deadline
        throw CtlError("restore check failed: \(problem)")
    }
}
