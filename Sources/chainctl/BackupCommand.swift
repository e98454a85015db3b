import ArgumentParser
import ChainClient
import ChainCore
import ChainSecurity
import ChainVersion
import Foundation
import RESP

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy every chain's committed data into a new directory, each chain from one snapshot at its tail.",
        discussion: """
        Each chain is read with CS.BACKUP from a snapshot its tail takes when the copy starts: every write \
        the chain committed before that instant is in the file, none after. Chains are copied one after \
        another, so different chains are snapshots of different instants. Writes go on meanwhile. If a \
        chain's tail changes or its snapshot is dropped during the copy, that chain is copied again from \
        a new snapshot. The directory gets one file per chain and, last, manifest.json with each file's \
        SHA-256 and content digest; a directory without a manifest is an incomplete backup. On any \
        failure (a full disk, the directory removed, no tail for --timeout seconds) the files written \
        are removed and chainctl exits 1.
        """)

    @OptionGroup var m: MasterOption
    @Argument(help: "Directory to write (created; if it exists it must be empty).") var dir: String
    @Option(name: .customLong("max-rate"), help: "Read at most this many MB/s (0: as fast as the tails answer).") var maxRate: Double = 0
    @Option(help: "Give up on a chain after this many seconds without a serving tail.") var timeout: Double = 60
    @Flag(help: "Print the manifest as JSON.") var json = false

    func validate() throws {
        if maxRate < 0 { throw ValidationError("--max-rate must be 0 or more") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let existed = fm.fileExists(atPath: dir, isDirectory: &isDir)
        if existed {
            guard isDir.boolValue else { throw CtlError("\(dir) exists and is not a directory") }
            guard (try? fm.contentsOfDirectory(atPath: dir))?.isEmpty == true else {
                throw CtlError("\(dir) is not empty: a backup goes into a new or empty directory")
            }
        } else {
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw CtlError("cannot create \(dir): \(error.localizedDescription)")
            }
        }
        var created: [String] = []
        var done = false
        defer {
            if !done {
                for p in created { try? fm.removeItem(atPath: p) }
                if !existed { try? fm.removeItem(atPath: dir) }
            }
        }
        let start = Date()
        let config = try m.configuration()
        var files: [Int: OutputFile] = [:]
        for chain in 0..<config.chains.count {
            let path = (dir as NSString).appendingPathComponent(BackupFormat.chainFileName(chain))
            files[chain] = try OutputFile(creating: path)
            created.append(path)
        }
        let copier = ChainCopier(m: m, chainCount: config.chains.count, maxRate: maxRate, timeout: timeout)
        let chains = try copier.copyAll(into: files) { c in
            if !json {
                print("chain \(c.id): \(c.keys) keys, \(Self.megabytes(c.bytes)) from \(c.node) (epoch \(c.epoch), seq \(c.applied_seq))")
            }
        }
        let manifest = BackupManifest(chainstore_version: BuildInfo.version, epoch: config.epoch,
                                      started_at: ISO8601DateFormatter().string(from: start),
                                      finished_at: BackupFiles.timestamp(), chains: chains)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let temp = (dir as NSString).appendingPathComponent(BackupFormat.manifestName + ".tmp")
        let out = try OutputFile(creating: temp)
        created.append(temp)
        try out.write(Array(try enc.encode(manifest)) + [10])
        try out.finish()
        let final = (dir as NSString).appendingPathComponent(BackupFormat.manifestName)
        guard rename(temp, final) == 0 else { throw CtlError("renaming \(temp): \(String(cString: strerror(errno)))") }
        created.append(final)
        try BackupFiles.syncDirectory(dir)
        done = true
        let seconds = Date().timeIntervalSince(start)
        let bytes = chains.reduce(0) { $0 + $1.bytes }
        if json {
            try printJSON(manifest)
        } else {
            let rate = seconds > 0 ? Double(bytes) / 1e6 / seconds : 0
            print("backup of \(chains.count) chains: \(chains.reduce(0) { $0 + $1.keys }) keys, \(Self.megabytes(bytes)) in "
                  + String(format: "%.1f s (%.1f MB/s)", seconds, rate) + " -> \(dir)")
        }
    }

    static func megabytes(_ n: Int) -> String { String(format: "%.2f MB", Double(n) / 1e6) }
}

