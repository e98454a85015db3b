import ArgumentParser
import ChainClient
import ChainCore
import Foundation

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

        let config = try m.configuration()
        let held = try RestoreCheck.tailDigests(m, config).values.reduce(ContentDigest()) { var d = $0; d.merge($1.content); return d }
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
/// (`/digests?live=1`) and its clock; the backup's records are summed per chain of the cluster's
/// layout, leaving out what had expired when the restore began or has by the tail's clock.
enum RestoreCheck {
    struct TailDigest {
        var node: NodeID
        var nowMs: UInt64
        var content: ContentDigest
    }

    private struct LiveDigests: Decodable {
        struct Chain: Decodable { var id: Int; var keys: Int; var digest: String }
        var now_ms: UInt64
        var chains: [Chain]
    }

    /// Each chain's digest at its tail.
    static func tailDigests(_ m: MasterOption, _ config: Configuration) throws -> [Int: TailDigest] {
        var byNode: [NodeID: LiveDigests] = [:]
        var out: [Int: TailDigest] = [:]
        for (i, chain) in config.chains.enumerated() {
            guard let tail = chain.tail, let node = config.node(tail), let a = HostPort(node.http) else {
                throw CtlError("chain \(i) has no tail in epoch \(config.epoch)")
            }
            if byNode[tail] == nil {
                let r: HTTPClient.Response
                do { r = try HTTPClient.get(host: a.host, port: a.port, path: "/digests?live=1", timeoutMs: 60_000, tls: try m.tls) } catch {
                    throw CtlError("cannot read \(tail)'s digests at \(node.http): \(error)")
                }
                guard r.status == 200, let d = try? JSONDecoder().decode(LiveDigests.self, from: Data(r.body)) else {
                    throw CtlError("\(tail) answered /digests with \(r.status): \(r.text.prefix(200))")
                }
                byNode[tail] = d
            }
            let d = byNode[tail]!
            guard let c = d.chains.first(where: { $0.id == i }), let digest = UInt64(c.digest, radix: 16) else {
                throw CtlError("\(tail) holds no chain \(i) yet")
            }
            out[i] = TailDigest(node: tail, nowMs: d.now_ms, content: ContentDigest(keys: c.keys, digest: digest))
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
            let config = try m.configuration()
            let tails = try tailDigests(m, config)
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
