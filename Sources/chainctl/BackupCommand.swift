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
        let copier = ChainCopier(m: m, chainCount: config.chains.count, maxRate: maxRate, timeout: timeout)
        var chains: [BackupManifest.Chain] = []
        for chain in 0..<config.chains.count {
            let path = (dir as NSString).appendingPathComponent(BackupFormat.chainFileName(chain))
            let file = try OutputFile(creating: path)
            created.append(path)
            let c = try copier.copy(chain: chain, into: file)
            chains.append(c)
            if !json {
                print("chain \(chain): \(c.keys) keys, \(Self.megabytes(c.bytes)) from \(c.node) (epoch \(c.epoch), seq \(c.applied_seq))")
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

/// Copies one chain from its tail's snapshot (`CS.BACKUP`), starting over on a new snapshot when
/// the tail moves, goes away or drops the snapshot.
struct ChainCopier {
    let m: MasterOption
    let chainCount: Int
    let maxRate: Double
    let timeout: Double
    static let pageBytes = 1 << 20

    /// Why an attempt stopped in a way a new snapshot may cure.
    struct Retry: Error { var reason: String }

    func copy(chain: Int, into file: OutputFile) throws -> BackupManifest.Chain {
        var deadline = Date().addingTimeInterval(timeout)
        var lastProblem = ""
        var restarts = 0
        while true {
            do {
                return try attempt(chain: chain, into: file)
            } catch let r as Retry {
                if r.reason != lastProblem {
                    FileHandle.standardError.write(Data("chain \(chain): \(r.reason); starting the chain again\n".utf8))
                    lastProblem = r.reason
                }
                guard Date() < deadline else {
                    throw CtlError("chain \(chain): no complete copy within \(Int(timeout)) s: \(r.reason)")
                }
                usleep(200_000)
            } catch let progress as Progress {
                // Bytes arrived before the snapshot went: the tail is alive, keep trying longer.
                restarts += 1
                guard restarts <= 10 else { throw CtlError("chain \(chain): the copy broke off \(restarts) times: \(progress.reason)") }
                deadline = Date().addingTimeInterval(timeout)
                lastProblem = progress.reason
                FileHandle.standardError.write(Data("chain \(chain): \(progress.reason); starting the chain again\n".utf8))
            }
        }
    }

    /// A copy that had made progress when it broke off.
    struct Progress: Error { var reason: String }

    private func attempt(chain: Int, into file: OutputFile) throws -> BackupManifest.Chain {
        let config = try m.configuration()
        guard config.chains.count == chainCount else {
            throw CtlError("the cluster now has \(config.chains.count) chains, not \(chainCount): run the backup again")
        }
        guard let tail = config.chains[chain].tail, let node = config.node(tail), let address = HostPort(node.client) else {
            throw Retry(reason: "no tail in epoch \(config.epoch)")
        }
        let (credentials, tls) = (try m.credentials, try m.tls)
        let client: RESPClient
        do { client = try RESPClient(host: address.host, port: address.port, timeoutMs: 10_000, credentials: credentials, tls: tls) } catch {
            if case .auth = error { throw CtlError("\(tail): \(error)") }
            throw Retry(reason: "\(tail): \(error)")
        }
        defer { client.close() }
        let opened = try call(client, tail, ["CS.BACKUP", "OPEN", String(chain)])
        guard case let .array(parts?) = opened, parts.count == 6, case let .bulk(idBytes?) = parts[0], case let .integer(epoch) = parts[1],
              case let .integer(seq) = parts[2], case let .integer(seqEpoch) = parts[3], case let .integer(taken) = parts[4] else {
            throw CtlError("\(tail) answered CS.BACKUP OPEN with \(opened)")
        }
        let id = String(decoding: idBytes, as: UTF8.self)
        try file.reset()
        try file.write(BackupFormat.magic)
        let hasher = SHA256Hasher()
        hasher.update(BackupFormat.magic)
        var reader = BackupFormat.RecordReader()
        reader.feed(BackupFormat.magic)
        var content = ContentDigest()
        var records = 0
        var bytes = BackupFormat.magic.count
        let began = Date()
        var cursor: [UInt8] = []
        repeat {
            let reply: RESPValue
            do { reply = try call(client, tail, [Array("CS.BACKUP".utf8), Array("READ".utf8), idBytes, cursor, Array(String(Self.pageBytes).utf8)]) } catch let r as Retry {
                throw bytes > BackupFormat.magic.count ? Progress(reason: r.reason) : r
            }
            guard case let .array(page?) = reply, page.count == 2, case let .bulk(next?) = page[0], case let .bulk(blob?) = page[1] else {
                throw CtlError("\(tail) answered CS.BACKUP READ with \(reply)")
            }
            reader.feed(blob)
            do {
                while let r = try reader.next() {
                    guard let slot = KeyLayout.slot(ofSlotKey: r.key), Configuration.slots(of: chain, chainCount: chainCount).contains(slot) else {
                        throw CtlError("\(tail) sent a key of slot \(KeyLayout.slot(ofSlotKey: r.key) ?? -1), outside chain \(chain)")
                    }
                    content.add(storeKey: r.key, value: r.value)
                    records += 1
                }
            } catch let e as BackupFormat.ReadError {
                throw CtlError("\(tail) sent a malformed page: \(e)")
            }
            try file.write(blob)
            hasher.update(blob)
            bytes += blob.count
            cursor = next
            if maxRate > 0 {
                // Sleep until the bytes so far fit under the rate.
                let due = Double(bytes) / (maxRate * 1e6) - Date().timeIntervalSince(began)
                if due > 0 { usleep(UInt32(min(due, 10) * 1e6)) }
            }
        } while !cursor.isEmpty
        do { try reader.finish() } catch { throw CtlError("\(tail) ended chain \(chain) inside a record") }
        _ = try? client.call("CS.BACKUP", "CLOSE", id)
        try file.finish()
        return BackupManifest.Chain(id: chain, file: BackupFormat.chainFileName(chain), node: tail, epoch: UInt64(epoch),
                                    applied_seq: UInt64(seq), applied_epoch: UInt64(seqEpoch), taken_at_ms: UInt64(taken),
                                    keys: content.keys, records: records, bytes: bytes, sha256: hasher.finishHex(),
                                    digest: content.digestHex)
    }

    /// One call; connection trouble and the answers that mean "not here, not now" are `Retry`.
    private func call(_ client: RESPClient, _ node: NodeID, _ args: [String]) throws -> RESPValue {
        try call(client, node, args.map { Array($0.utf8) })
    }

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