/// Copies every chain from a snapshot at its tail (`CS.BACKUP`): the chains one node tails share
/// one snapshot (opening it sorts the node's memtable once, not once per chain). A tail that
/// moves or goes away, or a dropped snapshot, sends the chains not yet copied back to the
/// master's current table, and the chain being copied starts again.
struct ChainCopier {
    let m: MasterOption
    let chainCount: Int
    let maxRate: Double
    let timeout: Double
    static let pageBytes = 1 << 20

    /// Why an attempt stopped in a way a new snapshot may cure.
    struct Retry: Error { var reason: String }

    func copyAll(into files: [Int: OutputFile], report: (BackupManifest.Chain) -> Void) throws -> [BackupManifest.Chain] {
        var done: [Int: BackupManifest.Chain] = [:]
        var pacer = Pacer(rateMBps: maxRate)
        var lastProgress = Date()
        var lastProblem = ""
        var restarts = 0
        while done.count < chainCount {
            do {
                try copyOneNode(files: files, done: &done, pacer: &pacer, progress: { lastProgress = Date() }, report: report)
            } catch let r as Retry {
                if r.reason != lastProblem {
                    FileHandle.standardError.write(Data("\(r.reason); trying again\n".utf8))
                    lastProblem = r.reason
                }
                restarts += 1
                guard Date().timeIntervalSince(lastProgress) < timeout, restarts <= 100 + 10 * chainCount else {
                    throw CtlError("no progress for \(Int(Date().timeIntervalSince(lastProgress))) s (\(restarts) attempts): \(r.reason)")
                }
                usleep(200_000)
            }
        }
        return (0..<chainCount).map { done[$0]! }
    }

    /// Opens one snapshot at the tail of the first chain not copied yet, for every such chain
    /// that node tails, and copies them.
    private func copyOneNode(files: [Int: OutputFile], done: inout [Int: BackupManifest.Chain], pacer: inout Pacer,
                             progress: () -> Void, report: (BackupManifest.Chain) -> Void) throws {
        let config: Configuration
        do { config = try m.configuration() } catch { throw Retry(reason: "\(error)") }
        guard config.chains.count == chainCount else {
            throw CtlError("the cluster now has \(config.chains.count) chains, not \(chainCount): run the backup again")
        }
        let pending = (0..<chainCount).filter { done[$0] == nil }
        guard let tail = config.chains[pending[0]].tail, let node = config.node(tail), let address = HostPort(node.client) else {
            throw Retry(reason: "chain \(pending[0]) has no tail in epoch \(config.epoch)")
        }
        let chains = pending.filter { config.chains[$0].tail == tail }
        let (credentials, tls) = (try m.credentials, try m.tls)
        let client: RESPClient
        do { client = try RESPClient(host: address.host, port: address.port, timeoutMs: 10_000, credentials: credentials, tls: tls) } catch {
            if case .auth = error { throw CtlError("\(tail): \(error)") }
            throw Retry(reason: "\(tail): \(error)")
        }
        defer { client.close() }
        let opened = try call(client, tail, (["CS.BACKUP", "OPEN"] + chains.map(String.init)).map { Array($0.utf8) })
        guard case let .array(parts?) = opened, parts.count == 5, case let .bulk(id?) = parts[0], case let .integer(epoch) = parts[1],
              case let .integer(taken) = parts[2], case let .array(positions?) = parts[4] else {
            throw CtlError("\(tail) answered CS.BACKUP OPEN with \(opened)")
        }
        var applied: [Int: (seq: UInt64, epoch: UInt64)] = [:]
        for p in positions {
            guard case let .array(x?) = p, x.count == 3, case let .integer(c) = x[0], case let .integer(s) = x[1], case let .integer(e) = x[2] else {
                throw CtlError("\(tail) answered CS.BACKUP OPEN with \(opened)")
            }
            applied[Int(c)] = (UInt64(s), UInt64(e))
        }
        for chain in chains {
            guard let position = applied[chain] else { throw CtlError("\(tail) opened no snapshot of chain \(chain)") }
            let copy = try copyChain(chain, client: client, node: tail, id: id, file: files[chain]!, pacer: &pacer, progress: progress)
            let entry = BackupManifest.Chain(id: chain, file: BackupFormat.chainFileName(chain), node: tail, epoch: UInt64(epoch),
                                             applied_seq: position.seq, applied_epoch: position.epoch, taken_at_ms: UInt64(taken),
                                             keys: copy.content.keys, records: copy.records, bytes: copy.bytes, sha256: copy.sha256,
                                             digest: copy.content.digestHex)
            done[chain] = entry
            report(entry)
        }
        _ = try? client.call([Array("CS.BACKUP".utf8), Array("CLOSE".utf8), id])
    }

    private func copyChain(_ chain: Int, client: RESPClient, node: NodeID, id: [UInt8], file: OutputFile, pacer: inout Pacer,
                           progress: () -> Void) throws -> (content: ContentDigest, records: Int, bytes: Int, sha256: String) {
        try file.reset()
        try file.write(BackupFormat.magic)
        let hasher = SHA256Hasher()
        hasher.update(BackupFormat.magic)
        var reader = BackupFormat.RecordReader()
        reader.feed(BackupFormat.magic)
        var content = ContentDigest()
        var records = 0
        var bytes = BackupFormat.magic.count
        let slots = Configuration.slots(of: chain, chainCount: chainCount)
        var cursor: [UInt8] = []
        repeat {
            let reply = try call(client, node, [Array("CS.BACKUP".utf8), Array("READ".utf8), id, Array(String(chain).utf8), cursor,
                                                Array(String(Self.pageBytes).utf8)])
            guard case let .array(page?) = reply, page.count == 2, case let .bulk(next?) = page[0], case let .bulk(blob?) = page[1] else {
                throw CtlError("\(node) answered CS.BACKUP READ with \(reply)")
            }
            reader.feed(blob)
            do {
                while let r = try reader.next() {
                    guard let slot = KeyLayout.slot(ofSlotKey: r.key), slots.contains(slot) else {
                        throw CtlError("\(node) sent a key of slot \(KeyLayout.slot(ofSlotKey: r.key) ?? -1), outside chain \(chain)")
                    }
                    content.add(storeKey: r.key, value: r.value)
                    records += 1
                }
            } catch let e as BackupFormat.ReadError {
                throw CtlError("\(node) sent a malformed page: \(e)")
            }
            try file.write(blob)
            hasher.update(blob)
            bytes += blob.count
            cursor = next
            progress()
            pacer.took(blob.count)
        } while !cursor.isEmpty
        do { try reader.finish() } catch { throw CtlError("\(node) ended chain \(chain) inside a record") }
        try file.finish()
        return (content, records, bytes, hasher.finishHex())
    }

    /// One call; connection trouble and the answers that mean "not here, not now" are `Retry`.
    private func call(_ client: RESPClient, _ node: NodeID, _ args: [[UInt8]]) throws -> RESPValue {
        let reply: RESPValue
        do { reply = try client.call(args) } catch { throw Retry(reason: "\(node): \(error)") }
        if case let .error(e) = reply {
            if e.hasPrefix("TRYAGAIN") || e.hasPrefix("CLUSTERDOWN") || e.hasPrefix("ERR no backup snapshot") || e.hasPrefix("LOADING") {
                throw Retry(reason: "\(node): \(e)")
            }
            throw CtlError("\(node): \(e)")
        }
        return reply
    }
}

/// Keeps a copy under `rateMBps` (0: no limit) by sleeping once the bytes so far are ahead.
struct Pacer {
    let rateMBps: Double
    private let began = Date()
    private var bytes = 0

    init(rateMBps: Double) { self.rateMBps = rateMBps }

    mutating func took(_ n: Int) {
        bytes += n
        guard rateMBps > 0 else { return }
        let due = Double(bytes) / (rateMBps * 1e6) - Date().timeIntervalSince(began)
        if due > 0 { usleep(UInt32(min(due, 10) * 1e6)) }
    }
}
